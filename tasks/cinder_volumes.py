"""Tasks that read and create Cinder volumes."""

import time

from cinderclient import exceptions as cinder_exc

from blockflow import exceptions
from tasks import volume_poller
from tasks.base import BlockflowTask

ALLOCATE_RETRIES = 60          # Nova's block_device_allocate_retries
ALLOCATE_INTERVAL_S = 3.0      # Nova's block_device_allocate_retries_interval


def volume_name(instance_uuid, device_name):
    return f"blockflow-{instance_uuid}-{device_name.replace('/dev/', '')}"


class GetImage(BlockflowTask):
    """Look the image up in Glance. Reversion strategy: nothing to undo."""

    def execute(self, device):
        from blockflow.clients import GlanceImageSource
        image = GlanceImageSource(self.clients).get(device['image_id'])
        return {k: image.get(k) for k in ('id', 'name', 'size', 'min_disk', 'disk_format',
                                          'status')}


class GetSnapshot(BlockflowTask):
    """Read the snapshot (and its volume's type when the BDM has none).
    Reversion strategy: nothing to undo."""

    def execute(self, device):
        cinder = self.clients.cinder()
        snapshot = cinder.volume_snapshots.get(device['snapshot_id'])
        volume_type = device.get('volume_type')
        if not volume_type and getattr(snapshot, 'volume_id', None):
            try:
                volume_type = cinder.volumes.get(snapshot.volume_id).volume_type
            except cinder_exc.NotFound:
                volume_type = None
        return {'id': snapshot.id, 'size': snapshot.size, 'volume_type': volume_type}


class GetVolume(BlockflowTask):
    """Check an existing volume can be attached. Reversion strategy: nothing to undo."""

    def execute(self, device):
        volume = self.clients.cinder().volumes.get(device['volume_id'])
        if volume.status not in ('available', 'in-use', 'reserved') or \
                (volume.status != 'available' and not volume.multiattach):
            raise exceptions.InvalidVolume(
                reason=f'volume {volume.id} is {volume.status}, not available')
        return volume.id


class CreateVolume(BlockflowTask):
    """Create the device's volume, or find the one an earlier run created.

    The volume carries a deterministic name and metadata (instance, device),
    so a re-run after a crash finds it instead of making a second one.
    Reversion strategy: delete the volume this flow created (never a user's).
    """

    def execute(self, instance_uuid, device, source=None):
        cinder = self.clients.cinder()
        dev = device['device_name'].replace('/dev/', '')
        name = volume_name(instance_uuid, device['device_name'])
        metadata = {'blockflow_instance': instance_uuid, 'blockflow_device': dev,
                    volume_poller.MANAGED_KEY: 'true'}
        existing = [v for v in cinder.volumes.list(search_opts={'name': name})
                    if (v.metadata or {}).get('blockflow_instance') == instance_uuid]
        if existing:
            return existing[0].id
        source = source or {}
        size = device.get('volume_size') or source.get('size')
        kwargs = {'name': name, 'metadata': metadata,
                  'volume_type': device.get('volume_type') or source.get('volume_type')}
        if device.get('snapshot_id'):
            kwargs['snapshot_id'] = device['snapshot_id']
        if device.get('image_id'):
            kwargs['imageRef'] = device['image_id']
        if device.get('backup_id'):
            kwargs['backup_id'] = device['backup_id']
        if device.get('availability_zone'):
            kwargs['availability_zone'] = device['availability_zone']
        volume = cinder.volumes.create(size, **kwargs)
        return volume.id

    def revert(self, result, **kwargs):
        if not self.produced(result):
            return
        cinder = self.clients.cinder()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                volume = cinder.volumes.get(result)
            except cinder_exc.NotFound:
                return
            if volume.status in ('creating', 'downloading', 'deleting', 'attaching',
                                 'reserved'):
                time.sleep(0.1)
                continue
            try:
                cinder.volumes.delete(result)
                return
            except cinder_exc.NotFound:
                return
            except Exception as exc:    # keep reverting the rest
                self.warn('could not delete volume %s: %s', result, exc)
                return
        self.warn('volume %s did not become deletable', result)


class WaitForVolume(BlockflowTask):
    """Wait until the volume is available, failing at once on error; the
    process-wide poller asks Cinder once per interval for all waiting volumes.
    Reversion strategy: nothing to undo (CreateVolume's revert deletes)."""

    def execute(self, volume_id):
        budget = ALLOCATE_RETRIES * ALLOCATE_INTERVAL_S
        started = time.monotonic()
        status = volume_poller.poller_for(self.clients).wait(volume_id, budget)
        if status == 'available':
            return round(time.monotonic() - started, 3)
        raise exceptions.VolumeNotCreated(
            volume_id=volume_id, seconds=round(time.monotonic() - started, 1),
            attempts='-', volume_status=status or 'creating')


class GetBackup(BlockflowTask):
    """Read the backup a volume is restored from. Reversion strategy: nothing to undo."""

    def execute(self, device):
        backup = self.clients.cinder().backups.get(device['backup_id'])
        return {'id': backup.id, 'size': backup.size, 'volume_type': device.get('volume_type')}
