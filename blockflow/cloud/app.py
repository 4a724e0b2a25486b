"""WSGI application of the embedded cloud: Keystone v3, Cinder v3, Glance v2, /admin.

Routing with ``routes``, requests and responses with ``webob``. Every response
carries ``x-openstack-request-id``; Cinder errors use Cinder's bodies.
"""

import json
import re
import uuid

import routes
import webob
import webob.dec

from blockflow.cloud import glance
from blockflow.cloud.faults import InjectedFault
from blockflow.cloud import volumes as volumes_module
from blockflow.cloud.volumes import CinderError

MIN_VERSION = (3, 0)
MAX_VERSION = (3, 71)
PROJECT_ID = 'e0a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4'
USERS = {'admin': 'blockflow-admin-password', 'nova': 'blockflow-service-password'}
_VERSION_RE = re.compile(r'^volume (\d+)\.(\d+|latest)$')
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


class DroppedConnection(Exception):
    pass


def _json(status, body, request_id, extra_headers=None):
    response = webob.Response(status=status, content_type='application/json',
                              charset='utf-8')
    response.body = json.dumps(body).encode('utf-8') if body is not None else b''
    response.headers['x-openstack-request-id'] = request_id
    for key, value in (extra_headers or {}).items():
        response.headers[key] = value
    return response


