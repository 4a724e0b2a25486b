"""End-to-end boots on the embedded cloud over HTTP, real libvirt (test:///default),
real local disks — every kind, both attach APIs, and failures that must leave nothing."""

import copy
import json
import os
import pathlib
import uuid

import pytest

from blockflow.clients.hypervisor import domain
from blockflow.clients import openstack as clients_module
from blockflow.cloud.server import read_request_log
from blockflow.runner import boot as boot_module

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / 'examples'
USER_VOLUME = '56494430-5460-4582-a3d0-e22cb4ef0cd2'
ALL_KINDS = json.loads((EXAMPLES / 'all-kinds.json').read_text())
EXPECTED_KINDS = {'image->volume', 'snapshot->volume', 'blank->volume', 'volume',
                  'blank->local', 'blank->local swap'}


def _options(cloud, tmp_path, attach_api='attachments', **extra):
    return boot_module.BootOptions(
        instance_uuid=str(uuid.uuid4()), cloud_ref=clients_module.embedded_ref(cloud),
        connection=f'sqlite:///{tmp_path}/flows.sqlite', attach_api=attach_api,
        instances_path=str(tmp_path / 'instances'), **extra)


def _blockflow_volumes(cloud, instance_uuid):
    return [v for v in cloud.store.list('volumes')
            if v['metadata'].get('blockflow_instance') == instance_uuid]


def _attachments(cloud, instance_uuid):
    return [a for a in cloud.store.list('attachments') if a['instance'] == instance_uuid]


@pytest.mark.parametrize('attach_api', ['attachments', 'legacy'])
def test_all_kinds_boot(embedded_cloud, tmp_path, attach_api):
    options = _options(embedded_cloud, tmp_path, attach_api)
    plan, outcome, rows = boot_module.boot(copy.deepcopy(ALL_KINDS), options)
    assert outcome.ok, outcome.failure
    assert {d['kind'] for d in plan.devices} == EXPECTED_KINDS
    created = _blockflow_volumes(embedded_cloud, options.instance_uuid)
    assert len(created) == 3                       # image, snapshot and blank volumes
    assert all(v['status'] == 'in-use' for v in created)
    user = embedded_cloud.store.get('volumes', USER_VOLUME)
    assert user['status'] == 'in-use'
    assert len(_attachments(embedded_cloud, options.instance_uuid)) == 4
    image_volume = next(v for v in created if v['image_id'])
    assert image_volume['bootable'] == 'true'
    disks = domain.Hypervisor().disks(options.instance_uuid)
    assert sorted(d['target_dev'] for d in disks) == ['vda', 'vdb', 'vdc', 'vdd', 'vde', 'vdf']
    root = next(d for d in disks if d['target_dev'] == 'vda')
    assert root['boot_order'] == 1 and root['serial'] == image_volume['id']
    local = {r['device_name']: r['local_path'] for r in rows if r['local_path']}
    assert set(local) == {'/dev/vdb', '/dev/vdc'}
    assert all(os.path.exists(p) for p in local.values())
    assert len(rows) == 6


# A clean boot exports in the attachment create (connector in the create):
# attachment.update is only asked after a lost answer (tests/boot/test_fault_matrix.py).
@pytest.mark.parametrize('attach_api, op', [
    ('attachments', 'volume.create'),
    ('attachments', 'attachment.create'),
    ('attachments', 'attachment.complete'),
    ('legacy', 'volume.action.os-reserve'),
    ('legacy', 'volume.action.os-initialize_connection'),
    ('legacy', 'volume.action.os-attach'),
])
def test_failure_at_a_cinder_step_leaves_nothing(embedded_cloud, tmp_path, attach_api, op,
                                                 fast_retries):
    # Fail the last call of the op a boot makes (and every retry of it), so
    # earlier devices have done their work and must be undone.
    embedded_cloud.faults.fail(op, nth=3 if op != 'image.download' else 1, status=500,
                               times=100)
    options = _options(embedded_cloud, tmp_path, attach_api)
    _plan, outcome, _rows = boot_module.boot(copy.deepcopy(ALL_KINDS), options)
    assert not outcome.ok
    _assert_nothing_left(embedded_cloud, options, tmp_path)


