"""Volume, metadata, volume action and attachment handlers of the embedded cloud.

A mixin of ``app.CloudApp``: ``self._cinder``/``self._ok`` come from there.
"""

import re

from blockflow.cloud import app_types
from blockflow.cloud import listing
from blockflow.cloud import validation
from blockflow.cloud import volumes as volumes_module
from blockflow.cloud.http import json_response as _json
from blockflow.cloud.volumes import CinderError
from blockflow.cloud.volumes import not_found

# Cinder's volume view: fields at 3.0, and the microversion adding each other one.
VOLUME_FIELDS = (
    'attachments', 'availability_zone', 'bootable', 'consistencygroup_id', 'created_at',
    'description', 'encrypted', 'id', 'links', 'metadata', 'migration_status',
    'multiattach', 'name', 'replication_status', 'size', 'snapshot_id', 'source_volid',
    'status', 'updated_at', 'user_id', 'volume_type')
VOLUME_FIELDS_SINCE = {'group_id': (3, 13), 'provider_id': (3, 21),
                       'service_uuid': (3, 48), 'shared_targets': (3, 48),
                       'cluster_name': (3, 61), 'volume_type_id': (3, 63),
                       'consumes_quota': (3, 65)}
AVAILABILITY_ZONES = ('nova', 'az1', 'az2', 'az3')
# The legacy volume actions the embedded cloud implements (never looked up by name).
LEGACY_ACTIONS = frozenset({
    'os-reserve', 'os-unreserve', 'os-initialize_connection', 'os-terminate_connection',
    'os-attach', 'os-begin_detaching', 'os-roll_detaching', 'os-detach', 'os-extend'})
ACTION_STRING_FIELDS = ('instance_uuid', 'mountpoint', 'mode', 'attachment_id', 'host_name')
ATTACHMENTS_SINCE = (3, 27)
EXTEND_IN_USE_SINCE = (3, 42)
ATTACHMENT_MODE_SINCE = (3, 54)
VOLUME_FILTERS = ('name', 'status')


def public_volume(volume, version=validation.MAX_VERSION):
    """Cinder's volume view at ``version`` (as admin, like a noauth context)."""
    view = {k: volume.get(k) for k in VOLUME_FIELDS}
    view.update({
        'os-vol-tenant-attr:tenant_id': volume['project_id'],
        'os-vol-host-attr:host': volume.get('os-vol-host-attr:host'),
        'os-vol-mig-status-attr:migstat': None,
        'os-vol-mig-status-attr:name_id': None})
    defaults = {'consumes_quota': True}
    for field, since in VOLUME_FIELDS_SINCE.items():
        if version >= since:
            view[field] = volume.get(field, defaults.get(field))
    if volume.get('volume_image_metadata'):
        view['volume_image_metadata'] = dict(volume['volume_image_metadata'])
    return view


def public_attachment(attachment):
    """Cinder's attachment view; connection_info flat, as Cinder returns it
    (the driver's data with driver_volume_type and attachment_id merged in)."""
    info = attachment.get('connection_info') or {}
    if info:
        flat = dict(info.get('data') or {})
        flat.update(driver_volume_type=info.get('driver_volume_type'),
                    attachment_id=attachment['id'])
        info = flat
    return {'id': attachment['id'], 'status': attachment['attach_status'],
            'instance': attachment['instance'], 'volume_id': attachment['volume_id'],
            'attached_at': attachment.get('attach_time') or '',
            'detached_at': attachment.get('detach_time') or '',
            'attach_mode': attachment.get('attach_mode') or 'null',
            'connection_info': info}


