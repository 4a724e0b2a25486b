"""Glance v2 images of the embedded cloud: real bytes, a generated qcow2 by default."""

import hashlib
import os
import subprocess
import uuid

# The seed document's image id, so its requests run unchanged.
DEFAULT_IMAGE_ID = 'ac408821-c95a-448f-9292-73986c790911'
DEFAULT_IMAGE_NAME = 'blockflow-tiny-qcow2'


def _typed(kind, nullable=True):
    return {'type': [kind, 'null'] if nullable else kind}


# GET /v2/schemas/image. Clients (glanceclient, hence Cinder) split an image
# into base attributes (named here) and custom properties (everything else):
# with no base attributes listed, Cinder finds no id/status and refuses the
# image ("Invalid image identifier or unable to access requested image.").
IMAGE_SCHEMA = {
    'name': 'image',
    'properties': {
        'id': _typed('string', False), 'name': _typed('string'),
        'status': _typed('string', False), 'visibility': _typed('string', False),
        'protected': _typed('boolean', False), 'os_hidden': _typed('boolean', False),
        'checksum': _typed('string'), 'os_hash_algo': _typed('string'),
        'os_hash_value': _typed('string'), 'owner': _typed('string'),
        'size': _typed('integer'), 'virtual_size': _typed('integer'),
        'min_disk': _typed('integer', False), 'min_ram': _typed('integer', False),
        'disk_format': _typed('string'), 'container_format': _typed('string'),
        'created_at': _typed('string', False), 'updated_at': _typed('string', False),
        'tags': {'type': 'array', 'items': {'type': 'string'}},
        'direct_url': _typed('string', False),
        'locations': {'type': 'array', 'items': {'type': 'object'}},
        'self': _typed('string', False), 'file': _typed('string', False),
        'schema': _typed('string', False),
    },
    'additionalProperties': {'type': 'string'},
}


class Glance:
    def __init__(self, store):
        self.store = store
        self.image_dir = os.path.join(store.state_dir, 'images')
        os.makedirs(self.image_dir, mode=0o700, exist_ok=True)
        if self.store.get('images', DEFAULT_IMAGE_ID) is None:
            self._generate_default()

    def file_path(self, image_id):
        return os.path.join(self.image_dir, image_id)

    def _generate_default(self):
        path = self.file_path(DEFAULT_IMAGE_ID)
        # A small bootable-format image: qcow2 of 64 MiB virtual size.
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', path, '64M'],
                       check=True, capture_output=True)
        self.register(DEFAULT_IMAGE_ID, DEFAULT_IMAGE_NAME, path, 'qcow2')

    def register(self, image_id, name, path, disk_format, min_disk=0, min_ram=0):
        with open(path, 'rb') as stream:
            data = stream.read()
        image = {
            'id': image_id or str(uuid.uuid4()), 'name': name, 'status': 'active',
            'disk_format': disk_format, 'container_format': 'bare',
            'size': len(data), 'virtual_size': None, 'min_disk': min_disk,
            'min_ram': min_ram, 'checksum': hashlib.md5(data).hexdigest(),
            'os_hash_algo': 'sha512', 'os_hash_value': hashlib.sha512(data).hexdigest(),
            'visibility': 'public', 'protected': False, 'tags': [],
            'file': f'/v2/images/{image_id}/file', 'schema': '/v2/schemas/image',
        }
        if os.path.abspath(path) != os.path.abspath(self.file_path(image['id'])):
            with open(self.file_path(image['id']), 'wb') as stream:
                stream.write(data)
        return self.store.put('images', image)

    def get(self, image_id):
        return self.store.get('images', image_id)

    def list(self, name=None):
        return [i for i in self.store.list('images') if name in (None, i['name'])]
