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


# A catalog is a deployment's records, not a request: far larger than a body,
# still bounded so that /dev/zero or a wrong file cannot exhaust memory.
MAX_CATALOG_BYTES = 64 * 1024 * 1024
_CHUNK = 1 << 16


def read_capped(path, max_bytes):
    """The bytes of ``path``, or None when it holds more than ``max_bytes``.

    Reads at most ``max_bytes + 1`` bytes, so endless files (/dev/zero, a
    FIFO) end in bounded time and memory. OSError passes through.
    """
    chunks = []
    total = 0
    with open(path, 'rb') as stream:
        while total <= max_bytes:
            chunk = stream.read(min(_CHUNK, max_bytes + 1 - total))
            if not chunk:
                return b''.join(chunks)
            chunks.append(chunk)
            total += len(chunk)
    return None


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

    def get_image_meta(self, image_id):
        """The image as Nova's glance layer hands it to the compute API.

        ``get_image`` may give either shape: Nova's (custom properties under
        ``properties``) or Glance v2's (custom properties at the top level,
        ``block_device_mapping`` / ``mappings`` as JSON text). Raises
        NotFoundInCatalog, or ImageUnacceptable for properties that are not
        JSON where Nova needs JSON.
        """
        return nova_image_meta(self.get_image(image_id))


# Glance v2's schema properties; everything else is a custom property.
GLANCE_BASE_PROPERTIES = frozenset({
    'id', 'name', 'status', 'visibility', 'protected', 'os_hidden', 'checksum',
    'os_hash_algo', 'os_hash_value', 'owner', 'size', 'virtual_size',
    'min_ram', 'min_disk', 'disk_format', 'container_format', 'created_at',
    'updated_at', 'tags', 'direct_url', 'locations', 'self', 'file', 'schema',
    'stores'})
# Image properties Glance stores as text and Nova decodes as JSON
# (nova/image/glance.py _CONVERT_PROPS).
JSON_PROPERTIES = ('block_device_mapping', 'mappings')


def nova_image_meta(image):
    """``image`` (either shape, see Catalog.get_image_meta) in Nova's shape."""
    if isinstance(image.get('properties'), dict):
        meta = dict(image)
        properties = dict(image['properties'])
    else:
        meta = {k: v for k, v in image.items() if k in GLANCE_BASE_PROPERTIES}
        properties = {k: v for k, v in image.items()
                      if k not in GLANCE_BASE_PROPERTIES}
        if meta.get('size') is None:
            meta['size'] = 0
    for name in JSON_PROPERTIES:
        value = properties.get(name)
        if isinstance(value, str):
            try:
                properties[name] = json.loads(value)
            except (ValueError, RecursionError) as exc:
                # Nova's jsonutils.loads raises here: a 500.
                raise exceptions.ImageUnacceptable(
                    image_id=image.get('id'),
                    reason=f'image property {name} is not JSON: {exc}')
    meta['properties'] = properties
    return meta


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
    def from_file(cls, path, max_bytes=MAX_CATALOG_BYTES):
        try:
            raw = read_capped(path, max_bytes)
        except OSError as exc:
            raise exceptions.UsageError(
                f'catalog: cannot read {path}: {exc.strerror or exc}')
        if raw is None:
            raise exceptions.UsageError(
                f'catalog: {path} is larger than {max_bytes} bytes')
        try:
            data = json.loads(raw.decode('utf-8'))
        except (ValueError, UnicodeDecodeError) as exc:
            # ValueError also covers integers past Python's digit limit.
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
