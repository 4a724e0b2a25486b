"""WSGI application of the embedded cloud: Keystone v3, Cinder v3, Glance v2, /admin.

Routing with ``routes``, requests and responses with ``webob``. Every response
carries ``x-openstack-request-id``; Cinder errors use Cinder's bodies. Handlers
live in one mixin per service: Keystone (``app_identity``), Cinder
(``app_volumes``, ``app_resources``, ``app_types``), Glance (``app_images``),
/admin (``admin``); this module holds the routes and the plumbing every
request goes through: auth, microversion, faults, paging.
"""

import json
import logging
import uuid

import routes
import webob.dec

from blockflow.cloud import admin
from blockflow.cloud import app_identity
from blockflow.cloud import app_images
from blockflow.cloud import app_resources
from blockflow.cloud import app_types
from blockflow.cloud import app_volumes
from blockflow.cloud import identity
from blockflow.cloud import listing
from blockflow.cloud.http import json_response as _json
from blockflow.cloud import validation
from blockflow.cloud.faults import InjectedFault
from blockflow.cloud.volumes import CinderError

LOG = logging.getLogger('blockflow.cloud')
MIN_VERSION = validation.MIN_VERSION
MAX_VERSION = validation.MAX_VERSION
PROJECT_ID = identity.PROJECT_ID
USERS = {name: account.password for name, account in identity.ACCOUNTS.items()}
V3 = '/volume/v3/{project_id}'


class DroppedConnection(Exception):
    pass


def too_large(start_response, status, message):
    """The body/URL caps' refusal, as a Cinder fault body."""
    code = int(status.split()[0])
    body = json.dumps({'overLimit' if code == 413 else 'badRequest': {
        'code': code, 'message': message}}).encode('utf-8')
    start_response(status, [('Content-Type', 'application/json'),
                            ('Content-Length', str(len(body))), ('Connection', 'close'),
                            ('x-openstack-request-id', 'req-' + str(uuid.uuid4()))])
    return [body]


def _routes(mapper):
    add = mapper.connect
    post, put, delete = ({'method': [m]} for m in ('POST', 'PUT', 'DELETE'))
    add('/identity/v3/auth/tokens', action='auth', conditions=post)
    add('/identity/v3', action='identity_version')
    add('/volume/', action='volume_versions')
    add('/volume', action='volume_versions')
    add(V3 + '/volumes', action='volumes_create', conditions=post)
    add(V3 + '/volumes', action='volumes_list', view='summary')
    add(V3 + '/volumes/detail', action='volumes_list', view='detail')
    add(V3 + '/volumes/{volume_id}/action', action='volume_action', conditions=post)
    add(V3 + '/volumes/{volume_id}/metadata', action='volume_metadata',
        conditions={'method': ['POST', 'PUT']})
    add(V3 + '/volumes/{volume_id}/metadata', action='volume_metadata_show')
    add(V3 + '/volumes/{volume_id}/metadata/{key}', action='volume_metadata_item_put',
        conditions=put)
    add(V3 + '/volumes/{volume_id}/metadata/{key}', action='volume_metadata_item_delete',
        conditions=delete)
    add(V3 + '/volumes/{volume_id}/metadata/{key}', action='volume_metadata_item_show')
    add(V3 + '/volumes/{volume_id}', action='volume_delete', conditions=delete)
    add(V3 + '/volumes/{volume_id}', action='volume_update', conditions=put)
    add(V3 + '/volumes/{volume_id}', action='volume_show')
    add(V3 + '/snapshots', action='snapshot_create', conditions=post)
    add(V3 + '/snapshots', action='snapshots_list', view='summary')
    add(V3 + '/snapshots/detail', action='snapshots_list', view='detail')
    add(V3 + '/snapshots/{snapshot_id}', action='snapshot_delete', conditions=delete)
    add(V3 + '/snapshots/{snapshot_id}', action='snapshot_update', conditions=put)
    add(V3 + '/snapshots/{snapshot_id}', action='snapshot_show')
    add(V3 + '/backups', action='backup_create', conditions=post)
    add(V3 + '/backups', action='backups_list', view='summary')
    add(V3 + '/backups/detail', action='backups_list', view='detail')
    add(V3 + '/backups/{backup_id}', action='backup_show')
    add(V3 + '/types', action='type_create', conditions=post)
    add(V3 + '/types', action='types_list')
    add(V3 + '/types/default', action='type_default')
    add(V3 + '/types/{type_id}/extra_specs', action='type_extra_specs_set', conditions=post)
    add(V3 + '/types/{type_id}/extra_specs', action='type_extra_specs')
    add(V3 + '/types/{type_id}', action='type_delete', conditions=delete)
    add(V3 + '/types/{type_id}', action='type_show')
    add(V3 + '/os-availability-zone', action='azs')
    add(V3 + '/limits', action='limits')
    add(V3 + '/os-services', action='services')
    add(V3 + '/scheduler-stats/get_pools', action='pools')
    add(V3 + '/os-quota-sets/{target_id}/defaults', action='quota_defaults')
    add(V3 + '/os-quota-sets/{target_id}', action='quota_set_update', conditions=put)
    add(V3 + '/os-quota-sets/{target_id}', action='quota_set_show')
    add(V3 + '/attachments', action='attachment_create', conditions=post)
    add(V3 + '/attachments', action='attachments_list')
    add(V3 + '/attachments/detail', action='attachments_list')
    add(V3 + '/attachments/{attachment_id}/action', action='attachment_action',
        conditions=post)
    add(V3 + '/attachments/{attachment_id}', action='attachment_update', conditions=put)
    add(V3 + '/attachments/{attachment_id}', action='attachment_delete',
        conditions=delete)
    add(V3 + '/attachments/{attachment_id}', action='attachment_show')
    add('/image/versions', action='image_versions')
    add('/image/v2/schemas/image', action='image_schema')
    add('/image/v2/images', action='images_list')
    add('/image/v2/images/{image_id}', action='image_show')
    add('/image/v2/images/{image_id}/file', action='image_file')
    add('/admin/faults', action='admin_faults')
    add('/admin/counters', action='admin_counters')


