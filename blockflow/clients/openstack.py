"""Sessions and clients for the cloud a boot works against.

``Clients(ref)`` rebuilds the cloud from a persisted reference
(``blockflow.clients.cloudconfig``): clouds.yaml entry, ``OS_*`` variables, noauth
endpoint or the embedded cloud's published clouds.yaml. Flow factories only
ever receive the reference — where the cloud is, never a password — and the
boot's global request id, sent as ``X-OpenStack-Request-ID`` on every call.
"""

import uuid

from cinderclient import api_versions
from cinderclient import client as cinder_client
from cinderclient.contrib import noauth
from cinderclient.v3 import attachments as cinder_attachments
from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1.identity import base as identity_base

from blockflow.clients import cloudconfig

CINDER_MAX_VERSION = '3.71'
ATTACHMENTS_MIN_VERSION = (3, 44)
NOAUTH_TYPES = ('noauth', 'none')


def new_request_id():
    """A global request id as Nova makes one per API request (``req-<uuid>``)."""
    return f'req-{uuid.uuid4()}'


def embedded_ref(cloud):
    """The reference of a running embedded cloud object (its published clouds.yaml)."""
    return cloudconfig.embedded_ref(cloud.state_dir, cloud.cloud_name)


def noauth_ref(cinder_url, glance_url, project_id, user_id='blockflow'):
    """A Cinder running with ``auth_strategy = noauth`` (no Keystone).

    ``cinder_url`` is the endpoint without ``/v3`` (``http://host:port`` for a
    real Cinder, ``<cloud>/volume`` for the embedded cloud); the token is
    ``user:project`` and the project id must be hex/dashes, as Cinder wants.
    The same as a clouds.yaml entry with ``auth_type: noauth``.
    """
    return {'cloud': None, 'auth_type': 'noauth',
            'auth': {'user_id': user_id, 'project_id': project_id,
                     'endpoint': f"{cinder_url.rstrip('/')}/v3"},
            'options': {'image_endpoint_override': glance_url.rstrip('/')}}


class _NoAuth(noauth.CinderNoAuthPlugin):
    """cinderclient's noauth plugin; as a service it also sends the service
    role, as Nova's service token does (Cinder then allows attachment deletes)."""

    def __init__(self, user_id, project_id=None, endpoint=None, service=False):
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


