"""Tasks that make local disks on the compute host."""

from blockflow import localdisk
from tasks.base import BlockflowTask


class CreateLocalDisk(BlockflowTask):
    """Create the image overlay, ephemeral or swap file (idempotent on the file).
    Reversion strategy: delete the file."""

    def __init__(self, instances_path, image_source=None, **kwargs):
        super().__init__(**kwargs)
        self.instances_path = instances_path
        self.image_source = image_source

    def execute(self, instance_uuid, device, image=None):
        creator = localdisk.creator_for(device['kind'], self.instances_path,
                                        self.image_source)
        path, fmt = creator.create(instance_uuid, device, image)
        return {'path': path, 'format': fmt, 'kind': device['kind']}

    def revert(self, result, **kwargs):
        if self.produced(result):
            localdisk.remove(result['path'])