class CloudApp(app_identity.IdentityHandlers,          # Keystone
               app_volumes.VolumeHandlers, app_resources.ResourceHandlers,
               app_types.TypeHandlers,                  # Cinder
               app_images.ImageHandlers,                # Glance
               admin.AdminHandlers):                    # /admin
    """The WSGI app: routing and the plumbing every request goes through; the
    handlers come from one mixin per service."""

    def __init__(self, cloud, auth_strategy='keystone'):
        self.cloud = cloud
        self.identity = identity.Identity(auth_strategy)
        self.initial_latency = dict(cloud.faults.latency)
        app_types.seed_default_type(cloud.store)
        self.mapper = routes.Mapper()
        _routes(self.mapper)
        self.actions = {route.defaults['action'] for route in self.mapper.matchlist}

    # --- plumbing ---------------------------------------------------------------
    @webob.dec.wsgify
    def __call__(self, request):
        request_id = 'req-' + str(uuid.uuid4())
        try:
            match = self.mapper.match(environ=request.environ)
        except Exception:       # routes chokes on some undecodable paths
            match = None
        if match is None or match.get('action') not in self.actions:
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
        except Exception:   # Cinder's FaultWrapper: a 500 body, never a traceback
            LOG.exception('%s %s failed', request.method, request.path)
            return _json(500, CinderError(500, 'The server has either erred or is '
                                          'incapable of performing the requested '
                                          'operation.').body(), request_id)

    def _body(self, request):
        return validation.parse_body(request.body)

    def _element(self, request, name):
        """The body's required top-level element, as Cinder demands it."""
        body = self._body(request)
        element = body.get(name) if isinstance(body, dict) else None
        if not isinstance(element, dict):
            raise CinderError(400, f'Missing required element {name} in request body.')
        return element

    def _context(self, request, project_id):
        context = self.identity.context(request.headers)
        if context.project_id != project_id:
            raise CinderError(400, 'Malformed request url')
        return context

    def _version(self, request):
        return validation.microversion(request.headers.get('OpenStack-API-Version'))

    def _cinder(self, request, request_id, project_id, op):
        """Common prologue: auth, microversion, counters/faults → (context, version)."""
        context = self._context(request, project_id)
        version = self._version(request)
        self.cloud.faults.on_call(op)
        return context, version

    def _ok(self, request, request_id, body, status=200):
        version = self._version(request)
        response = _json(status, body, request_id, {
            'OpenStack-API-Version': f'volume {version[0]}.{version[1]}',
            'Vary': 'OpenStack-API-Version'})
        if body is None:
            # Cinder's empty replies are bare webob Responses (text/html), but for
            # a 204, which its JSON serializer still labels.
            response.headers['Content-Type'] = 'application/json' if status == 204 \
                else 'text/html; charset=UTF-8'
        return response

    def _visible(self, context, kind, ident):
        """The document if the caller may see it (its project's, or any for an admin)."""
        doc = self.cloud.store.get(kind, ident) if isinstance(ident, str) else None
        if doc is None or (doc.get('project_id') != context.project_id
                           and not context.is_admin):
            return None
        return doc

    def _scope(self, context, kind, ident):
        """The project to act in on a resource: its owner's for an admin."""
        doc = self._visible(context, kind, ident)
        return doc['project_id'] if doc else context.project_id

    def _listed(self, request, request_id, version, key, found, view, summary=False):
        """One page of a Cinder list: views, next-page links, the 3.45 count."""
        page, links, count = listing.paginate(request, found, key,
                                              self.public_url + request.path)
        views = [view(item) for item in page]
        if summary:
            views = [{k: v[k] for k in ('id', 'name', 'links')} for v in views]
        body = {key: views}
        if links:
            body[f'{key}_links'] = links
        if version >= (3, 45) and listing.flag(request.GET, 'with_count'):
            body['count'] = count
        return self._ok(request, request_id, body)
