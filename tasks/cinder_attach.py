"""Tasks that attach a volume through Cinder: attachments API (3.44+) or legacy.

reserve → initialize connection (connector from os-brick) → mark attached,
each undone by its revert. Attachment deletes go with the service role, as
Nova's do; Cinder refuses a plain user's delete of an attached attachment.

Every undo finds what the step may have made by identity, never only by the
saved result: the instance's attachments on the volume (Cinder lists them by
instance_id), or for the legacy API the volume's status and attachments. So
an answer lost after Cinder acted leaves nothing reserved or attached.
"""

import contextlib

from cinderclient import exceptions as cinder_exc

from blockflow.clients.hypervisor import connectors
from blockflow.clients import volume_poller
from blockflow import exceptions
from blockflow import secrets
from tasks.base import BlockflowTask
from tasks.base import undo_call
from tasks import retrying

ATTACHMENTS = 'attachments'
LEGACY = 'legacy'
ATTACH_VERSION = '3.44'
LEGACY_VERSION = '3.0'
LEGACY_HANDLE = 'legacy'


def _cinder(clients, attach_api, service=False, once=False):
    version = ATTACH_VERSION if attach_api == ATTACHMENTS else LEGACY_VERSION
    return clients.cinder(version, service=service, once=once)


def instance_attachments(clients, instance_uuid, volume_id=None):
    """This instance's attachments (on one volume, if given), as Cinder lists them."""
    search = {'instance_id': instance_uuid}
    if volume_id:
        search['volume_id'] = volume_id
    return [a for a in _cinder(clients, ATTACHMENTS).attachments.list(search_opts=search)
            if getattr(a, 'instance', None) == instance_uuid
            and (not volume_id or a.volume_id == volume_id)]


def _legacy_volume(clients, volume_id):
    try:
        return undo_call('volume.get', 'volume', volume_id,
                         _cinder(clients, LEGACY).volumes.get, volume_id)
    except cinder_exc.NotFound:
        return None


def _legacy_attachment_ids(volume, instance_uuid):
    return [a.get('attachment_id') or a.get('id') for a in (volume.attachments or [])
            if a.get('server_id') == instance_uuid]


# --- undo functions (boot reverts and the delete flow share them) ------------------

def delete_attachments(clients, instance_uuid, volume_id=None):
    """Attachments API: delete (as a service) every attachment of the instance
    on the volume, or on any volume when none is given."""
    found = undo_call('attachment.list', 'attachment', None, instance_attachments,
                      clients, instance_uuid, volume_id)
    service = _cinder(clients, ATTACHMENTS, service=True)
    for attachment in found:
        try:
            undo_call('attachment.delete', 'attachment', attachment.id,
                      service.attachments.delete, attachment.id)
        except cinder_exc.NotFound:
            pass


def legacy_detach(clients, instance_uuid, volume_id):
    """Legacy API: os-detach each attachment the volume shows for the instance."""
    volume = _legacy_volume(clients, volume_id)
    if volume is None:
        return
    for attachment_id in _legacy_attachment_ids(volume, instance_uuid):
        try:
            undo_call('volume.action.os-detach', 'volume', volume_id,
                      _cinder(clients, LEGACY).volumes.detach, volume_id, attachment_id)
        except cinder_exc.NotFound:
            return


def legacy_terminate(clients, volume_id):
    """Legacy API: os-terminate_connection for this host (harmless when not connected)."""
    try:
        undo_call('volume.action.os-terminate_connection', 'volume', volume_id,
                  _cinder(clients, LEGACY).volumes.terminate_connection, volume_id,
                  connectors.connector_properties())
    except cinder_exc.NotFound:
        pass


def legacy_unreserve(clients, instance_uuid, volume_id):
    """Legacy API: os-unreserve a volume left 'attaching' with no attachment of ours."""
    volume = _legacy_volume(clients, volume_id)
    if volume is None or volume.status != 'attaching' or \
            _legacy_attachment_ids(volume, instance_uuid):
        return
    try:
        undo_call('volume.action.os-unreserve', 'volume', volume_id,
                  _cinder(clients, LEGACY).volumes.unreserve, volume_id)
    except cinder_exc.NotFound:
        pass


def release_volume(clients, attach_api, instance_uuid, volume_id):
    """Every attach step of the instance on the volume undone, last step first."""
    if attach_api == ATTACHMENTS:
        delete_attachments(clients, instance_uuid, volume_id)
        return
    legacy_detach(clients, instance_uuid, volume_id)
    legacy_terminate(clients, volume_id)
    legacy_unreserve(clients, instance_uuid, volume_id)


class _AttachTask(BlockflowTask):
    def __init__(self, attach_api=ATTACHMENTS, **kwargs):
        super().__init__(**kwargs)
        self.attach_api = attach_api

    def cinder(self, service=False, once=False):
        return _cinder(self.clients, self.attach_api, service=service, once=once)

    def _mine(self, instance_uuid, volume_id):
        """Attachments of this instance on the volume (idempotency after a crash)."""
        return instance_attachments(self.clients, instance_uuid, volume_id)

    def undo(self, name, device, **args):
        self.run_undo(name, device['device_name'], **args)


def host_connector(device):
    """What Cinder is told about this host for the device (os-brick's properties)."""
    connector = dict(connectors.connector_properties())
    if device.get('device_name'):
        connector['mountpoint'] = device['device_name']
    return connector


def _export_guard(volume):
    """os-brick's lock for shared iSCSI targets (bug 1800515), per backend service.

    From 3.69 Cinder may say shared_targets None ("always lock"); a volume
    with no service_uuid has no backend to share targets with: no lock.
    """
    volume = volume or {}
    if not volume.get('service_uuid'):
        return contextlib.nullcontext()
    from os_brick.initiator import utils as brick_utils     # a third of a second: only here
    return brick_utils.guard_connection({'shared_targets': volume.get('shared_targets', False),
                                         'service_uuid': volume['service_uuid']})


