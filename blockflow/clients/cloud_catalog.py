"""The validation catalog read from the cloud itself (Keystone, Cinder, Glance, Nova).

``check_cloud`` fails fast before anything is made: authenticate, find the
block-storage endpoint in the chosen region, negotiate the microversion.
Every read retries transient errors (connection failures, 5xx) and then says
in one line which call failed with which status; only a 404 means "not found".

Flavors come from the Compute API where the catalog (or a compute endpoint
override) has one — by id, else by name, extra specs included — read through a
keystoneauth adapter on the cloud's own session (openstacksdk's proxies cannot
run on cinderclient's noauth plugin); else from a flavor file (``--flavor-file``
/ ``[cloud] flavor_file``). The built-in table belongs to the embedded cloud only.
"""

import json

from cinderclient import exceptions as cinder_exc
from keystoneauth1 import exceptions as ks_exc
import tenacity

from blockflow.clients import cloudconfig
from blockflow.clients.openstack import ATTACHMENTS_MIN_VERSION
from blockflow.clients.openstack import CINDER_MAX_VERSION
from blockflow.clients.openstack import GlanceImageSource
from blockflow import exceptions
from blockflow.request.validation import catalog

BUILTIN_FLAVORS = {
    '1': {'name': 'm1.tiny', 'root_gb': 1, 'ephemeral_gb': 0, 'swap': 0, 'vcpus': 1,
          'memory_mb': 512, 'extra_specs': {}},
    '2': {'name': 'm1.small', 'root_gb': 20, 'ephemeral_gb': 0, 'swap': 0, 'vcpus': 1,
          'memory_mb': 2048, 'extra_specs': {}},
    '3': {'name': 'm1.medium', 'root_gb': 40, 'ephemeral_gb': 0, 'swap': 0, 'vcpus': 2,
          'memory_mb': 4096, 'extra_specs': {}},
    '42': {'name': 'bf.small', 'root_gb': 1, 'ephemeral_gb': 2, 'swap': 1024, 'vcpus': 1,
           'memory_mb': 256, 'extra_specs': {}},
}
_FLAVOR_FIELDS = ('name', 'root_gb', 'ephemeral_gb', 'swap', 'vcpus', 'memory_mb',
                  'extra_specs')


def _transient(exc):
    # Connection failures were already retried by the session (connect_retries).
    status = getattr(exc, 'code', None) or getattr(exc, 'http_status', None)
    return isinstance(status, int) and status >= 500


def _status(exc):
    status = getattr(exc, 'code', None) or getattr(exc, 'http_status', None)
    return status if isinstance(status, int) else None


def _read(what, ref, request_id, func, *args):
    """``func(*args)``, retried on transient errors, else one line naming the call."""
    from blockflow import conf
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(_transient), reraise=True,
        stop=tenacity.stop_after_attempt(conf.CONF.cloud.read_retries + 1),
        wait=tenacity.wait_exponential(multiplier=0.2, max=2))
    try:
        return retrying(func, *args)
    except (cinder_exc.NotFound, ks_exc.NotFound, catalog.NotFoundInCatalog,
            exceptions.BlockflowError):
        raise
    except cinder_exc.ClientException as exc:
        if exc.code == 400:
            raise
        raise cloudconfig.CloudError(
            reason=f'{cloudconfig.describe(ref)}: {what}: HTTP {exc.code}: {exc.message}'
                   f' [request {request_id}]')
    except Exception as exc:
        raise cloudconfig.explain(exc, what, ref, request_id)


def check_cloud(clients, attach_api='attachments'):
    """Log in, find Cinder in the chosen region, agree on a microversion.

    Returns the negotiated maximum microversion; raises CloudError (one line).
    """
    ref, rid = clients.ref, clients.request_id
    _read('authenticate', ref, rid, clients.authenticate)
    if not _read('read the service catalog', ref, rid, clients.has_service, 'block-storage'):
        regions = clients.catalog_regions()
        region = clients.region.region_name
        if regions and region and region not in regions:
            raise cloudconfig.CloudError(
                reason=f'{cloudconfig.describe(ref)}: region {region!r} is not in the '
                       f'catalog (regions: {", ".join(regions)})')
        raise cloudconfig.CloudError(
            reason=f'{cloudconfig.describe(ref)}: no block-storage (Cinder v3) endpoint '
                   f'for region {region or "(any)"}, interface '
                   f'{clients.region.get_interface("block-storage") or "public"}')
    version = _read('negotiate the Cinder microversion', ref, rid,
                    clients.negotiate_volume_api, CINDER_MAX_VERSION)
    major, minor = (int(part) for part in version.split('.'))
    if attach_api == 'attachments' and (major, minor) < ATTACHMENTS_MIN_VERSION:
        raise cloudconfig.CloudError(
            reason=f'{cloudconfig.describe(ref)}: the Cinder microversion agreed is '
                   f'{version}; the attachments API needs 3.44 (use --attach-api legacy)')
    return version


