"""Sessions and clients for the cloud blockflow works against.

The embedded cloud, or a real one from ``OS_*`` variables (keystoneauth1's own
environment loading). Flow factories only ever receive a ``CloudRef`` — where
the cloud is, never a password — so nothing secret reaches persisted state.
"""

import os

from cinderclient import client as cinder_client
from cinderclient.contrib import noauth
from cinderclient.v3 import attachments as cinder_attachments
from keystoneauth1 import loading
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
import requests

from blockflow import exceptions

CINDER_MAX_VERSION = '3.71'
ATTACHMENTS_MIN_VERSION = (3, 44)


def embedded_ref(cloud):
    return {'type': 'embedded', 'auth_url': cloud.auth_url}


def env_ref():
    return {'type': 'env'}


def noauth_ref(cinder_url, glance_url, project_id, user_id='blockflow'):
    """A Cinder running with ``auth_strategy = noauth`` (no Keystone).

    ``cinder_url`` is the endpoint without ``/v3`` (``http://host:port`` for a
    real Cinder, ``<cloud>/volume`` for the embedded cloud); the token is
    ``user:project`` and the project id must be hex/dashes, as Cinder wants.
    """
    return {'type': 'noauth', 'cinder_url': cinder_url.rstrip('/'),
            'glance_url': glance_url.rstrip('/'), 'project_id': project_id,
            'user_id': user_id}


class _NoAuth(noauth.CinderNoAuthPlugin):
    """cinderclient's noauth plugin; as a service it also sends the service
    role, as Nova's service token does (Cinder then allows attachment deletes)."""

    def __init__(self, user_id, project_id, endpoint, service=False):
        super().__init__(user_id, project_id, endpoint=endpoint)
        self._service = service

    def get_headers(self, session, **kwargs):
        headers = super().get_headers(session, **kwargs)
        if self._service:
            headers['X-Service-Roles'] = 'service'
        return headers


def nova_connection_info(info):
    """Cinder's attachments API returns connection_info flat (the driver's data
    with ``driver_volume_type`` and ``attachment_id`` merged in); Nova turns it
    back into ``{'driver_volume_type': ..., 'data': {...}}``, the shape of
    os-initialize_connection and the one the hypervisor side consumes."""
    if not isinstance(info, dict) or not info:
        return info
    if 'data' in info and isinstance(info.get('data'), dict):
        return info
    data = dict(info)
    data.pop('attachment_id', None)
    return {'driver_volume_type': data.pop('driver_volume_type', None), 'data': data}


class _Attachments(cinder_attachments.VolumeAttachmentManager):
    """cinderclient's attachments, connection_info translated as Nova does."""

    def create(self, *args, **kwargs):
        result = super().create(*args, **kwargs)
        if isinstance(result, dict) and result.get('connection_info'):
            result['connection_info'] = nova_connection_info(result['connection_info'])
        return result

    def _translated(self, resource):
        info = getattr(resource, 'connection_info', None)
        if info:
            resource.connection_info = nova_connection_info(info)
            resource._info['connection_info'] = resource.connection_info
        return resource

    def show(self, *args, **kwargs):
        return self._translated(super().show(*args, **kwargs))

    def update(self, *args, **kwargs):
        return self._translated(super().update(*args, **kwargs))


# Devices talk to Cinder in parallel: keep as many connections as they use
# (requests keeps 10 per host by default and opens a new one for every other call).
CONNECTIONS_PER_HOST = 128


def _session(auth=None):
    http = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4,
                                            pool_maxsize=CONNECTIONS_PER_HOST)
    http.mount('http://', adapter)
    http.mount('https://', adapter)
    return ks_session.Session(auth=auth, session=http)


class Clients:
    """Lazily built keystoneauth sessions and a cinderclient per microversion."""

    def __init__(self, ref):
        self.ref = ref
        self._session = None
        self._service_session = None
        self._glance_session = None
        self._cinder = {}

    def _make_session(self, service):
        if self.ref.get('type') == 'noauth':
            auth = _NoAuth(self.ref.get('user_id') or 'blockflow', self.ref['project_id'],
                           f"{self.ref['cinder_url']}/v3", service=service)
            return _session(auth)
        if self.ref.get('type') == 'embedded':
            from blockflow.cloud import app
            user = 'nova' if service else 'admin'
            auth = v3.Password(auth_url=self.ref['auth_url'], username=user,
                               password=app.USERS[user], project_name='blockflow',
                               user_domain_name='Default', project_domain_name='Default')
            return _session(auth)
        if not os.environ.get('OS_AUTH_URL'):
            raise exceptions.UsageError('no cloud configured: set OS_* variables '
                                        '(OS_AUTH_URL, OS_USERNAME, ...)')
        auth = loading.load_auth_from_env() if hasattr(loading, 'load_auth_from_env') \
            else None
        if auth is None:
            auth = v3.Password(
                auth_url=os.environ['OS_AUTH_URL'],
                username=os.environ.get('OS_USERNAME'),
                password=os.environ.get('OS_PASSWORD'),
                project_name=os.environ.get('OS_PROJECT_NAME'),
                user_domain_name=os.environ.get('OS_USER_DOMAIN_NAME', 'Default'),
                project_domain_name=os.environ.get('OS_PROJECT_DOMAIN_NAME', 'Default'))
        return _session(auth)

    @property
    def session(self):
        if self._session is None:
            self._session = self._make_session(service=False)
        return self._session

    @property
    def service_session(self):
        # Attachment deletes go as a service, as Nova's service token does.
        if self._service_session is None:
            self._service_session = self._make_session(service=True)
        return self._service_session

    def cinder(self, version=CINDER_MAX_VERSION, service=False):
        key = (version, service)
        if key not in self._cinder:
            sess = self.service_session if service else self.session
            client = cinder_client.Client(version, session=sess)
            client.attachments = _Attachments(client)
            self._cinder[key] = client
        return self._cinder[key]

    def glance_get(self, path, stream=False):
        if self.ref.get('type') == 'noauth':
            # No Keystone catalog: Glance is where the ref says, asked without
            # a token, as a noauth Cinder asks it.
            if self._glance_session is None:
                self._glance_session = _session()
            return self._glance_session.get(f"{self.ref['glance_url']}{path}",
                                            stream=stream)
        return self.session.get(path, endpoint_filter={'service_type': 'image'},
                                stream=stream)


class GlanceImageSource:
    """Downloads Glance images for image→local disks."""

    def __init__(self, clients):
        self.clients = clients

    def get(self, image_id):
        return self.clients.glance_get(f'/v2/images/{image_id}').json()

    def download(self, image_id, dest_path):
        response = self.clients.glance_get(f'/v2/images/{image_id}/file', stream=True)
        with open(dest_path, 'wb') as stream:
            for chunk in response.iter_content(1 << 20):
                stream.write(chunk)
