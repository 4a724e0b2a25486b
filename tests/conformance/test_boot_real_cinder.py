"""blockflow boots against a real Cinder 29 (tests/fixtures/realcinder.py): every kind
of device, both attach APIs, and failures that must leave nothing behind in Cinder."""

import subprocess
import time
import uuid

import pytest

from blockflow.clients import cloud_catalog
from blockflow.clients.hypervisor import domain
from blockflow.cloud import glance as cloud_glance
from blockflow.runner import boot as boot_module

pytestmark = pytest.mark.realcinder

IMAGE_ID = cloud_glance.DEFAULT_IMAGE_ID
EXPECTED_KINDS = {'image->volume', 'snapshot->volume', 'blank->volume', 'volume',
                  'blank->local', 'blank->local swap'}


def _wait(cinder, volume_id, statuses=('available',), timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        volume = cinder.volumes.get(volume_id)
        if volume.status in statuses:
            return volume
        assert volume.status not in ('error', 'error_deleting'), volume.status
        time.sleep(0.05)
    raise AssertionError(f'volume {volume_id} stayed {volume.status}')


def _wait_snapshot(cinder, snapshot_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cinder.volume_snapshots.get(snapshot_id).status == 'available':
            return
        time.sleep(0.05)
    raise AssertionError(f'snapshot {snapshot_id} not available')


@pytest.fixture
def sources(real_cinder):
    """On the real Cinder: a user's existing volume and a snapshot to boot from."""
    cinder = real_cinder.cinder_client()
    parent = cinder.volumes.create(1, name='boot-snapshot-parent')
    user = cinder.volumes.create(1, name='boot-existing-data')
    _wait(cinder, parent.id)
    _wait(cinder, user.id)
    snapshot = cinder.volume_snapshots.create(parent.id, name='boot-snapshot')
    _wait_snapshot(cinder, snapshot.id)
    return {'snapshot_id': snapshot.id, 'user_volume_id': user.id, 'parent_id': parent.id}


def _request(sources, image_id=IMAGE_ID):
    return {'server': {
        'name': 'real-cinder', 'flavorRef': '42', 'imageRef': '', 'networks': 'none',
        'block_device_mapping_v2': [
            {'boot_index': 0, 'uuid': image_id, 'source_type': 'image',
             'destination_type': 'volume', 'volume_size': 1, 'delete_on_termination': True},
            {'uuid': sources['snapshot_id'], 'source_type': 'snapshot',
             'destination_type': 'volume', 'delete_on_termination': True},
            {'source_type': 'blank', 'destination_type': 'volume', 'volume_size': 1,
             'delete_on_termination': True},
            {'uuid': sources['user_volume_id'], 'source_type': 'volume',
             'destination_type': 'volume', 'delete_on_termination': False},
            {'source_type': 'blank', 'destination_type': 'local', 'volume_size': 1,
             'guest_format': 'ext4'},
            {'source_type': 'blank', 'destination_type': 'local', 'volume_size': 512,
             'guest_format': 'swap'}]}}


def _options(real_cinder, tmp_path, attach_api):
    # A noauth Cinder has no Compute API to read flavors from: the boot is given one.
    return boot_module.BootOptions(
        instance_uuid=str(uuid.uuid4()), cloud_ref=real_cinder.ref,
        flavors={'42': cloud_catalog.BUILTIN_FLAVORS['42']},
        connection=f'sqlite:///{tmp_path}/flows.sqlite', attach_api=attach_api,
        libvirt_uri='test:///default', instances_path=str(tmp_path / 'instances'))


def _boot_volumes(cinder, instance_uuid):
    return cinder.volumes.list(search_opts={'metadata': {'blockflow_instance': instance_uuid}})


def _instance_attachments(real_cinder, instance_uuid):
    return real_cinder.cinder_client('3.44').attachments.list(
        search_opts={'instance_id': instance_uuid})


@pytest.mark.parametrize('attach_api', ['attachments', 'legacy'])
def test_all_kinds_boot_on_real_cinder(real_cinder, sources, tmp_path, attach_api):
    cinder = real_cinder.cinder_client()
    options = _options(real_cinder, tmp_path, attach_api)
    plan, outcome, rows = boot_module.boot(_request(sources), options)
    assert outcome.ok, outcome.failure
    assert {d['kind'] for d in plan.devices} == EXPECTED_KINDS

    created = _boot_volumes(cinder, options.instance_uuid)
    assert len(created) == 3                        # image, snapshot and blank volumes
    user = cinder.volumes.get(sources['user_volume_id'])
    for volume in created + [user]:
        assert volume.status == 'in-use', (volume.id, volume.status)
        assert [a['server_id'] for a in volume.attachments] == [options.instance_uuid]
    attachments = _instance_attachments(real_cinder, options.instance_uuid)
    assert sorted(a.volume_id for a in attachments) == sorted(
        [v.id for v in created] + [user.id])
    image_volume = next(v for v in created if getattr(v, 'volume_image_metadata', None))
    assert image_volume.bootable == 'true'
    assert image_volume.volume_image_metadata['image_id'] == IMAGE_ID
    from_snapshot = next(v for v in created if v.snapshot_id)
    assert from_snapshot.snapshot_id == sources['snapshot_id']

    disks = domain.Hypervisor().disks(options.instance_uuid)
    assert sorted(d['target_dev'] for d in disks) == ['vda', 'vdb', 'vdc', 'vdd', 'vde', 'vdf']
    root = next(d for d in disks if d['target_dev'] == 'vda')
    assert root['boot_order'] == 1 and root['serial'] == image_volume.id
    # The root disk is Cinder's own volume file, holding the image converted to raw.
    root_file = f'{real_cinder.state_dir}/volumes/volume-{image_volume.id}'
    info = subprocess.run(['qemu-img', 'info', '--output=json', root_file],
                          capture_output=True, text=True, check=True).stdout
    assert '"format": "raw"' in info
    assert len(rows) == 6


def _delete_snapshot_after_validation(real_cinder, sources, monkeypatch):
    """Validation sees the snapshot; by the time the flow runs it is gone."""
    cinder = real_cinder.cinder_client()
    validate = boot_module.plan_for

    def plan_then_delete(body, options):
        plan = validate(body, options)
        cinder.volume_snapshots.delete(sources['snapshot_id'])
        deadline = time.monotonic() + 30
        while any(s.id == sources['snapshot_id'] for s in cinder.volume_snapshots.list()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return plan
    monkeypatch.setattr(boot_module, 'plan_for', plan_then_delete)
    return IMAGE_ID


def _corrupt_image_after_validation(real_cinder, sources, monkeypatch, tmp_path):
    """A fresh image whose checksum goes wrong after validation: Cinder accepts the
    create, fails the download ("Corrupt image download") and the volume ends in
    error while the other devices are being created and attached."""
    path = tmp_path / 'image.qcow2'
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', str(path), '64M'], check=True)
    image_id = str(uuid.uuid4())
    glance = real_cinder.glance_cloud
    glance.glance.register(image_id, 'to-be-corrupted', str(path), 'qcow2')
    validate = boot_module.plan_for

    def plan_then_corrupt(body, options):
        plan = validate(body, options)
        glance.store.update('images', image_id, os_hash_value='0' * 128)
        return plan
    monkeypatch.setattr(boot_module, 'plan_for', plan_then_corrupt)
    return image_id


@pytest.mark.parametrize('failure', ['snapshot-deleted', 'image-corrupt'])
def test_failed_boot_leaves_nothing_in_real_cinder(real_cinder, sources, tmp_path,
                                                   monkeypatch, failure):
    if failure == 'snapshot-deleted':
        image_id = _delete_snapshot_after_validation(real_cinder, sources, monkeypatch)
    else:
        image_id = _corrupt_image_after_validation(real_cinder, sources, monkeypatch,
                                                   tmp_path)
    cinder = real_cinder.cinder_client()
    before = {v.id for v in cinder.volumes.list()}
    options = _options(real_cinder, tmp_path, 'attachments')
    _plan, outcome, _rows = boot_module.boot(_request(sources, image_id), options)
    assert not outcome.ok
    expected = ('could not be found' if failure == 'snapshot-deleted'
                else 'And its status is error')
    assert expected in outcome.failure, outcome.failure

    # Deletes are asynchronous in Cinder: wait for the boot's volumes to be gone.
    deadline = time.monotonic() + 30
    while _boot_volumes(cinder, options.instance_uuid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _boot_volumes(cinder, options.instance_uuid) == []
    assert {v.id for v in cinder.volumes.list()} <= before
    assert list(_instance_attachments(real_cinder, options.instance_uuid)) == []
    user = cinder.volumes.get(sources['user_volume_id'])
    assert (user.status, user.attachments) == ('available', [])
    assert domain.Hypervisor().disks(options.instance_uuid) == []
    instance_dir = tmp_path / 'instances' / options.instance_uuid
    assert not instance_dir.exists() or not any(
        p for p in instance_dir.iterdir() if not p.name.startswith('.'))