def load_flavor_file(path):
    try:
        with open(path, encoding='utf-8') as stream:
            data = json.load(stream)
    except OSError as exc:
        raise exceptions.UsageError(f'flavor file {path}: {exc.strerror}')
    except ValueError as exc:
        raise exceptions.UsageError(f'flavor file {path}: not valid JSON: {exc}')
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise exceptions.UsageError(f'flavor file {path}: must be an object of '
                                    '{"FLAVOR_ID": {"name": ..., "root_gb": ...}}')
    return data


def _raise_for(response, what, clients):
    if response.status_code >= 400:
        raise cloudconfig.CloudError(
            reason=f'{cloudconfig.describe(clients.ref)}: {what}: HTTP '
                   f'{response.status_code} [request {clients.request_id}]')


class CloudCatalog(catalog.Catalog):
    def __init__(self, clients, flavors=None, config=None):
        self.clients = clients
        self.flavors = dict(flavors or {})
        if clients.is_embedded:
            self.flavors = dict(BUILTIN_FLAVORS, **self.flavors)
        self._config = dict(catalog.DEFAULT_CONFIG, **(config or {}))

    def _read(self, what, func, *args):
        return _read(what, self.clients.ref, self.clients.request_id, func, *args)

    def _compute_flavor(self, flavor_ref):
        """Nova's flavor by id, else by name (as ``openstack flavor show`` finds it)."""
        compute = self.clients.compute_adapter()

        def get(path):
            return compute.get(path, raise_exc=False)
        response = self._read(f'GET flavor {flavor_ref}', get, f'/flavors/{flavor_ref}')
        if response.status_code == 404:
            listing = self._read('GET flavors', get, '/flavors/detail?is_public=None')
            _raise_for(listing, 'GET flavors', self.clients)
            named = [f for f in listing.json().get('flavors', [])
                     if f.get('name') == str(flavor_ref)]
            if len(named) != 1:
                raise catalog.NotFoundInCatalog('flavor', flavor_ref)
            flavor = named[0]
        else:
            _raise_for(response, f'GET flavor {flavor_ref}', self.clients)
            flavor = response.json()['flavor']
        specs = flavor.get('extra_specs')
        if specs is None:       # before compute microversion 2.61: asked separately
            answer = self._read(f'GET flavor {flavor_ref} extra specs', get,
                                f"/flavors/{flavor['id']}/os-extra_specs")
            _raise_for(answer, f'GET flavor {flavor_ref} extra specs', self.clients)
            specs = answer.json().get('extra_specs') or {}
        return {'id': flavor['id'], 'name': flavor.get('name'), 'root_gb': flavor.get('disk'),
                'ephemeral_gb': flavor.get('OS-FLV-EXT-DATA:ephemeral') or 0,
                'swap': flavor.get('swap') or 0, 'vcpus': flavor.get('vcpus'),
                'memory_mb': flavor.get('ram'), 'extra_specs': dict(specs)}

    def get_flavor(self, flavor_ref):
        if str(flavor_ref) in self.flavors:
            flavor = self.flavors[str(flavor_ref)]
            return dict({k: flavor.get(k) for k in _FLAVOR_FIELDS},
                        extra_specs=flavor.get('extra_specs') or {}, id=str(flavor_ref))
        by_name = [fid for fid, flavor in self.flavors.items()
                   if flavor.get('name') == str(flavor_ref)]
        if len(by_name) == 1:
            return self.get_flavor(by_name[0])
        embedded = self.clients.is_embedded
        if not embedded and \
                self._read('read the service catalog', self.clients.has_service, 'compute'):
            return self._compute_flavor(flavor_ref)
        if not self.flavors and not embedded:
            raise exceptions.UsageError(
                f'flavor {flavor_ref}: the cloud has no Compute API; give --flavor-file '
                'FILE or [cloud] flavor_file')
        raise catalog.NotFoundInCatalog('flavor', flavor_ref)

    def get_image(self, image_id):
        source = GlanceImageSource(self.clients)
        try:
            image = self._read(f'GET image {image_id}', source.get, image_id)
        except ks_exc.NotFound:
            raise catalog.NotFoundInCatalog('image', image_id)
        if not isinstance(image, dict) or 'id' not in image:
            raise catalog.NotFoundInCatalog('image', image_id)
        return image

    def _cinder(self, manager, ident, kind):
        def get():
            return getattr(self.clients.cinder(), manager).get(ident)._info
        try:
            return self._read(f'GET {kind} {ident}', get)
        except (cinder_exc.NotFound, cinder_exc.BadRequest):
            raise catalog.NotFoundInCatalog(kind, ident)

    def get_volume(self, volume_id):
        return self._cinder('volumes', volume_id, 'volume')

    def get_snapshot(self, snapshot_id):
        return self._cinder('volume_snapshots', snapshot_id, 'snapshot')

    def get_backup(self, backup_id):
        return self._cinder('backups', backup_id, 'backup')

    def list_volume_types(self):
        types = self._read('GET volume types', self.clients.cinder().volume_types.list)
        return [{'id': t.id, 'name': t.name} for t in types]

    def config(self):
        return dict(self._config)
