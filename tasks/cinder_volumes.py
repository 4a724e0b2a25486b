"""Tasks that read and create Cinder volumes."""

import time

from cinderclient import exceptions as cinder_exc

from blockflow.clients import volume_poller
from blockflow import exceptions
from blockflow.request import atom_names
from blockflow.request import kinds
from tasks.base import BlockflowTask
from tasks.base import undo_call
from tasks.base import UndoFailed
from tasks import retrying

ALLOCATE_RETRIES = 60          # Nova's block_device_allocate_retries
ALLOCATE_INTERVAL_S = 3.0      # Nova's block_device_allocate_retries_interval
# A volume in one of these is on its way somewhere: wait before deleting it.
BUSY_STATES = frozenset({'creating', 'downloading', 'backing-up', 'restoring-backup',
                         'uploading', 'extending', 'maintenance', 'awaiting-transfer'})
# Still attached or reserved: an attachment undo failed before; waiting will not help.
ATTACHED_STATES = frozenset({'in-use', 'attaching', 'reserved', 'detaching'})
DELETE_WAIT_S = 60.0
DELETE_POLL_S = 0.1


def volume_name(instance_uuid, device_name):
    return f"blockflow-{instance_uuid}-{atom_names.strip_dev(device_name)}"


def find_created_volumes(cinder, instance_uuid, device_name):
    """The volumes blockflow made for this device: its name and instance metadata."""
    name = volume_name(instance_uuid, device_name)
    return [v for v in cinder.volumes.list(search_opts={'name': name})
            if (v.metadata or {}).get('blockflow_instance') == instance_uuid]


# --- undo functions (boot reverts and the delete flow share them) ------------------

def delete_volume(clients, volume_id):
    """Delete one volume and wait until it is gone; busy states are waited out."""
    cinder = clients.cinder()
    deadline = time.monotonic() + DELETE_WAIT_S
    while True:
        try:
            volume = undo_call('volume.get', 'volume', volume_id, cinder.volumes.get,
                               volume_id)
        except cinder_exc.NotFound:
            return
        status = volume.status
        if status == 'error_deleting':
            raise UndoFailed('volume', volume_id, 'volume.delete', 'volume is error_deleting')
        if status in ATTACHED_STATES:
            raise UndoFailed('volume', volume_id, 'volume.delete',
                             f'volume is still attached ({status})')
        if status != 'deleting' and status not in BUSY_STATES:
            try:
                undo_call('volume.delete', 'volume', volume_id, cinder.volumes.delete,
                          volume_id)
            except cinder_exc.NotFound:
                return
            except UndoFailed as exc:
                # A 400 (the status moved on meanwhile) is looked at again below.
                if not isinstance(exc.__cause__, cinder_exc.BadRequest):
                    raise
        if time.monotonic() > deadline:
            raise UndoFailed('volume', volume_id, 'volume.delete',
                             f'volume still {status} after {DELETE_WAIT_S:.0f}s')
        time.sleep(DELETE_POLL_S)


def delete_created_volumes(clients, instance_uuid, device_name, volume_ids=()):
    """Delete every volume blockflow made for the device, found by its identity
    (plus any id a saved result names), so a create whose answer was lost is
    undone too. Never touches a user's volume: those carry no such name."""
    cinder = clients.cinder()
    found = undo_call('volume.list', 'volume', volume_name(instance_uuid, device_name),
                      find_created_volumes, cinder, instance_uuid, device_name)
    for volume_id in sorted({v.id for v in found} | set(volume_ids or ())):
        delete_volume(clients, volume_id)


class GetSnapshot(BlockflowTask):
    """Read the snapshot (and its volume's type when the BDM has none).
    Reversion strategy: nothing to undo."""

    def execute(self, device):
        cinder = self.clients.cinder()
        snapshot = retrying.call('snapshot.get', cinder.volume_snapshots.get,
                                 device['snapshot_id'])
        volume_type = device.get('volume_type')
        if not volume_type and getattr(snapshot, 'volume_id', None):
            try:
                volume_type = retrying.call('volume.get', cinder.volumes.get,
                                            snapshot.volume_id).volume_type
            except cinder_exc.NotFound:
                volume_type = None
        return {'id': snapshot.id, 'size': snapshot.size, 'volume_type': volume_type}


