"""What the compute-API checks read about the cloud: flavors, images, volumes...

The checks only see this contract. ``JsonCatalog`` reads a file given with
``--catalog``; a Cinder/Glance-backed catalog (boot time) implements the same
methods. Records use Nova/Cinder/Glance field names; a missing record raises
``NotFoundInCatalog`` and the checks turn that into Nova's verdict.
"""

import abc
import json

from blockflow import exceptions


class NotFoundInCatalog(LookupError):
    def __init__(self, kind, ident):
        super().__init__(f'{kind} {ident} not found')
        self.kind = kind
        self.ident = ident


DEFAULT_CONFIG = {
    'max_local_block_devices': 3,
    'max_disk_devices_to_attach': -1,
    'cross_az_attach': True,
    'default_availability_zone': 'nova',
}


class Catalog(abc.ABC):
    """Read-only view of the cloud, as the compute API consults it."""

    @abc.abstractmethod
    def get_flavor(self, flavor_ref):
        """{'name', 'root_gb', 'ephemeral_gb', 'swap', 'vcpus', 'memory_mb', 'extra_specs'}"""

    @abc.abstractmethod
    def get_image(self, image_id):
        """{'id', 'status', 'size', 'min_disk', 'min_ram', 'disk_format', 'properties'}"""

    @abc.abstractmethod
    def get_volume(self, volume_id):
        """{'id', 'status', 'size', 'bootable', 'multiattach', 'availability_zone',
        'volume_type', 'volume_image_metadata'}"""

    @abc.abstractmethod
    def get_snapshot(self, snapshot_id):
        """{'id', 'status', 'size', 'volume_id'}"""

    @abc.abstractmethod
    def get_backup(self, backup_id):
        """{'id', 'status', 'size', 'volume_id'}"""

    @abc.abstractmethod
    def list_volume_types(self):
        """[{'id', 'name'}, ...]"""

    def config(self):
        """Deployment settings the checks honour (DEFAULT_CONFIG keys)."""
        return dict(DEFAULT_CONFIG)


class JsonCatalog(Catalog):
    """A catalog from a JSON document keyed by id (see README, --catalog)."""

    SECTIONS = ('flavors', 'images', 'volumes', 'snapshots', 'backups',
                'volume_types')

    def __init__(self, data):
        if not isinstance(data, dict):
            raise exceptions.UsageError(
                'catalog: the top level must be a JSON object')
        for section in self.SECTIONS:
            value = data.get(section, {})
            if not isinstance(value, dict):
                raise exceptions.UsageError(
                    f'catalog: "{section}" must be an object keyed by id')
            for ident, record in value.items():
                if not isinstance(record, dict):
                    raise exceptions.UsageError(
                        f'catalog: {section}["{ident}"] must be an object')
        cfg = data.get('config', {})
        if not isinstance(cfg, dict):
            raise exceptions.UsageError('catalog: "config" must be an object')
        self._data = data
        self._config = dict(DEFAULT_CONFIG, **cfg)

    @classmethod
    def from_file(cls, path):
        try:
            with open(path, encoding='utf-8') as stream:
                data = json.load(stream)
        except OSError as exc:
            raise exceptions.UsageError(
                f'catalog: cannot read {path}: {exc.strerror}')
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.UsageError(f'catalog: {path} is not valid JSON: {exc}')
        return cls(data)

    def _get(self, section, kind, ident):
        record = self._data.get(section, {}).get(ident)
        if record is None:
            raise NotFoundInCatalog(kind, ident)
        return dict(record, id=ident)

    def get_flavor(self, flavor_ref):
        return self._get('flavors', 'flavor', str(flavor_ref))

    def get_image(self, image_id):
        return self._get('images', 'image', image_id)

    def get_volume(self, volume_id):
        return self._get('volumes', 'volume', volume_id)

    def get_snapshot(self, snapshot_id):
        return self._get('snapshots', 'snapshot', snapshot_id)

    def get_backup(self, backup_id):
        return self._get('backups', 'backup', backup_id)

    def list_volume_types(self):
        return [dict(record, id=ident) for ident, record in
                self._data.get('volume_types', {}).items()]

    def config(self):
        return dict(self._config)