class VolumeHandlers:
    def volume_versions(self, request, request_id):
        return _json(300, {'versions': [{
            'id': 'v3.0', 'status': 'CURRENT', 'version': '3.71', 'min_version': '3.0',
            'updated': '2023-08-31T00:00:00Z',
            'links': [{'rel': 'self', 'href': f'{self.public_url}/volume/v3/'}]}]},
            request_id)

    # --- volumes -----------------------------------------------------------------------
    def _check_sources(self, context, spec):
        """Sources of a new volume must be the caller's (or any, for an admin)."""
        for key, kind, label in (('snapshot_id', 'snapshots', 'Snapshot'),
                                 ('backup_id', 'backups', 'Backup'),
                                 ('source_volid', 'volumes', 'Volume')):
            ident = spec.get(key)
            if ident and self._visible(context, kind, ident) is None:
                raise not_found(label, ident)

    def volumes_create(self, request, request_id, project_id):
        context, version = self._cinder(request, request_id, project_id, 'volume.create')
        spec = self._element(request, 'volume')
        validation.check_volume_create(spec)
        self._check_sources(context, spec)
        zone = spec.get('availability_zone')
        if zone and zone not in AVAILABILITY_ZONES:
            raise CinderError(400, f"Availability zone '{zone}' is invalid.")
        source = spec.get('source_volid')
        if source and spec.get('size') is not None:
            source_size = self.cloud.store.get('volumes', source)['size']
            if spec['size'] < source_size:
                raise CinderError(400, 'Invalid input received: Volume size '
                                  f"'{spec['size']}'GB cannot be smaller than original "
                                  f"volume size  {source_size}GB. They must be >= "
                                  'original volume size.')
        self._check_per_volume_limit(context.project_id, spec)
        if not spec.get('volume_type'):
            spec['volume_type'] = app_types.DEFAULT_TYPE_NAME
        volume = self.cloud.cinder.create_volume(context.project_id, spec)
        return self._ok(request, request_id, {'volume': public_volume(volume, version)}, 202)

    def _check_per_volume_limit(self, project_id, spec):
        """The per_volume_gigabytes quota, on the size the volume will have."""
        limit = self.cloud.cinder.quota(project_id).get('per_volume_gigabytes', -1)
        size = spec.get('size')
        for key, kind in (('snapshot_id', 'snapshots'), ('backup_id', 'backups'),
                          ('source_volid', 'volumes')):
            if size is None and spec.get(key):
                size = self.cloud.store.get(kind, spec[key])['size']
        if isinstance(size, int) and 0 <= limit < size:
            raise CinderError(413, f'VolumeSizeExceedsLimit: Requested volume size {size}G '
                              f'is larger than maximum allowed limit {limit}G.')

    def volumes_list(self, request, request_id, project_id, view='detail'):
        context, version = self._cinder(request, request_id, project_id, 'volume.list')
        query = request.GET
        filters = {k: query.get(k) for k in VOLUME_FILTERS if query.get(k)}
        if 'id' in query:
            filters['id'] = {i for raw in query.getall('id')
                             for i in re.split(r'[,\[\]\' ]+', raw) if i}
        if query.get('metadata'):
            filters['metadata'] = validation.query_metadata(query['metadata'])
        if version >= (3, 60):
            filters['times'] = {
                field: volumes_module.parse_time_filter(field, query[field])
                for field in ('created_at', 'updated_at') if query.get(field)}
        projects = [context.project_id]
        if context.is_admin and listing.all_tenants(query):
            projects = sorted(set(self.cloud.store.field('volumes', 'project_id')))
        found = [v for project in projects
                 for v in self.cloud.cinder.list_volumes(project, filters)]
        return self._listed(request, request_id, version, 'volumes', found,
                            lambda v: public_volume(v, version), summary=view == 'summary')

    def volume_show(self, request, request_id, project_id, volume_id):
        context, version = self._cinder(request, request_id, project_id, 'volume.get')
        volume = self.cloud.cinder.get_volume(self._scope(context, 'volumes', volume_id),
                                              volume_id)
        return self._ok(request, request_id, {'volume': public_volume(volume, version)})

    def volume_delete(self, request, request_id, project_id, volume_id):
        context, _version = self._cinder(request, request_id, project_id, 'volume.delete')
        self.cloud.cinder.delete_volume(self._scope(context, 'volumes', volume_id), volume_id)
        return self._ok(request, request_id, None, 202)

    def volume_update(self, request, request_id, project_id, volume_id):
        context, version = self._cinder(request, request_id, project_id, 'volume.update')
        spec = self._element(request, 'volume')
        validation.check_volume_update(spec)
        volume = self.cloud.cinder.get_volume(self._scope(context, 'volumes', volume_id),
                                              volume_id)
        changes = {}
        for key, field in (('name', 'name'), ('display_name', 'name'),
                           ('description', 'description'),
                           ('display_description', 'description')):
            if key in spec:
                changes[field] = spec[key]
        if 'metadata' in spec:
            changes['metadata'] = dict(spec['metadata'])
        if changes:
            volume = self.cloud.store.update('volumes', volume['id'], **changes)
        return self._ok(request, request_id, {'volume': public_volume(volume, version)})

    # --- metadata ---------------------------------------------------------------------
    def _metadata_volume(self, request, request_id, project_id, volume_id, op):
        context, _version = self._cinder(request, request_id, project_id, op)
        return self.cloud.cinder.get_volume(self._scope(context, 'volumes', volume_id),
                                            volume_id)

    def volume_metadata_show(self, request, request_id, project_id, volume_id):
        volume = self._metadata_volume(request, request_id, project_id, volume_id,
                                       'volume.metadata')
        return self._ok(request, request_id, {'metadata': volume['metadata']})

    def volume_metadata(self, request, request_id, project_id, volume_id):
        volume = self._metadata_volume(request, request_id, project_id, volume_id,
                                       'volume.metadata')
        body = self._body(request)
        meta = body.get('metadata') if isinstance(body, dict) else None
        if not isinstance(meta, dict):
            raise CinderError(400, 'Malformed request body')
        validation.check_metadata(meta)
        merged = {} if request.method == 'PUT' else volume['metadata']
        merged.update(meta)
        self.cloud.store.update('volumes', volume['id'], metadata=merged)
        return self._ok(request, request_id, {'metadata': merged})

    def volume_metadata_item_show(self, request, request_id, project_id, volume_id, key):
        volume = self._metadata_volume(request, request_id, project_id, volume_id,
                                       'volume.metadata')
        if key not in volume['metadata']:
            raise CinderError(404, f"Volume {volume['id']} has no metadata with key "
                              f'{key}.')
        return self._ok(request, request_id, {'meta': {key: volume['metadata'][key]}})

    def volume_metadata_item_put(self, request, request_id, project_id, volume_id, key):
        volume = self._metadata_volume(request, request_id, project_id, volume_id,
                                       'volume.metadata')
        meta = self._element(request, 'meta')
        if key not in meta:
            raise CinderError(400, 'Request body and URI mismatch')
        if len(meta) > 1:
            raise CinderError(400, 'Request body contains too many items')
        validation.check_metadata(meta)
        merged = dict(volume['metadata'], **meta)
        self.cloud.store.update('volumes', volume['id'], metadata=merged)
        return self._ok(request, request_id, {'meta': meta})

    def volume_metadata_item_delete(self, request, request_id, project_id, volume_id, key):
        volume = self._metadata_volume(request, request_id, project_id, volume_id,
                                       'volume.metadata')
        if key not in volume['metadata']:
            raise CinderError(404, f"Volume {volume['id']} has no metadata with key "
                              f'{key}.')
        remaining = {k: v for k, v in volume['metadata'].items() if k != key}
        self.cloud.store.update('volumes', volume['id'], metadata=remaining)
        return self._ok(request, request_id, None, 200)

    # --- legacy actions ---------------------------------------------------------------
    def volume_action(self, request, request_id, project_id, volume_id):
        body = self._body(request)
        if not isinstance(body, dict) or len(body) != 1:
            raise CinderError(400, 'Malformed request body')
        (name, args), = body.items()
        if name not in LEGACY_ACTIONS:
            raise CinderError(400, 'There is no such action: '
                              f'{name[:64] if isinstance(name, str) else name}')
        if args is not None and not isinstance(args, dict):
            raise CinderError(400, 'Malformed request body')
        for key in ACTION_STRING_FIELDS:
            validation.volume_id_field(args or {}, key)
        context, version = self._cinder(request, request_id, project_id,
                                        f'volume.action.{name}')
        scope = self._scope(context, 'volumes', volume_id)
        if name == 'os-extend':
            return self._extend(request, request_id, scope, volume_id, args or {}, version)
        result = self.cloud.attachments.action(scope, volume_id, name, args or {})
        return self._ok(request, request_id, result, 200 if result is not None else 202)

    def _extend(self, request, request_id, project_id, volume_id, args, version):
        volume = self.cloud.cinder.get_volume(project_id, volume_id)
        new_size = args.get('new_size')
        if isinstance(new_size, str) and new_size.isdigit() and len(new_size) < 12:
            new_size = int(new_size)
        if isinstance(new_size, bool) or not isinstance(new_size, int) or \
                new_size <= volume['size']:
            raise CinderError(400, 'Invalid input received: New size for extend must be '
                              'greater than current size.')
        allowed = ('available', 'in-use') if version >= EXTEND_IN_USE_SINCE \
            else ('available',)
        if volume['status'] not in allowed:
            raise CinderError(400, f"Invalid volume: Volume status must be "
                              f"{' or '.join(allowed)} to extend.")
        store = self.cloud.store
        with store.lock:
            quota = self.cloud.cinder.quota(project_id)
            used = sum(store.field('volumes', 'size',
                                   where=lambda v: v['project_id'] == project_id))
            grow = new_size - volume['size']
            if quota['gigabytes'] >= 0 and used + grow > quota['gigabytes']:
                raise CinderError(413, 'VolumeSizeExceedsAvailableQuota: Requested volume '
                                  'or snapshot exceeds allowed gigabytes quota. Requested '
                                  f"{grow}G, quota is {quota['gigabytes']}G and {used}G "
                                  'has been consumed.')
            store.update('volumes', volume_id, size=new_size)
        return self._ok(request, request_id, None, 202)

    # --- attachments ------------------------------------------------------------------
    def _attachments_call(self, request, request_id, project_id, op):
        context, version = self._cinder(request, request_id, project_id, op)
        if version < ATTACHMENTS_SINCE:
            raise CinderError(404, 'The resource could not be found.')
        return context, version

    def attachment_create(self, request, request_id, project_id):
        context, _version = self._attachments_call(request, request_id, project_id,
                                                   'attachment.create')
        spec = self._element(request, 'attachment')
        if 'mode' in spec and _version < ATTACHMENT_MODE_SINCE:
            raise CinderError(400, 'Invalid input for field/attribute attachment. Value: '
                              f"{spec}. Additional properties are not allowed ('mode' "
                              'was unexpected)')
        if spec.get('mode', 'null') not in ('null', 'rw', 'ro', None):
            raise CinderError(400, "Invalid input for field/attribute mode. Value: "
                              f"{spec['mode']}. It must be one of 'null', 'rw', 'ro'.")
        for key in ('volume_uuid', 'instance_uuid'):
            validation.volume_id_field(spec, key)
        if spec.get('connector') is not None and not isinstance(spec['connector'], dict):
            raise CinderError(400, 'Invalid input received: connector must be an object')
        scope = self._scope(context, 'volumes', spec.get('volume_uuid'))
        attachment = self.cloud.attachments.create(scope, spec)
        # Cinder answers with the attachment as it was reserved, before the
        # connector (if any) moved it on to "attaching".
        view = public_attachment(attachment)
        view['status'] = 'reserved'
        return self._ok(request, request_id, {'attachment': view})

    def attachments_list(self, request, request_id, project_id):
        context, _version = self._attachments_call(request, request_id, project_id,
                                                   'attachment.list')
        filters = {k: request.GET.get(k) for k in ('volume_id', 'instance_id')}
        return self._ok(request, request_id, {'attachments': [
            public_attachment(a)
            for a in self.cloud.attachments.list(context.project_id, filters)]})

    def _attachment_scope(self, context, attachment_id):
        return self._scope(context, 'attachments', attachment_id)

    def attachment_show(self, request, request_id, project_id, attachment_id):
        context, _version = self._attachments_call(request, request_id, project_id,
                                                   'attachment.get')
        attachment = self.cloud.attachments.get(self._attachment_scope(context, attachment_id),
                                                attachment_id)
        return self._ok(request, request_id, {'attachment': public_attachment(attachment)})

    def attachment_update(self, request, request_id, project_id, attachment_id):
        context, _version = self._attachments_call(request, request_id, project_id,
                                                   'attachment.update')
        scope = self._attachment_scope(context, attachment_id)
        spec = self._element(request, 'attachment')
        before = self.cloud.attachments.get(scope, attachment_id)['attach_status']
        attachment = self.cloud.attachments.update(scope, attachment_id, spec)
        # As Cinder: the answer carries the status from before the update.
        view = public_attachment(attachment)
        view['status'] = before
        return self._ok(request, request_id, {'attachment': view})

    def attachment_action(self, request, request_id, project_id, attachment_id):
        context, _version = self._attachments_call(request, request_id, project_id,
                                                   'attachment.complete')
        body = self._body(request)
        if not isinstance(body, dict) or list(body) != ['os-complete']:
            raise CinderError(400, 'There is no such action: '
                              f'{next(iter(body), None) if isinstance(body, dict) else None}')
        self.cloud.attachments.complete(self._attachment_scope(context, attachment_id),
                                        attachment_id)
        return self._ok(request, request_id, None, 204)

    def attachment_delete(self, request, request_id, project_id, attachment_id):
        context, _version = self._attachments_call(request, request_id, project_id,
                                                   'attachment.delete')
        scope = self._attachment_scope(context, attachment_id)
        volume_id = self.cloud.attachments.get(scope, attachment_id)['volume_id']
        self.cloud.attachments.delete(scope, attachment_id, context.service)
        remaining = self.cloud.attachments.list(scope, {'volume_id': volume_id})
        return self._ok(request, request_id, {'attachments': [
            {'id': a['id'], 'status': a['attach_status'], 'instance': a['instance'],
             'volume_id': a['volume_id']} for a in remaining]})