def _storable_connection(info, volume_id, volume):
    info = dict(info)
    info['serial'] = volume_id
    if (volume or {}).get('multiattach'):
        # As Nova does: the disk is then marked <shareable/> for libvirt.
        info['multiattach'] = True
    return secrets.for_storage(info)


class ReserveVolume(_AttachTask):
    """Reserve the volume for the instance, after Nova's availability-zone check
    when the plan pins the zone (cross_az_attach = False). With the
    attachments API the host connector goes into the attachment create, so
    Cinder exports the volume in the same call; provides (attachment id,
    connection_info with secrets stripped, or None when not exported here).
    Reversion strategy: delete the instance's attachments on the volume (as a
    service) / os-unreserve, found by identity."""

    def execute(self, instance_uuid, device, volume_id, volume=None):
        if volume is None and (self.attach_api == ATTACHMENTS
                               or device.get('availability_zone')):
            volume = self._volume_facts(volume_id)
        self._check_availability_zone(instance_uuid, device, volume_id, volume)
        if self.attach_api == LEGACY:
            return self._legacy_reserve(volume_id), None

        def find():
            # Found after a lost answer or a crash: InitializeConnection exports it.
            mine = self._mine(instance_uuid, volume_id)
            return (mine[0].id, None) if mine else None

        def create():
            with _export_guard(volume):
                made = self.cinder(once=True).attachments.create(
                    volume_id, host_connector(device), instance_uuid)
            info = made.get('connection_info')
            return made['id'], (_storable_connection(info, volume_id, volume)
                                if info else None)

        return retrying.create_once('attachment.create', find, create,
                                    look_first=not self.take_unstarted())

    def _volume_facts(self, volume_id):
        return volume_poller.volume_facts(
            retrying.call('volume.get', self.cinder().volumes.get, volume_id))

    def _legacy_reserve(self, volume_id):
        # os-reserve leaves no record of who reserved: 'attaching' after a
        # failed call means our reservation went through.
        def attempt():
            volume = self.cinder().volumes.get(volume_id)
            if volume.status == 'available':
                self.cinder(once=True).volumes.reserve(volume_id)
            return LEGACY_HANDLE
        return retrying.retrying('volume.action.os-reserve')(attempt)

    def _check_availability_zone(self, instance_uuid, device, volume_id, volume):
        zone = device.get('availability_zone')
        if not zone:
            return
        volume_zone = (volume or {}).get('availability_zone')
        if volume_zone != zone:
            raise exceptions.InvalidVolume(reason=(
                f'Instance {instance_uuid} and volume {volume_id} are not in the same '
                f'availability_zone. Instance is in {zone}. Volume is in {volume_zone}'))

    def revert(self, result, instance_uuid, device, volume_id, **kwargs):
        if self.failed_before_acting(result):
            return      # refused (e.g. not available): the volume is not ours to free
        if self.attach_api == LEGACY:
            self.undo('legacy_unreserve', device, instance_uuid=instance_uuid,
                      volume_id=volume_id)
        else:
            self.undo('delete_attachments', device, instance_uuid=instance_uuid,
                      volume_id=volume_id)


class InitializeConnection(_AttachTask):
    """Export the volume to this host; provides connection_info (secrets stripped):
    the one the attachment create returned, else asked for here.
    Reversion strategy: terminate the connection (legacy; the attachment's
    delete covers the attachments API)."""

    def execute(self, instance_uuid, device, volume_id, attachment_id,
                attachment_connection=None, volume=None):
        if attachment_connection:
            return attachment_connection
        if volume is None:
            volume = volume_poller.volume_facts(
                retrying.call('volume.get', self.cinder().volumes.get, volume_id))
        connector = host_connector(device)
        with _export_guard(volume):
            # Both calls only (re)export: asking again is harmless.
            if attachment_id == LEGACY_HANDLE:
                info = retrying.call('volume.action.os-initialize_connection',
                                     self.cinder().volumes.initialize_connection,
                                     volume_id, connector)
            else:
                info = retrying.call('attachment.update', self.cinder().attachments.update,
                                     attachment_id, connector).connection_info
        return _storable_connection(info, volume_id, volume)

    def revert(self, result, device, volume_id, attachment_id, **kwargs):
        if attachment_id != LEGACY_HANDLE or self.failed_before_acting(result):
            return
        self.undo('legacy_terminate', device, volume_id=volume_id)


class MarkAttached(_AttachTask):
    """Tell Cinder the volume is in use (attachment complete / os-attach).
    Reversion strategy: os-detach the instance's attachments the volume shows
    (legacy); the attachment delete covers the attachments API."""

    def execute(self, instance_uuid, device, volume_id, attachment_id):
        if attachment_id != LEGACY_HANDLE:
            retrying.call('attachment.complete', self.cinder().attachments.complete,
                          attachment_id)
            return True

        def attempt():
            # os-attach adds an attachment each time: look before asking again.
            volume = self.cinder().volumes.get(volume_id)
            if not _legacy_attachment_ids(volume, instance_uuid):
                self.cinder(once=True).volumes.attach(volume_id, instance_uuid,
                                                      device['device_name'], mode='rw')
            return True
        return retrying.retrying('volume.action.os-attach')(attempt)

    def revert(self, result, instance_uuid, device, volume_id, attachment_id, **kwargs):
        if attachment_id != LEGACY_HANDLE or self.failed_before_acting(result):
            return
        self.undo('legacy_detach', device, instance_uuid=instance_uuid, volume_id=volume_id)