IMAGE_LOCAL = {'server': {
    'name': 'vm', 'flavorRef': '42', 'networks': 'none',
    'imageRef': 'ac408821-c95a-448f-9292-73986c790911',
    'block_device_mapping_v2': [
        {'source_type': 'image', 'uuid': 'ac408821-c95a-448f-9292-73986c790911',
         'destination_type': 'local', 'boot_index': 0},
        {'source_type': 'blank', 'destination_type': 'volume', 'volume_size': 1}]}}


def test_image_local_boot_makes_a_qcow2_overlay(embedded_cloud, tmp_path):
    import subprocess
    options = _options(embedded_cloud, tmp_path)
    plan, outcome, rows = boot_module.boot(copy.deepcopy(IMAGE_LOCAL), options)
    assert outcome.ok, outcome.failure
    root = next(r for r in rows if r['device_name'] == '/dev/vda')
    info = json.loads(subprocess.run(['qemu-img', 'info', '--output=json', root['local_path']],
                                     capture_output=True, text=True, check=True).stdout)
    assert info['format'] == 'qcow2' and info['backing-filename'].startswith(
        str(tmp_path / 'instances' / '_base'))


def test_image_download_failure_reverts(embedded_cloud, tmp_path):
    embedded_cloud.faults.fail('image.download', nth=1, status=500)
    options = _options(embedded_cloud, tmp_path)
    _plan, outcome, _rows = boot_module.boot(copy.deepcopy(IMAGE_LOCAL), options)
    assert not outcome.ok
    _assert_nothing_left(embedded_cloud, options, tmp_path)


def test_volume_ending_in_error_reverts_everything(embedded_cloud, tmp_path):
    options = _options(embedded_cloud, tmp_path)
    embedded_cloud.faults.volumes_end_in_error.add(
        f'blockflow-{options.instance_uuid}-vdf')
    _plan, outcome, _rows = boot_module.boot(copy.deepcopy(ALL_KINDS), options)
    assert not outcome.ok and 'did not finish being created' in outcome.failure
    _assert_nothing_left(embedded_cloud, options, tmp_path)


def test_keep_on_failure_leaves_work_for_inspection(embedded_cloud, tmp_path, fast_retries):
    embedded_cloud.faults.fail('attachment.complete', nth=2, times=100)
    options = _options(embedded_cloud, tmp_path, keep_on_failure=True)
    _plan, outcome, _rows = boot_module.boot(copy.deepcopy(ALL_KINDS), options)
    assert not outcome.ok
    assert _blockflow_volumes(embedded_cloud, options.instance_uuid)


def test_create_volume_is_idempotent(embedded_cloud, tmp_path):
    from tasks import cinder_volumes
    clients = clients_module.Clients(clients_module.embedded_ref(embedded_cloud))
    task = cinder_volumes.CreateVolume(clients=clients, name='create')
    device = {'device_name': '/dev/vdb', 'volume_size': 1, 'kind': 'blank->volume'}
    first = task.execute('11111111-2222-4333-8444-555555555555', device)
    second = task.execute('11111111-2222-4333-8444-555555555555', device)
    assert first == second
    assert len(_blockflow_volumes(embedded_cloud, '11111111-2222-4333-8444-555555555555')) == 1
    task.revert(first, instance_uuid='11111111-2222-4333-8444-555555555555', device=device)
    assert not _blockflow_volumes(embedded_cloud, '11111111-2222-4333-8444-555555555555')


def _assert_nothing_left(cloud, options, tmp_path):
    assert _blockflow_volumes(cloud, options.instance_uuid) == []
    assert _attachments(cloud, options.instance_uuid) == []
    user = cloud.store.get('volumes', USER_VOLUME)
    assert user['status'] == 'available' and user['attachments'] == []
    assert domain.Hypervisor().disks(options.instance_uuid) == []
    instance_dir = tmp_path / 'instances' / options.instance_uuid
    assert not instance_dir.exists() or not any(
        p for p in instance_dir.iterdir() if not p.name.startswith('.'))


