"""Tasks that make local disks on the compute host."""

from blockflow.clients import localdisk
from tasks.base import BlockflowTask


class CreateLocalDisk(BlockflowTask):
    """Create the image overlay, ephemeral or swap file (idempotent on the file).

    A failed create leaves nothing: the creator removes its temporary file.
    Reversion strategy: remove the disk and its temporary file by their
    deterministic paths (not by the saved result, which a crash may have lost);
    what cannot be removed is raised once, after trying both.
    """

    def __init__(self, instances_path, image_source=None, **kwargs):
        super().__init__(**kwargs)
        self.instances_path = instances_path
        self.image_source = image_source

    def _creator(self, device):
        return localdisk.creator_for(device['kind'], self.instances_path, self.image_source)

    def execute(self, instance_uuid, device, image=None):
        path, fmt = self._creator(device).create(instance_uuid, device, image)
        return {'path': path, 'format': fmt, 'kind': device['kind']}

    def revert(self, result, instance_uuid, device, **kwargs):
        self._creator(device).discard(instance_uuid, device)
