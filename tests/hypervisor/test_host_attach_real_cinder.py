"""Host attach through os-brick against the real Cinder of tools/realcinder, whose
volumes are files exported as driver_volume_type 'local' (device_path = the file).

os-brick's LOCAL connector is real and unmocked; what it did is read from its own
trace log (os-brick logs every connect_volume/disconnect_volume call and return at
DEBUG), the disk XML from libvirt, the attachments from Cinder.
"""

import contextlib
import logging
import re
import time
import uuid

import pytest
from taskflow import engines
from taskflow import task
from taskflow.patterns import linear_flow

from blockflow.clients import cloud_catalog
from blockflow.clients.hypervisor import connectors
from blockflow.clients.hypervisor import domain
from blockflow import persistence
from blockflow.runner import boot as boot_module
from tasks import cinder_attach
from tasks import hypervisor as hv_tasks

pytestmark = pytest.mark.realcinder

BRICK_LOCAL_LOGGER = 'os_brick.initiator.connectors.local'
_PATH = re.compile(r"'(?:path|device_path)': '([^']+)'")


@pytest.fixture
def brick_calls(caplog):
    """The calls os-brick's LOCAL connector reports in its trace log: [(call, path)]."""
    caplog.set_level(logging.DEBUG, logger=BRICK_LOCAL_LOGGER)

    def calls():
        found = []
        for record in caplog.records:
            if record.name != BRICK_LOCAL_LOGGER:
                continue
            message = record.getMessage()
            for name in ('connect_volume', 'disconnect_volume'):
                if message.startswith(f'==> {name}: call') or \
                        message.startswith(f'<== {name}: return'):
                    paths = _PATH.findall(message)
                    found.append((message[:3] + ' ' + name, paths[-1] if paths else None))
        return found
    return calls