@pytest.mark.parametrize('attach_api', ['attachments', 'legacy'])
def test_delete_tears_down_exactly_what_it_should(embedded_cloud, tmp_path, attach_api):
    from blockflow.runner import teardown
    options = _options(embedded_cloud, tmp_path, attach_api)
    _plan, outcome, rows = boot_module.boot(copy.deepcopy(ALL_KINDS), options)
    assert outcome.ok, outcome.failure
    kept = [r['volume_id'] for r in rows if r['volume_id'] and not r['delete_on_termination']]
    teardown.teardown(options.instance_uuid, options.cloud_ref, options.connection)
    import time
    deadline = time.monotonic() + 10
    while _blockflow_volumes(embedded_cloud, options.instance_uuid) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert _blockflow_volumes(embedded_cloud, options.instance_uuid) == []
    assert _attachments(embedded_cloud, options.instance_uuid) == []
    assert kept == [USER_VOLUME]
    user = embedded_cloud.store.get('volumes', USER_VOLUME)
    assert user['status'] == 'available'          # the user's volume is kept
    assert not any(os.path.exists(r['local_path']) for r in rows if r['local_path'])
    assert domain.Hypervisor().disks(options.instance_uuid) == []


def test_show_reports_durations_and_volume_ids(embedded_cloud, tmp_path, capsys):
    from blockflow.cli import main as cli
    options = _options(embedded_cloud, tmp_path)
    _plan, outcome, _rows = boot_module.boot(copy.deepcopy(ALL_KINDS), options)
    assert cli.main(['show', outcome.flow_id, '-f', 'json',
                     '--connection', options.connection]) == 0
    shown = json.loads(capsys.readouterr().out)
    create = next(r for r in shown['devices']['vdf'] if r['step'] == 'create-volume')
    assert create['state'] == 'SUCCESS' and create['duration_s'] is not None
    assert create['volume_id'] in {
        v['id'] for v in _blockflow_volumes(embedded_cloud, options.instance_uuid)}


def _blank_request(n):
    return {'server': {'name': 'vm', 'flavorRef': '1', 'imageRef': '', 'networks': 'none',
                       'block_device_mapping_v2': [
                           {'source_type': 'blank', 'destination_type': 'volume',
                            'volume_size': 1, 'boot_index': 0 if i == 0 else -1}
                           for i in range(n)]}}


def test_waiting_volumes_are_polled_together(embedded_cloud, tmp_path):
    """Status polls happen once per interval, however many devices are waiting."""
    import time
    from blockflow.clients import volume_poller
    embedded_cloud.faults.set_latency(create_base_s=0.8)
    for n in (2, 12):
        embedded_cloud.faults.reset_counters()
        calls_before = len(read_request_log(embedded_cloud.state_dir))
        options = _options(embedded_cloud, tmp_path)
        started = time.monotonic()
        _plan, outcome, _rows = boot_module.boot(_blank_request(n), options)
        elapsed = time.monotonic() - started
        assert outcome.ok, outcome.failure
        counters = embedded_cloud.counters()
        # A volume list is either CreateVolume's look-up by name (only when a create
        # may have acted before) or a status poll; polls are bounded by elapsed time
        # over the interval, not by the device count.
        lists = [c for c in read_request_log(embedded_cloud.state_dir)[calls_before:]
                 if c['method'] == 'GET' and c['path'].endswith(('/volumes', '/volumes/detail'))]
        polls = [c for c in lists if 'name=' not in c['query']]
        assert len(lists) == counters['volume.list'], (lists, counters)
        assert 1 <= len(polls) <= elapsed / volume_poller.POLL_INTERVAL_S + 2, (n, polls, elapsed)
        # Outside the wait, a device reads its volume once (initialize-connection):
        # no per-volume status polling.
        assert counters.get('volume.get', 0) <= n + 2, counters
