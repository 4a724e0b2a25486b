"""Glance v2 images of the embedded cloud: real bytes, a generated qcow2 by default."""

import hashlib
import os
import subprocess
import uuid

# The seed document's image id, so its requests run unchanged.
DEFAULT_IMAGE_ID = 'ac408821-c95a-448f-9292-73986c790911'
DEFAULT_IMAGE_NAME = 'blockflow-tiny-qcow2'


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