class GetVolume(BlockflowTask):
    """Check an existing volume can be attached. Reversion strategy: nothing to undo."""

    def execute(self, device):
        volume = retrying.call('volume.get', self.clients.cinder().volumes.get,
                               device['volume_id'])
        if volume.status not in ('available', 'in-use', 'reserved') or \
                (volume.status != 'available' and not volume.multiattach):
            raise exceptions.InvalidVolume(
                reason=f'volume {volume.id} is {volume.status}, not available')
        # (volume_id, volume): the attach steps need no GET of their own.
        return volume.id, volume_poller.volume_facts(volume)


class CreateVolume(BlockflowTask):
    """Create the device's volume, or find the one an earlier run created.

    The volume carries a deterministic name and metadata (instance, device),
    so a re-run after a crash, or a retry after a lost answer, finds it
    instead of making a second one. Cinder's 413 (over quota) is not retried.
    Reversion strategy: delete the volumes found by that identity (never a
    user's), whatever the saved result says.
    """

    def execute(self, instance_uuid, device, source=None):
        cinder = self.clients.cinder()
        dev = atom_names.device_key(device)
        name = volume_name(instance_uuid, device['device_name'])
        metadata = {'blockflow_instance': instance_uuid, 'blockflow_device': dev,
                    volume_poller.MANAGED_KEY: 'true'}
        source = source or {}
        size = device.get('volume_size') or source.get('size')
        kwargs = {'name': name, 'metadata': metadata,
                  'volume_type': device.get('volume_type') or source.get('volume_type')}
        spec = kinds.spec_of(device['kind'])
        if spec.create_volume_arg and device.get(spec.source_id_field):
            kwargs[spec.create_volume_arg] = device[spec.source_id_field]
        if device.get('availability_zone'):
            kwargs['availability_zone'] = device['availability_zone']

        def find():
            existing = find_created_volumes(cinder, instance_uuid, device['device_name'])
            return existing[0].id if existing else None

        return retrying.create_once('volume.create', find,
                                    lambda: self.clients.cinder(once=True).volumes.create(
                                        size, **kwargs).id,
                                    look_first=not self.take_unstarted())

    def revert(self, result, instance_uuid, device, **kwargs):
        if self.failed_before_acting(result):
            return
        self.run_undo('delete_created_volumes', device['device_name'],
                      instance_uuid=instance_uuid, device_name=device['device_name'],
                      volume_ids=[result] if self.produced(result) else [])


class WaitForVolume(BlockflowTask):
    """Wait until the volume is available, failing at once on error; the
    process-wide poller asks Cinder once per interval for all waiting volumes.
    Provides the volume's ``volume_facts`` (None if only its status was seen).
    Reversion strategy: nothing to undo (CreateVolume's revert deletes)."""

    def execute(self, volume_id):
        budget = ALLOCATE_RETRIES * ALLOCATE_INTERVAL_S
        started = time.monotonic()
        status, facts = volume_poller.poller_for(self.clients).wait_volume(volume_id, budget)
        if status == 'available':
            # The answer that said 'available' tells the attach steps what
            # they need of the volume (``volume``): no GET of their own.
            return facts
        raise exceptions.VolumeNotCreated(
            volume_id=volume_id, seconds=round(time.monotonic() - started, 1),
            attempts='-', volume_status=status or 'creating')


class GetBackup(BlockflowTask):
    """Read the backup a volume is restored from. Reversion strategy: nothing to undo."""

    def execute(self, device):
        backup = retrying.call('backup.get', self.clients.cinder().backups.get,
                               device['backup_id'])
        return {'id': backup.id, 'size': backup.size, 'volume_type': device.get('volume_type')}
