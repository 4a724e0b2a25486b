"""Both of Cinder's attach APIs: attachments (3.27+, connector at 3.44) and the
legacy volume actions (os-reserve, os-initialize_connection, os-attach, ...)."""

import uuid

from blockflow.cloud.store import utc_stamp
from blockflow.cloud.volumes import CinderError
from blockflow.cloud.volumes import not_found


class Attachments:
    def __init__(self, cinder):
        self.cinder = cinder
        self.store = cinder.store

    def _volume(self, project_id, volume_id):
        return self.cinder.get_volume(project_id, volume_id)

    def get(self, project_id, attachment_id):
        attachment = self.store.get('attachments', attachment_id)
        if attachment is None or attachment['project_id'] != project_id:
            raise not_found('VolumeAttachment', attachment_id)
        return attachment

    def list(self, project_id, filters):
        result = []
        for attachment in self.store.list(
                'attachments', where=lambda a: a['project_id'] == project_id):
            if attachment['project_id'] != project_id:
                continue
            if filters.get('volume_id') and attachment['volume_id'] != filters['volume_id']:
                continue
            if filters.get('instance_id') and \
                    attachment['instance'] != filters['instance_id']:
                continue
            result.append(attachment)
        return result

    def _refresh_volume(self, volume_id):
        """Volume status and attachment list follow its attachments."""
        with self.store.lock:
            volume = self.store.get('volumes', volume_id)
            mine = self.store.list('attachments', where=lambda a: a['volume_id'] == volume_id)
            statuses = {a['attach_status'] for a in mine}
            if 'attached' in statuses:
                status, attach_status = 'in-use', 'attached'
            elif 'attaching' in statuses:
                status, attach_status = 'attaching', 'attaching'
            elif 'reserved' in statuses:
                status, attach_status = 'reserved', 'reserved'
            else:
                status, attach_status = 'available', 'detached'
            if volume['status'] in ('in-use', 'reserved', 'attaching', 'available',
                                    'detaching'):
                volume['status'] = status
            volume['attach_status'] = attach_status
            volume['attachments'] = [
                {'id': a['id'], 'attachment_id': a['id'], 'volume_id': volume_id,
                 'server_id': a['instance'], 'host_name': None,
                 'device': a.get('mountpoint'), 'attached_at': a.get('attach_time')}
                for a in mine if a['attach_status'] == 'attached']
            volume['updated_at'] = utc_stamp()
            self.store.put('volumes', volume)

    def create(self, project_id, spec):
        volume = self._volume(project_id, spec.get('volume_uuid'))
        if not spec.get('instance_uuid'):
            raise CinderError(400, 'Invalid input received: instance_uuid is required')
        with self.store.lock:
            others = self.store.list('attachments',
                                     where=lambda a: a['volume_id'] == volume['id'])
            allowed = ('available', 'downloading') if not volume['multiattach'] else \
                ('available', 'in-use', 'downloading', 'reserved')
            # As Cinder, a non-multiattach volume takes a second attachment of the
            # same instance (Nova's live migration), never one of another.
            same_instance = any(a['instance'] == spec['instance_uuid'] for a in others)
            if others and same_instance and volume['status'] in ('in-use', 'reserved'):
                allowed = (volume['status'],)
            if volume['status'] not in allowed or (others and not volume['multiattach']
                                                   and not same_instance):
                raise CinderError(400, f"Invalid volume: Volume {volume['id']} status must "
                                  f"be {' or '.join(allowed)} to reserve, but the current "
                                  f"status is {volume['status']}.")
            connector = spec.get('connector')
            attachment = {
                'id': str(uuid.uuid4()), 'volume_id': volume['id'],
                'instance': spec['instance_uuid'], 'project_id': project_id,
                'attach_status': 'attaching' if connector else 'reserved',
                'attach_mode': spec.get('mode') or 'rw', 'connector': connector,
                'connection_info': (self.cinder.connection_info(volume, connector)
                                    if connector else {}),
                'mountpoint': None, 'attach_time': None, 'detach_time': None}
            self.store.put('attachments', attachment)
            self._refresh_volume(volume['id'])
        return attachment

    def update(self, project_id, attachment_id, spec):
        attachment = self.get(project_id, attachment_id)
        connector = spec.get('connector')
        if not isinstance(connector, dict):
            raise CinderError(400, 'Invalid input received: Connector is required')
        volume = self._volume(project_id, attachment['volume_id'])
        attachment.update(connector=connector, attach_status='attaching',
                          mountpoint=connector.get('mountpoint'),
                          connection_info=self.cinder.connection_info(volume, connector))
        self.store.put('attachments', attachment)
        self._refresh_volume(volume['id'])
        return attachment

    def complete(self, project_id, attachment_id):
        attachment = self.get(project_id, attachment_id)
        if attachment['attach_status'] not in ('attaching', 'attached'):
            raise CinderError(400, 'Invalid attachment: attachment must be updated '
                              'with a connector before it is completed.')
        attachment.update(attach_status='attached', attach_time=utc_stamp())
        self.store.put('attachments', attachment)
        self._refresh_volume(attachment['volume_id'])

    def delete(self, project_id, attachment_id, is_service):
        attachment = self.get(project_id, attachment_id)
        if attachment.get('instance') and attachment.get('connection_info') and \
                not is_service:
            # Real Cinder asks Nova about a connected attachment (one with
            # connection_info) unless the caller is a service; with no Nova
            # endpoint that is a 500 (see platform-facts.md).
            raise CinderError(500, 'The server has either erred or is incapable of '
                              'performing the requested operation.')
        self.store.delete('attachments', attachment_id)
        self._refresh_volume(attachment['volume_id'])

    # --- legacy actions ------------------------------------------------------
    def action(self, project_id, volume_id, name, body):
        volume = self._volume(project_id, volume_id)
        handler = getattr(self, '_' + name.replace('os-', '').replace('-', '_'), None)
        if handler is None:
            raise CinderError(400, f'There is no such action: {name}')
        return handler(volume, body if isinstance(body, dict) else {})

    def _reserve(self, volume, body):
        if volume['status'] not in ('available',) and not volume['multiattach']:
            raise CinderError(400, 'Invalid volume: Volume status must be available to '
                              f"reserve, but the status is {volume['status']}.")
        self.cinder.set_status(volume['id'], 'attaching')

    def _unreserve(self, volume, body):
        if volume['status'] == 'attaching':
            self.cinder.set_status(volume['id'], 'available')

    def _initialize_connection(self, volume, body):
        connector = body.get('connector')
        if not isinstance(connector, dict):
            raise CinderError(400, 'Must specify a connector')
        return {'connection_info': self.cinder.connection_info(volume, connector)}

    def _terminate_connection(self, volume, body):
        if not isinstance(body.get('connector'), dict):
            raise CinderError(400, 'Must specify a connector')

    def _attach(self, volume, body):
        if not body.get('instance_uuid'):
            raise CinderError(400, 'Invalid request to attach volume to an invalid target')
        if volume['status'] not in ('attaching', 'available', 'in-use', 'reserved'):
            raise CinderError(400, f"Invalid volume: status must be attaching, is "
                              f"{volume['status']}")
        attachment = {'id': str(uuid.uuid4()), 'volume_id': volume['id'],
                      'instance': body['instance_uuid'], 'project_id': volume['project_id'],
                      'attach_status': 'attached', 'attach_mode': body.get('mode', 'rw'),
                      'connector': None, 'connection_info': {}, 'legacy': True,
                      'mountpoint': body.get('mountpoint'), 'attach_time': utc_stamp(),
                      'detach_time': None}
        self.store.put('attachments', attachment)
        self._refresh_volume(volume['id'])

    def _begin_detaching(self, volume, body):
        self.cinder.set_status(volume['id'], 'detaching')

    def _roll_detaching(self, volume, body):
        if volume['status'] == 'detaching':
            self.cinder.set_status(volume['id'], 'in-use')

    def _detach(self, volume, body):
        wanted = body.get('attachment_id')
        for attachment in self.store.list('attachments'):
            if attachment['volume_id'] == volume['id'] and \
                    (wanted in (None, attachment['id'])):
                self.store.delete('attachments', attachment['id'])
        if volume['status'] in ('detaching', 'in-use'):
            self.cinder.set_status(volume['id'], 'available')
        self._refresh_volume(volume['id'])

    def _extend(self, volume, body):
        new_size = body.get('new_size')
        if not isinstance(new_size, int) or new_size <= volume['size']:
            raise CinderError(400, 'Invalid input received: New size for extend must be '
                              'greater than current size.')
        if volume['status'] != 'available':
            raise CinderError(400, 'Invalid volume: Volume status must be available to '
                              'extend.')
        self.store.update('volumes', volume['id'], size=new_size)