class CloudApp:
    def __init__(self, cloud):
        self.cloud = cloud
        self.tokens = {}
        mapper = routes.Mapper()
        add = mapper.connect
        add('/identity/v3/auth/tokens', action='auth', conditions={'method': ['POST']})
        add('/identity/v3', action='identity_version')
        add('/volume/', action='volume_versions')
        add('/volume', action='volume_versions')
        add('/volume/v3/{project_id}/volumes', action='volumes_create',
            conditions={'method': ['POST']})
        add('/volume/v3/{project_id}/volumes', action='volumes_list', view='summary')
        add('/volume/v3/{project_id}/volumes/detail', action='volumes_list', view='detail')
        add('/volume/v3/{project_id}/volumes/{volume_id}/action', action='volume_action',
            conditions={'method': ['POST']})
        add('/volume/v3/{project_id}/volumes/{volume_id}/metadata', action='volume_metadata',
            conditions={'method': ['POST', 'PUT']})
        add('/volume/v3/{project_id}/volumes/{volume_id}', action='volume_delete',
            conditions={'method': ['DELETE']})
        add('/volume/v3/{project_id}/volumes/{volume_id}', action='volume_show')
        add('/volume/v3/{project_id}/snapshots', action='snapshot_create',
            conditions={'method': ['POST']})
        add('/volume/v3/{project_id}/snapshots/{snapshot_id}', action='snapshot_delete',
            conditions={'method': ['DELETE']})
        add('/volume/v3/{project_id}/snapshots/{snapshot_id}', action='snapshot_show')
        add('/volume/v3/{project_id}/backups', action='backup_create',
            conditions={'method': ['POST']})
        add('/volume/v3/{project_id}/backups/{backup_id}', action='backup_show')
        add('/volume/v3/{project_id}/types', action='types_list')
        add('/volume/v3/{project_id}/types/{type_id}', action='type_show')
        add('/volume/v3/{project_id}/os-availability-zone', action='azs')
        add('/volume/v3/{project_id}/limits', action='limits')
        add('/volume/v3/{project_id}/os-quota-sets/{target_id}', action='quota_set_update',
            conditions={'method': ['PUT']})
        add('/volume/v3/{project_id}/os-quota-sets/{target_id}', action='quota_set_show')
        add('/volume/v3/{project_id}/attachments', action='attachment_create',
            conditions={'method': ['POST']})
        add('/volume/v3/{project_id}/attachments', action='attachments_list')
        add('/volume/v3/{project_id}/attachments/detail', action='attachments_list')
        add('/volume/v3/{project_id}/attachments/{attachment_id}/action',
            action='attachment_action', conditions={'method': ['POST']})
        add('/volume/v3/{project_id}/attachments/{attachment_id}', action='attachment_update',
            conditions={'method': ['PUT']})
        add('/volume/v3/{project_id}/attachments/{attachment_id}', action='attachment_delete',
            conditions={'method': ['DELETE']})
        add('/volume/v3/{project_id}/attachments/{attachment_id}', action='attachment_show')
        add('/image/versions', action='image_versions')
        add('/image/v2/schemas/image', action='image_schema')
        add('/image/v2/images', action='images_list')
        add('/image/v2/images/{image_id}', action='image_show')
        add('/image/v2/images/{image_id}/file', action='image_file')
        add('/admin/faults', action='admin_faults')
        add('/admin/counters', action='admin_counters')
        self.mapper = mapper

    # --- plumbing ---------------------------------------------------------------
    @webob.dec.wsgify
    def __call__(self, request):
        request_id = 'req-' + str(uuid.uuid4())
        match = self.mapper.match(environ=request.environ)
        if match is None:
            return _json(404, {'itemNotFound': {'code': 404, 'message':
                                                'The resource could not be found.'}},
                         request_id)
        action = match.pop('action')
        try:
            return getattr(self, action)(request, request_id, **match)
        except CinderError as exc:
            return _json(exc.status, exc.body(), request_id)
        except InjectedFault as exc:
            if exc.drop:
                raise DroppedConnection()
            return _json(exc.status, CinderError(exc.status, exc.message).body(), request_id)

    def _body(self, request):
        try:
            return json.loads(request.body or b'null')
        except (ValueError, UnicodeDecodeError):
            raise CinderError(400, 'Malformed request body')

    def _element(self, request, name):
        """The body's required top-level element, as Cinder demands it."""
        body = self._body(request)
        element = body.get(name) if isinstance(body, dict) else None
        if not isinstance(element, dict):
            raise CinderError(400, f'Missing required element {name} in request body.')
        return element

    def _auth(self, request, project_id):
        token = request.headers.get('X-Auth-Token', '')
        info = self.tokens.get(token)
        if info is None and ':' in token:          # Cinder's noauth convention
            user, _sep, project = token.partition(':')
            info = {'user': user, 'project': project or user}
        if info is None:
            raise CinderError(401, 'The request you have made requires authentication.')
        if info['project'] != project_id:
            raise CinderError(400, 'Malformed request url')
        service = info['user'] == 'nova' or \
            'service' in request.headers.get('X-Service-Roles', '')
        return service

    def _version(self, request):
        header = request.headers.get('OpenStack-API-Version', 'volume 3.0')
        match = _VERSION_RE.match(header.strip())
        if not match:
            return MIN_VERSION
        if match.group(2) == 'latest':
            return MAX_VERSION
        version = (int(match.group(1)), int(match.group(2)))
        if not MIN_VERSION <= version <= MAX_VERSION:
            raise CinderError(406, f'Version {version[0]}.{version[1]} is not supported by '
                              'the API. Minimum is 3.0 and maximum is 3.71.')
        return version

    def _cinder(self, request, request_id, project_id, op, body=None, status=200):
        """Common prologue: auth, microversion, counters/faults."""
        service = self._auth(request, project_id)
        version = self._version(request)
        self.cloud.faults.on_call(op)
        return service, version

    def _ok(self, request, request_id, body, status=200):
        version = self._version(request)
        return _json(status, body, request_id, {
            'OpenStack-API-Version': f'volume {version[0]}.{version[1]}',
            'Vary': 'OpenStack-API-Version'})

    @staticmethod
    def _public_volume(volume, version=MAX_VERSION):
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

    @staticmethod
    def _public_attachment(attachment):
        """Cinder's attachment view; connection_info flat, as Cinder returns it
        (the driver's data with driver_volume_type and attachment_id merged in)."""
        info = attachment.get('connection_info') or {}
        if info:
            flat = dict(info.get('data') or {})
            flat.update(driver_volume_type=info.get('driver_volume_type'),
                        attachment_id=attachment['id'])
            info = flat
        status = attachment['attach_status']
        return {'id': attachment['id'], 'status': status,
                'instance': attachment['instance'], 'volume_id': attachment['volume_id'],
                'attached_at': attachment.get('attach_time') or '',
                'detached_at': attachment.get('detach_time') or '',
                'attach_mode': attachment.get('attach_mode') or 'null',
                'connection_info': info}

    # --- keystone ----------------------------------------------------------------
    def auth(self, request, request_id):
        body = self._body(request) or {}
        try:
            identity = body['auth']['identity']
            if 'token' in identity.get('methods', ()):   # re-scope a token we issued
                name = (self.tokens.get(identity['token']['id']) or {}).get('user')
                password = USERS.get(name)
            else:
                user = identity['password']['user']
                name, password = user['name'], user['password']
        except (KeyError, TypeError, AttributeError):
            return _json(400, {'error': {'code': 400, 'title': 'Bad Request',
                                         'message': 'Invalid authentication request'}},
                         request_id)
        if name is None or USERS.get(name) != password:
            return _json(401, {'error': {'code': 401, 'title': 'Unauthorized',
                                         'message': 'The request you have made requires '
                                                    'authentication.'}}, request_id)
        token = uuid.uuid4().hex
        self.tokens[token] = {'user': name, 'project': PROJECT_ID}
        base = request.host_url
        catalog = [
            {'type': 'volumev3', 'name': 'cinderv3', 'id': 'volumev3', 'endpoints': [
                {'interface': i, 'region': 'RegionOne', 'region_id': 'RegionOne', 'id': i,
                 'url': f'{base}/volume/v3/{PROJECT_ID}'} for i in ('public', 'internal')]},
            {'type': 'block-storage', 'name': 'cinder', 'id': 'block-storage', 'endpoints': [
                {'interface': 'public', 'region': 'RegionOne', 'region_id': 'RegionOne',
                 'id': 'bs', 'url': f'{base}/volume/v3/{PROJECT_ID}'}]},
            {'type': 'image', 'name': 'glance', 'id': 'image', 'endpoints': [
                {'interface': i, 'region': 'RegionOne', 'region_id': 'RegionOne', 'id': i,
                 'url': f'{base}/image'} for i in ('public', 'internal')]},
        ]
        roles = [{'id': 'admin', 'name': 'admin'}] + (
            [{'id': 'service', 'name': 'service'}] if name == 'nova' else [])
        token_body = {'token': {
            'methods': ['password'], 'expires_at': '2999-01-01T00:00:00.000000Z',
            'issued_at': '2026-01-01T00:00:00.000000Z',
            'user': {'id': name, 'name': name, 'domain': {'id': 'default', 'name': 'Default'}},
            'project': {'id': PROJECT_ID, 'name': 'blockflow',
                        'domain': {'id': 'default', 'name': 'Default'}},
            'roles': roles, 'catalog': catalog}}
        return _json(201, token_body, request_id, {'X-Subject-Token': token})

    def identity_version(self, request, request_id):
        return _json(200, {'version': {'id': 'v3.14', 'status': 'stable', 'links': [
            {'rel': 'self', 'href': f'{request.host_url}/identity/v3/'}]}}, request_id)

    # --- cinder --------------------------------------------------------------------
    def volume_versions(self, request, request_id):
        return _json(300, {'versions': [{
            'id': 'v3.0', 'status': 'CURRENT', 'version': '3.71', 'min_version': '3.0',
            'updated': '2023-08-31T00:00:00Z',
            'links': [{'rel': 'self', 'href': f'{request.host_url}/volume/v3/'}]}]},
            request_id)

    def volumes_create(self, request, request_id, project_id):
        self._cinder(request, request_id, project_id, 'volume.create')
        volume = self.cloud.cinder.create_volume(project_id,
                                                 self._element(request, 'volume'))
        return self._ok(request, request_id, {'volume': self._public_volume(
            volume, self._version(request))}, 202)

    def volumes_list(self, request, request_id, project_id, view='detail'):
        self._cinder(request, request_id, project_id, 'volume.list')
        filters = {k: request.GET.get(k) for k in ('name', 'status') if request.GET.get(k)}
        ids = request.GET.getall('id') if 'id' in request.GET else []
        if ids:
            filters['id'] = set(i for raw in ids for i in re.split(r'[,\[\]\' ]+', raw) if i)
        if request.GET.get('metadata'):
            try:
                meta = json.loads(request.GET['metadata'].replace("'", '"'))
            except ValueError:
                raise CinderError(400, 'Invalid filter metadata')
            filters['metadata'] = meta
        if self._version(request) >= (3, 60):
            filters['times'] = {
                field: volumes_module.parse_time_filter(field, request.GET[field])
                for field in ('created_at', 'updated_at') if request.GET.get(field)}
        volumes = self.cloud.cinder.list_volumes(project_id, filters)
        views = [self._public_volume(v, self._version(request)) for v in volumes]
        if view == 'summary':
            views = [{k: view[k] for k in ('id', 'name', 'links')} for view in views]
        return self._ok(request, request_id, {'volumes': views})

    def volume_show(self, request, request_id, project_id, volume_id):
        self._cinder(request, request_id, project_id, 'volume.get')
        volume = self.cloud.cinder.get_volume(project_id, volume_id)
        return self._ok(request, request_id, {'volume': self._public_volume(
            volume, self._version(request))})

    def volume_delete(self, request, request_id, project_id, volume_id):
        self._cinder(request, request_id, project_id, 'volume.delete')
        self.cloud.cinder.delete_volume(project_id, volume_id)
        return self._ok(request, request_id, None, 202)

    def volume_metadata(self, request, request_id, project_id, volume_id):
        self._cinder(request, request_id, project_id, 'volume.metadata')
        body = self._body(request)
        meta = body.get('metadata') if isinstance(body, dict) else None
        if not isinstance(meta, dict):
            raise CinderError(400, 'Malformed request body')
        volume = self.cloud.cinder.get_volume(project_id, volume_id)
        merged = ({} if request.method == 'PUT' else volume['metadata'])
        merged.update({str(k): str(v) for k, v in meta.items()})
        self.cloud.store.update('volumes', volume_id, metadata=merged)
        return self._ok(request, request_id, {'metadata': merged})

    def volume_action(self, request, request_id, project_id, volume_id):
        body = self._body(request)
        if not isinstance(body, dict) or len(body) != 1:
            raise CinderError(400, 'Malformed request body')
        (name, args), = body.items()
        self._cinder(request, request_id, project_id, f'volume.action.{name}')
        result = self.cloud.attachments.action(project_id, volume_id, name, args)
        return self._ok(request, request_id, result, 200 if result is not None else 202)

    def snapshot_create(self, request, request_id, project_id):
        self._cinder(request, request_id, project_id, 'snapshot.create')
        snapshot = self.cloud.cinder.create_snapshot(project_id, self._element(request, 'snapshot'))
        return self._ok(request, request_id, {'snapshot': snapshot}, 202)

    def snapshot_show(self, request, request_id, project_id, snapshot_id):
        self._cinder(request, request_id, project_id, 'snapshot.get')
        snapshot = self.cloud.store.get('snapshots', snapshot_id)
        if snapshot is None:
            raise CinderError(404, f'Snapshot {snapshot_id} could not be found.')
        return self._ok(request, request_id, {'snapshot': snapshot})

    def snapshot_delete(self, request, request_id, project_id, snapshot_id):
        self._cinder(request, request_id, project_id, 'snapshot.delete')
        if self.cloud.store.get('snapshots', snapshot_id) is None:
            raise CinderError(404, f'Snapshot {snapshot_id} could not be found.')
        self.cloud.store.delete('snapshots', snapshot_id)
        return self._ok(request, request_id, None, 202)

    def backup_create(self, request, request_id, project_id):
        self._cinder(request, request_id, project_id, 'backup.create')
        backup = self.cloud.cinder.create_backup(project_id, self._element(request, 'backup'))
        return self._ok(request, request_id, {'backup': backup}, 202)

    def backup_show(self, request, request_id, project_id, backup_id):
        self._cinder(request, request_id, project_id, 'backup.get')
        backup = self.cloud.store.get('backups', backup_id)
        if backup is None:
            raise CinderError(404, f'Backup {backup_id} could not be found.')
        return self._ok(request, request_id, {'backup': backup})

    def types_list(self, request, request_id, project_id):
        self._cinder(request, request_id, project_id, 'type.list')
        return self._ok(request, request_id, {'volume_types': self.cloud.store.list('types')})

    def type_show(self, request, request_id, project_id, type_id):
        self._cinder(request, request_id, project_id, 'type.get')
        vtype = self.cloud.cinder.volume_type(type_id)
        if vtype is None:
            raise CinderError(404, f'Volume type {type_id} could not be found.')
        return self._ok(request, request_id, {'volume_type': vtype})

    def azs(self, request, request_id, project_id):
        self._cinder(request, request_id, project_id, 'az.list')
        return self._ok(request, request_id, {'availabilityZoneInfo': [
            {'zoneName': 'nova', 'zoneState': {'available': True}}]})

    def limits(self, request, request_id, project_id):
        self._cinder(request, request_id, project_id, 'limits')
        quota = self.cloud.store.get('quotas', 'default')
        return self._ok(request, request_id, {'limits': {'rate': [], 'absolute': {
            'maxTotalVolumes': quota['volumes'], 'maxTotalVolumeGigabytes': quota['gigabytes'],
            'maxTotalSnapshots': quota['snapshots']}}})

    def _quota_set(self, target_id):
        quota = self.cloud.cinder.quota(target_id)
        return {'id': target_id, 'volumes': quota['volumes'],
                'snapshots': quota['snapshots'], 'gigabytes': quota['gigabytes'],
                'per_volume_gigabytes': -1, 'backups': 10, 'backup_gigabytes': 1000,
                'groups': 10}

    def quota_set_show(self, request, request_id, project_id, target_id):
        self._cinder(request, request_id, project_id, 'quota.get')
        return self._ok(request, request_id, {'quota_set': self._quota_set(target_id)})

    def quota_set_update(self, request, request_id, project_id, target_id):
        """PUT os-quota-sets/<project> (noauth callers are admins, as in Cinder)."""
        self._cinder(request, request_id, project_id, 'quota.update')
        changes = self._element(request, 'quota_set')
        # Cinder's NON_QUOTA_KEYS: cinderclient's quotas.update sends tenant_id.
        changes = {k: v for k, v in changes.items() if k not in ('tenant_id', 'id')}
        bad = sorted(k for k in changes if k not in ('volumes', 'snapshots', 'gigabytes'))
        if bad:
            raise CinderError(400, f"Bad key(s) in quota set: {','.join(bad)}")
        for key, value in changes.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < -1:
                raise CinderError(400, f'Invalid input received: Quota {key} must be an '
                                  'integer greater than or equal to -1.')
        self.cloud.cinder.set_quota(target_id, **changes)
        quota_set = self._quota_set(target_id)
        quota_set.pop('id')
        return self._ok(request, request_id, {'quota_set': quota_set})

    def attachment_create(self, request, request_id, project_id):
        self._cinder(request, request_id, project_id, 'attachment.create')
        attachment = self.cloud.attachments.create(project_id,
                                                   self._element(request, 'attachment'))
        # Cinder answers with the attachment as it was reserved, before the
        # connector (if any) moved it on to "attaching".
        view = self._public_attachment(attachment)
        view['status'] = 'reserved'
        return self._ok(request, request_id, {'attachment': view})

    def attachments_list(self, request, request_id, project_id):
        self._cinder(request, request_id, project_id, 'attachment.list')
        filters = {k: request.GET.get(k) for k in ('volume_id', 'instance_id')}
        return self._ok(request, request_id, {'attachments': [
            self._public_attachment(a)
            for a in self.cloud.attachments.list(project_id, filters)]})

    def attachment_show(self, request, request_id, project_id, attachment_id):
        self._cinder(request, request_id, project_id, 'attachment.get')
        return self._ok(request, request_id, {'attachment': self._public_attachment(
            self.cloud.attachments.get(project_id, attachment_id))})

    def attachment_update(self, request, request_id, project_id, attachment_id):
        self._cinder(request, request_id, project_id, 'attachment.update')
        before = self.cloud.attachments.get(project_id, attachment_id)['attach_status']
        attachment = self.cloud.attachments.update(project_id, attachment_id,
                                                   self._element(request, 'attachment'))
        # As Cinder: the answer carries the status from before the update.
        view = self._public_attachment(attachment)
        view['status'] = before
        return self._ok(request, request_id, {'attachment': view})

    def attachment_action(self, request, request_id, project_id, attachment_id):
        self._cinder(request, request_id, project_id, 'attachment.complete')
        self.cloud.attachments.complete(project_id, attachment_id)
        return self._ok(request, request_id, None, 204)

    def attachment_delete(self, request, request_id, project_id, attachment_id):
        service, _version = self._cinder(request, request_id, project_id, 'attachment.delete')
        self.cloud.attachments.delete(project_id, attachment_id, service)
        return self._ok(request, request_id, {'attachments': []})

    # --- glance --------------------------------------------------------------------
    def image_versions(self, request, request_id):
        return _json(200, {'versions': [{'id': 'v2.16', 'status': 'CURRENT', 'links': [
            {'rel': 'self', 'href': f'{request.host_url}/image/v2/'}]}]}, request_id)

    def image_schema(self, request, request_id):
        return _json(200, glance.IMAGE_SCHEMA, request_id)

    def images_list(self, request, request_id):
        self.cloud.faults.on_call('image.list')
        return _json(200, {'images': self.cloud.glance.list(request.GET.get('name'))},
                     request_id)

    def image_show(self, request, request_id, image_id):
        self.cloud.faults.on_call('image.get')
        image = self.cloud.glance.get(image_id)
        if image is None:
            return _json(404, {'code': 404, 'title': 'Not Found',
                               'message': f'No image found with ID {image_id}'}, request_id)
        return _json(200, image, request_id)

    def image_file(self, request, request_id, image_id):
        self.cloud.faults.on_call('image.download')
        if self.cloud.glance.get(image_id) is None:
            return _json(404, {'code': 404, 'message': f'No image found with ID {image_id}'},
                         request_id)
        response = webob.Response(content_type='application/octet-stream')
        response.body_file = open(self.cloud.glance.file_path(image_id), 'rb')
        response.headers['x-openstack-request-id'] = request_id
        return response

    # --- admin ----------------------------------------------------------------------
    def admin_faults(self, request, request_id):
        if request.method == 'POST':
            body = self._body(request)
            if not isinstance(body, dict):
                raise CinderError(400, 'faults: a JSON object is required')
            self.cloud.faults.apply(body)
        return _json(200, self.cloud.faults.to_dict(), request_id)

    def admin_counters(self, request, request_id):
        if request.method == 'DELETE':
            self.cloud.faults.reset_counters()
        return _json(200, self.cloud.faults.counters(), request_id)
