"""backup->volume (the seed's Nova fork, --enable-backup-source) boots end to end
on the embedded cloud, which seeds the backup the example names."""

import json

from blockflow.runner import boot as boot_module
from blockflow.runner import teardown
from tests.boot.test_boot_e2e import EXAMPLES
from tests.boot.test_boot_e2e import _attachments
from tests.boot.test_boot_e2e import _blockflow_volumes
from tests.boot.test_boot_e2e import _options

BACKUP_REQUEST = json.loads((EXAMPLES / 'backup-volume.json').read_text())


def test_backup_volume_boots_and_deletes(embedded_cloud, tmp_path):
    options = _options(embedded_cloud, tmp_path, enable_backup_source=True)
    plan, outcome, rows = boot_module.boot(BACKUP_REQUEST, options)
    assert outcome.ok, outcome.failure
    root = next(r for r in rows if r['device_name'] == '/dev/vda')
    assert root['kind'] == 'backup->volume'
    (volume,) = _blockflow_volumes(embedded_cloud, options.instance_uuid)
    assert volume['id'] == root['volume_id'] and volume['backup_id'] == root['backup_id']
    assert (volume['status'], volume['size']) == ('in-use', 2)
    teardown.teardown(options.instance_uuid, options.cloud_ref, options.connection)
    assert _blockflow_volumes(embedded_cloud, options.instance_uuid) == []
    assert _attachments(embedded_cloud, options.instance_uuid) == []
