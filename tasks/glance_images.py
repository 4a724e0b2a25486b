"""Tasks that read Glance."""

from blockflow.clients.openstack import GlanceImageSource
from tasks.base import BlockflowTask
from tasks import retrying


class GetImage(BlockflowTask):
    """Look the image up in Glance. Reversion strategy: nothing to undo."""

    def execute(self, device):
        image = retrying.call('image.get', GlanceImageSource(self.clients).get,
                              device['image_id'])
        return {k: image.get(k) for k in ('id', 'name', 'size', 'min_disk', 'disk_format',
                                          'status')}