def _wait(cinder, volume_id, status='available', timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        volume = cinder.volumes.get(volume_id)
        if volume.status == status:
            return volume
        assert volume.status not in ('error', 'error_deleting'), volume.status
        time.sleep(0.05)
    raise AssertionError(f'volume {volume_id} stayed {volume.status}')


def _volume_file(real_cinder, volume_id):
    return f'{real_cinder.state_dir}/volumes/volume-{volume_id}'


def _atom_results(connection, suffix):
    backend = persistence.get_backend(connection)
    try:
        with contextlib.closing(backend.get_connection()) as conn:
            return {ad.name: ad.results for book in conn.get_logbooks() for fd in book
                    for ad in fd if ad.name.endswith(suffix)}
    finally:
        backend.close()


def test_boot_disk_uses_the_path_connect_volume_returned_and_delete_disconnects(
        real_cinder, tmp_path, brick_calls):
    cinder = real_cinder.cinder_client()
    user = cinder.volumes.create(1, name='host-attach-existing')
    _wait(cinder, user.id)
    options = boot_module.BootOptions(
        instance_uuid=str(uuid.uuid4()), cloud_ref=real_cinder.ref,
        # A noauth Cinder has no Compute API to read flavors from: the boot is given one.
        flavors={'42': cloud_catalog.BUILTIN_FLAVORS['42']},
        connection=f'sqlite:///{tmp_path}/flows.sqlite', libvirt_uri='test:///default',
        instances_path=str(tmp_path / 'instances'))
    body = {'server': {'name': 'host-attach', 'flavorRef': '42', 'imageRef': '',
                       'networks': 'none', 'block_device_mapping_v2': [
                           {'boot_index': 0, 'source_type': 'blank', 'volume_size': 1,
                            'destination_type': 'volume', 'delete_on_termination': True},
                           {'uuid': user.id, 'source_type': 'volume',
                            'destination_type': 'volume'}]}}
    _plan, outcome, rows = boot_module.boot(body, options)
    assert outcome.ok, outcome.failure

    volume_rows = [r for r in rows if r['volume_id']]     # the flavor adds local disks
    volume_by_dev = {r['device_name'].replace('/dev/', ''): r['volume_id'] for r in volume_rows}
    expected = {dev: _volume_file(real_cinder, vid) for dev, vid in volume_by_dev.items()}
    returned = sorted(path for call, path in brick_calls() if call == '<== connect_volume')
    assert returned == sorted(expected.values())
    disks = {d['target_dev']: d['source'] for d in domain.Hypervisor().disks(
        options.instance_uuid)}
    assert {dev: disks[dev] for dev in expected} == expected
    # The attach step's persisted result names the host device, for detach and delete.
    results = _atom_results(options.connection, '-hypervisor-attach')
    host_devices = {r['target_dev']: r['host_device'] for r in results.values()
                    if r['target_dev'] in expected}
    assert host_devices == {dev: {'type': 'local', 'path': path}
                            for dev, path in expected.items()}
    assert not [c for c in brick_calls() if 'disconnect' in c[0]]

    # What `blockflow delete` calls for each record, after removing the disk.
    for row in volume_rows:
        assert connectors.release_host_connection(row) is True
    disconnected = sorted(path for call, path in brick_calls()
                          if call == '==> disconnect_volume')
    assert disconnected == sorted(expected.values())


def _attach_flow(real_cinder, hypervisor, then=None):
    clients = real_cinder.clients
    flow = linear_flow.Flow('host-attach')
    flow.add(cinder_attach.ReserveVolume(name='reserve', clients=clients,
                                         provides=('attachment_id', 'attachment_connection')),
             cinder_attach.InitializeConnection(name='connect', clients=clients,
                                                provides='connection_info'),
             hv_tasks.AttachVolumeDisk(hypervisor, name='hypervisor-attach',
                                       clients=clients, provides='disk'),
             cinder_attach.MarkAttached(name='mark-attached', clients=clients))
    if then is not None:
        flow.add(then)
    return flow


class FailAfterAttach(task.Task):
    """A later step of the boot that fails: everything before it is reverted."""

    def execute(self):
        raise RuntimeError('a later step failed')


@pytest.fixture
def attach_setup(real_cinder):
    cinder = real_cinder.cinder_client()
    volume = cinder.volumes.create(1, name='host-attach-revert')
    _wait(cinder, volume.id)
    hypervisor = domain.Hypervisor('test:///default')
    instance_uuid = str(uuid.uuid4())
    hypervisor.ensure_domain(instance_uuid)
    yield cinder, volume, hypervisor, instance_uuid
    hypervisor.undefine(instance_uuid)


def _store(instance_uuid, volume_id, disk_bus='virtio'):
    return {'instance_uuid': instance_uuid, 'volume_id': volume_id,
            'device': {'device_name': '/dev/vdb', 'disk_bus': disk_bus,
                       'device_type': 'disk', 'boot_order': None}}


def _assert_released_in_cinder(real_cinder, cinder, volume_id, instance_uuid):
    assert _wait(cinder, volume_id).attachments == []
    assert [a for a in real_cinder.cinder_client('3.44').attachments.list(
        search_opts={'volume_id': volume_id}) if a.instance == instance_uuid] == []


def test_revert_removes_the_disk_then_disconnects(real_cinder, attach_setup, brick_calls):
    cinder, volume, hypervisor, instance_uuid = attach_setup
    path = _volume_file(real_cinder, volume.id)
    engine = engines.load(_attach_flow(real_cinder, hypervisor, FailAfterAttach()),
                          store=_store(instance_uuid, volume.id))
    with pytest.raises(RuntimeError, match='a later step failed'):
        engine.run()
    assert brick_calls() == [('==> connect_volume', path), ('<== connect_volume', path),
                             ('==> disconnect_volume', path),
                             ('<== disconnect_volume', None)]
    assert hypervisor.disks(instance_uuid) == []
    _assert_released_in_cinder(real_cinder, cinder, volume.id, instance_uuid)


def test_libvirt_refusing_the_disk_disconnects_what_was_connected(
        real_cinder, attach_setup, brick_calls):
    """The attach step fails after connect_volume: its revert has no saved result
    (a Failure), so the connection is found by its identity and disconnected."""
    cinder, volume, hypervisor, instance_uuid = attach_setup
    path = _volume_file(real_cinder, volume.id)
    engine = engines.load(_attach_flow(real_cinder, hypervisor),
                          store=_store(instance_uuid, volume.id, disk_bus='no-such-bus'))
    with pytest.raises(Exception, match='libvirt'):
        engine.run()
    calls = brick_calls()
    assert calls[:2] == [('==> connect_volume', path), ('<== connect_volume', path)]
    assert ('==> disconnect_volume', path) in calls[2:]
    assert hypervisor.disks(instance_uuid) == []
    _assert_released_in_cinder(real_cinder, cinder, volume.id, instance_uuid)


def test_revert_without_a_host_connection_does_not_disconnect(
        real_cinder, attach_setup, brick_calls):
    cinder, volume, hypervisor, instance_uuid = attach_setup
    attach = hv_tasks.AttachVolumeDisk(hypervisor, name='hypervisor-attach',
                                       clients=real_cinder.clients)
    info = {'driver_volume_type': 'local',
            'data': {'device_path': _volume_file(real_cinder, volume.id)}}
    # A result saying nothing was connected: skipped.
    attach.revert({'target_dev': 'vdb', 'type': 'local', 'host_device': None},
                  instance_uuid=instance_uuid, volume_id=volume.id, connection_info=info)
    assert brick_calls() == []
    # A result from before host_device was saved: found by identity, disconnected.
    attach.revert({'target_dev': 'vdb', 'type': 'local'},
                  instance_uuid=instance_uuid, volume_id=volume.id, connection_info=info)
    assert [c for c, _p in brick_calls()] == ['==> disconnect_volume',
                                              '<== disconnect_volume']
