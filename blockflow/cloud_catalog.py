"""The validation catalog read from the cloud itself (Cinder + Glance).

Nova's flavors are not Cinder's business: they come from a JSON file
(``--flavors``) or blockflow's built-in table, the classic m1 flavors plus the
example's.
"""

from cinderclient import exceptions as cinder_exc

from blockflow.clients import GlanceImageSource
from blockflow.validation import catalog

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


class CloudCatalog(catalog.Catalog):
    def __init__(self, clients, flavors=None, config=None):
        self.clients = clients
        self.flavors = dict(BUILTIN_FLAVORS, **(flavors or {}))
        self._config = dict(catalog.DEFAULT_CONFIG, **(config or {}))

    def get_flavor(self, flavor_ref):
        try:
            return dict(self.flavors[str(flavor_ref)], id=str(flavor_ref))
        except KeyError:
            raise catalog.NotFoundInCatalog('flavor', flavor_ref)

    def get_image(self, image_id):
        try:
            image = GlanceImageSource(self.clients).get(image_id)
        except Exception:
            raise catalog.NotFoundInCatalog('image', image_id)
        if 'id' not in image:
            raise catalog.NotFoundInCatalog('image', image_id)
        return image

    def _cinder(self, manager, ident, kind):
        try:
            return getattr(self.clients.cinder(), manager).get(ident)._info
        except (cinder_exc.NotFound, cinder_exc.BadRequest):
            raise catalog.NotFoundInCatalog(kind, ident)

    def get_volume(self, volume_id):
        return self._cinder('volumes', volume_id, 'volume')

    def get_snapshot(self, snapshot_id):
        return self._cinder('volume_snapshots', snapshot_id, 'snapshot')

    def get_backup(self, backup_id):
        return self._cinder('backups', backup_id, 'backup')

    def list_volume_types(self):
        return [{'id': t.id, 'name': t.name} for t in self.clients.cinder().volume_types.list()]

    def config(self):
        return dict(self._config)
