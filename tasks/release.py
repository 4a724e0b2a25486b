"""Tasks of the delete flow: each releases one thing, found by identity, and is
idempotent (a resumed delete runs the interrupted step again).

The Cinder steps call the very undo functions the boot's reverts call
(tasks.cinder_attach, tasks.cinder_volumes); the hypervisor and local-disk
steps call blockflow.clients.hypervisor and blockflow.clients.localdisk. Every step is tried
again with backoff (``retrying.REVERT_POLICY``); a step that still fails
fails the delete, which ``blockflow delete`` can then run again.
"""

import os

from blockflow.clients.hypervisor import connectors
from blockflow.clients import localdisk
from blockflow.persistence import records
from blockflow.request import atom_names
from tasks.base import BlockflowTask
from tasks.base import undo_call
from tasks import cinder_attach
from tasks import cinder_volumes
from tasks import retrying
from tasks import undo


def _patiently(what, func, *args, **kwargs):
    return retrying.retrying(what, retrying.REVERT_POLICY, retry_on=lambda exc: True)(
        func, *args, **kwargs)


def _dev(device):
    return atom_names.device_key(device)


class _HypervisorTask(BlockflowTask):
    def __init__(self, hypervisor, **kwargs):
        super().__init__(**kwargs)
        self.hypervisor = hypervisor


class DetachDisk(_HypervisorTask):
    """Remove the device's disk from the domain. Reversion strategy: none (a delete
    is only ever finished, never undone)."""

    def execute(self, instance_uuid, device):
        removed = _patiently('detach disk', self.hypervisor.detach_disk, instance_uuid,
                             _dev(device))
        return f"{_dev(device)} {'detached from domain' if removed else 'not in domain'}"


class DisconnectHost(BlockflowTask):
    """Disconnect the device's volume from this host through os-brick (block
    protocols; network ones have nothing on the host), the connection found by
    the record's connection properties. Reversion strategy: none."""

    def __init__(self, records_url, **kwargs):
        super().__init__(**kwargs)
        self.records_url = records_url

    def execute(self, instance_uuid, device):
        row = next((r for r in records.Records(self.records_url).for_instance(instance_uuid)
                    if r['uuid'] == device['key']), None)
        if row is None:
            return f'{_dev(device)} no record, nothing to disconnect'
        disconnected = _patiently('disconnect from host',
                                  connectors.release_host_connection, row)
        return f"{_dev(device)} {'disconnected from host' if disconnected else 'not connected'}"


class ReleaseVolume(BlockflowTask):
    """Undo every attach step of the instance on the device's volume (the boot's
    revert sequence). Reversion strategy: none."""

    def execute(self, instance_uuid, device):
        _patiently('release volume', cinder_attach.release_volume, self.clients,
                   device['attach_api'], instance_uuid, device['volume_id'])
        return f"{_dev(device)} volume {device['volume_id']} released"


class DeleteVolume(BlockflowTask):
    """Delete the device's volume when it is delete_on_termination (and any
    volume blockflow made for the device, found by identity). Reversion strategy: none."""

    def execute(self, instance_uuid, device):
        if not device['delete_on_termination']:
            return f"{_dev(device)} volume {device['volume_id']} kept"
        _patiently('delete volume', cinder_volumes.delete_volume, self.clients,
                   device['volume_id'])
        if device.get('created_volume'):
            _patiently('delete created volumes', cinder_volumes.delete_created_volumes,
                       self.clients, instance_uuid, device['device_name'])
        return f"{_dev(device)} volume {device['volume_id']} deleted"


class RemoveLocalDisk(BlockflowTask):
    """Remove the device's local file. Reversion strategy: none."""

    def execute(self, device):
        removed = localdisk.remove(device['local_path'])
        return f"{_dev(device)} {device['local_path']} {'removed' if removed else 'already gone'}"


class ForgetDevice(BlockflowTask):
    """Mark the device's record deleted. Reversion strategy: none."""

    def __init__(self, records_url, **kwargs):
        super().__init__(**kwargs)
        self.records_url = records_url

    def execute(self, device):
        records.Records(self.records_url).mark_deleted(device['key'])
        return f'{_dev(device)} record deleted'


class SweepInstance(BlockflowTask):
    """What a lost answer may have left without a record: the instance's
    attachments, and volumes blockflow made for it that no kept device owns.
    Reversion strategy: none."""

    def execute(self, instance_uuid, kept_volume_ids):
        def sweep():
            cinder_attach.delete_attachments(self.clients, instance_uuid)
            cinder = self.clients.cinder()
            made = undo_call('volume.list', 'volume', None, cinder.volumes.list,
                             search_opts={'metadata': {'blockflow_instance': instance_uuid}})
            swept = [v.id for v in made if v.id not in set(kept_volume_ids)]
            for volume_id in swept:
                cinder_volumes.delete_volume(self.clients, volume_id)
            return swept
        swept = _patiently('sweep instance', sweep)
        return f"unrecorded volume(s) {', '.join(swept)} deleted" if swept else None


class UndefineDomain(_HypervisorTask):
    """Undefine the instance's domain. Reversion strategy: none."""

    def execute(self, instance_uuid):
        _patiently('undefine domain', self.hypervisor.undefine, instance_uuid)
        return 'domain undefined'


class RetryLeftovers(BlockflowTask):
    """Run again the undo functions earlier reverts recorded as failed (before
    the sweep: a volume left reserved must be freed before it can be deleted).
    Reversion strategy: none."""

    def execute(self, instance_uuid):
        before = len(records.Leftovers(self.leftovers_url).open_for(instance_uuid))
        remaining = undo.retry_leftovers(self.clients, self.leftovers_url, instance_uuid,
                                         retrying.REVERT_POLICY)
        unresolved = [row for row in remaining if row['undo'] in undo.UNDO]
        if unresolved:
            raise undo.LeftoversRemain(count=len(unresolved), details='; '.join(
                records.describe_leftover(row) for row in unresolved))
        undone = before - len(remaining)
        return f'{undone} leftover(s) of earlier reverts undone' if undone else None


class SettleLeftovers(BlockflowTask):
    """Mark the leftovers that had no undo function resolved: the sweep and the
    domain's undefine covered them. Reversion strategy: none."""

    def execute(self, instance_uuid):
        store = records.Leftovers(self.leftovers_url)
        rows = store.open_for(instance_uuid)
        for row in rows:
            store.resolve(row['uuid'])
        return f'{len(rows)} other leftover(s) settled' if rows else None


class RemoveInstanceDir(BlockflowTask):
    """Remove the instance's directory once nothing of ours is in it. Reversion strategy: none."""

    def execute(self, instance_dir):
        try:
            os.rmdir(instance_dir)
        except FileNotFoundError:
            return f'{instance_dir} already gone'
        except OSError:
            # Not empty: someone else's files; never removed blindly.
            return f'{instance_dir} kept (not empty)'
        return f'{instance_dir} removed'