class Clients:
    """Lazily built sessions and a cinderclient per microversion, for one cloud."""

    def __init__(self, ref):
        self.ref = cloudconfig.effective(dict(ref or {}))
        self.request_id = self.ref.get('request_id')
        self._region = None
        self._session = None
        self._service_session = None
        self._cinder = {}

    # --- sessions ---------------------------------------------------------------
    @property
    def region(self):
        if self._region is None:
            self._region = cloudconfig.cloud_region(self.ref)
        return self._region

    def _build_session(self, region):
        try:
            return region.get_session()
        except Exception as exc:    # openstack.config wraps plugin errors variously
            raise cloudconfig.CloudError(
                reason=f'{cloudconfig.describe(self.ref)}: cannot build a session: {exc}')

    @property
    def session(self):
        if self._session is None:
            self._session = self._build_session(self.region)
        return self._session

    @property
    def service_session(self):
        # Attachment deletes go as a service, as Nova's service token does.
        if self._service_session is None:
            if self.region.config.get('auth_type') in NOAUTH_TYPES:
                auth = dict(self.region.config.get('auth') or {})
                self._service_session = cloudconfig.make_session(
                    auth=_NoAuth(auth.get('user_id') or 'blockflow', auth.get('project_id'),
                                 auth.get('endpoint'), service=True),
                    verify=self.session.verify, timeout=self.session.timeout)
            elif self.region.config.get(cloudconfig.SERVICE_CLOUD_KEY):
                service_region = cloudconfig.cloud_region(
                    self.ref, cloud=self.region.config[cloudconfig.SERVICE_CLOUD_KEY])
                self._service_session = self._build_session(service_region)
            else:
                self._service_session = self.session
        return self._service_session

    # --- Cinder -----------------------------------------------------------------
    def _volume_endpoint(self):
        return self.region.get_endpoint('block-storage')

    def _capped(self, version):
        top = self.ref.get('volume_api_version')
        if top and api_versions.APIVersion(str(version)) > api_versions.APIVersion(top):
            return top
        return str(version)

    def cinder(self, version=CINDER_MAX_VERSION, service=False, once=False):
        """A cinderclient at ``version``; ``once``: for calls that are not
        idempotent (creates, os-reserve, os-attach), never re-sent by the
        session after a connection error, which may have come after Cinder
        acted; the caller looks the resource up before it asks again."""
        version = self._capped(version)
        key = (version, service, once)
        if key not in self._cinder:
            sess = self.service_session if service else self.session
            retries = cloudconfig.retry_options()
            if once:
                retries['connect_retries'] = 0
            client = cinder_client.Client(
                version, session=sess, global_request_id=self.request_id,
                region_name=self.region.get_region_name('block-storage'),
                endpoint_type=self.region.get_interface('block-storage') or 'public',
                os_endpoint=self._volume_endpoint(), **retries)
            client.attachments = _Attachments(client)
            self._cinder[key] = client
        return self._cinder[key]

    def negotiate_volume_api(self, wanted=CINDER_MAX_VERSION):
        """The highest Cinder microversion both sides speak (Cinder's version document)."""
        configured = self.region.get_api_version('block-storage')
        if configured and '.' in str(configured) and \
                api_versions.APIVersion(str(configured)) < api_versions.APIVersion(wanted):
            wanted = str(configured)        # --os-volume-api-version 3.X caps it
        client = self.cinder('3.0')
        version = api_versions.discover_version(client, api_versions.APIVersion(wanted))
        return version.get_string()

    # --- Glance -----------------------------------------------------------------
    def _image_adapter(self):
        endpoint = self.region.get_endpoint('image')
        if endpoint is None and not isinstance(self.session.auth,
                                               identity_base.BaseIdentityPlugin):
            raise cloudconfig.CloudError(
                reason=f'{cloudconfig.describe(self.ref)}: no image endpoint: without '
                       'Keystone set image_endpoint_override (clouds.yaml) or '
                       '--os-image-endpoint-override')
        return ks_adapter.Adapter(
            self.session, service_type='image',
            interface=self.region.get_interface('image') or 'public',
            region_name=self.region.get_region_name('image'), endpoint_override=endpoint,
            global_request_id=self.request_id, **cloudconfig.retry_options())

    def glance_get(self, path, stream=False, raise_exc=True):
        return self._image_adapter().get(path, stream=stream, raise_exc=raise_exc)

    # --- Nova (flavors only) -----------------------------------------------------
    def compute_adapter(self):
        return ks_adapter.Adapter(
            self.session, service_type='compute',
            interface=self.region.get_interface('compute') or 'public',
            region_name=self.region.get_region_name('compute'),
            endpoint_override=self.region.get_endpoint('compute'),
            global_request_id=self.request_id, **cloudconfig.retry_options())

    # --- catalog ---------------------------------------------------------------
    def authenticate(self):
        """Log in (identity plugins) so a wrong password fails before anything is made."""
        auth = self.session.auth
        if isinstance(auth, identity_base.BaseIdentityPlugin):
            auth.get_access(self.session)

    def has_service(self, service_type):
        if self.region.get_endpoint(service_type):
            return True
        auth = self.session.auth
        if not isinstance(auth, identity_base.BaseIdentityPlugin):
            # No catalog (noauth): the plugin's endpoint is Cinder's, nothing else's.
            return service_type == 'block-storage' and bool(auth.get_endpoint(self.session))
        try:
            self.session.get_endpoint(service_type=service_type,
                                      interface=self.region.get_interface(service_type),
                                      region_name=self.region.get_region_name(service_type))
            return True
        except (ks_exc.EndpointNotFound, ValueError):
            # keystoneauth raises ValueError when a region filters out every
            # alias of a type listed under several names (volumev3, block-storage).
            return False

    @property
    def is_embedded(self):
        """blockflow's own cloud (by its home, or by the flag its clouds.yaml carries)."""
        if self.ref.get('embedded'):
            return True
        try:
            return bool(self.region.config.get(cloudconfig.EMBEDDED_KEY))
        except cloudconfig.CloudError:
            return False

    def catalog_regions(self):
        auth = self.session.auth
        if not isinstance(auth, identity_base.BaseIdentityPlugin):
            return None
        catalog = auth.get_access(self.session).service_catalog
        return sorted({endpoint.get('region_id') or endpoint.get('region')
                       for service in catalog.catalog
                       for endpoint in service.get('endpoints', [])} - {None})


class GlanceImageSource:
    """Downloads Glance images for image→local disks."""

    def __init__(self, clients):
        self.clients = clients

    def get(self, image_id):
        response = self.clients.glance_get(f'/v2/images/{image_id}', raise_exc=True)
        return response.json()

    def download(self, image_id, dest_path):
        response = self.clients.glance_get(f'/v2/images/{image_id}/file', stream=True,
                                           raise_exc=True)
        with open(dest_path, 'wb') as stream:
            for chunk in response.iter_content(1 << 20):
                stream.write(chunk)
