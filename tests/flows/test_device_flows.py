"""The device flow factory on its own: for each kind, which atoms, in which
order, and which names each binds (what a persisted flow is matched by)."""

import pytest

from blockflow.request import kinds
from flows import device as device_flows

INSTANCE = '3f7c1d2e-0000-4000-8000-00000000abcd'

_ATTACH = [
    ('reserve', 'ReserveVolume', {'vdb.attachment_id': 0, 'vdb.attachment_connection': 1},
     {'volume_id': 'vdb.volume_id', 'volume': 'vdb.volume'}),
    ('initialize-connection', 'InitializeConnection', {'vdb.connection_info': None},
     {'volume_id': 'vdb.volume_id', 'attachment_id': 'vdb.attachment_id',
      'volume': 'vdb.volume', 'attachment_connection': 'vdb.attachment_connection'}),
    ('hypervisor-attach', 'AttachVolumeDisk', {'vdb.disk': None},
     {'volume_id': 'vdb.volume_id', 'connection_info': 'vdb.connection_info'}),
    ('os-attach', 'MarkAttached', {},
     {'volume_id': 'vdb.volume_id', 'attachment_id': 'vdb.attachment_id'}),
    ('record-device', 'RecordDevice', {},
     {'volume_id': 'vdb.volume_id', 'attachment_id': 'vdb.attachment_id',
      'connection_info': 'vdb.connection_info'}),
]
_CREATE_AND_WAIT = [
    ('wait-available', 'WaitForVolume', {'vdb.volume': None},
     {'volume_id': 'vdb.volume_id'}),
]
_LOCAL = [
    ('hypervisor-attach', 'AttachLocalDisk', {'vdb.disk': None},
     {'local_disk': 'vdb.local_disk'}),
    ('record-device', 'RecordDevice', {}, {'local_disk': 'vdb.local_disk'}),
]


def _create(rebind):
    return [('create-volume', 'CreateVolume', {'vdb.volume_id': None}, rebind)]


EXPECTED = {
    kinds.Kind.VOLUME: [
        ('get-volume', 'GetVolume', {'vdb.volume_id': 0, 'vdb.volume': 1}, {})] + _ATTACH,
    kinds.Kind.SNAPSHOT_VOLUME: [
        ('get-snapshot', 'GetSnapshot', {'vdb.source': None}, {})]
        + _create({'source': 'vdb.source'}) + _CREATE_AND_WAIT + _ATTACH,
    kinds.Kind.IMAGE_VOLUME: [
        ('get-image', 'GetImage', {'vdb.image': None}, {})]
        + _create({'source': 'vdb.image'}) + _CREATE_AND_WAIT + _ATTACH,
    kinds.Kind.BLANK_VOLUME: _create({}) + _CREATE_AND_WAIT + _ATTACH,
    kinds.Kind.BACKUP_VOLUME: [
        ('get-backup', 'GetBackup', {'vdb.source': None}, {})]
        + _create({'source': 'vdb.source'}) + _CREATE_AND_WAIT + _ATTACH,
    kinds.Kind.IMAGE_LOCAL: [
        ('get-image', 'GetImage', {'vdb.image': None}, {}),
        ('create-local-disk', 'CreateLocalDisk', {'vdb.local_disk': None},
         {'image': 'vdb.image'})] + _LOCAL,
    kinds.Kind.EPHEMERAL: [
        ('create-local-disk', 'CreateLocalDisk', {'vdb.local_disk': None}, {})] + _LOCAL,
    kinds.Kind.SWAP: [
        ('create-local-disk', 'CreateLocalDisk', {'vdb.local_disk': None}, {})] + _LOCAL,
}
# Arguments each task reads from the injected device/instance, never rebound.
_INJECTED = {'device', 'instance_uuid'}


def _build(kind):
    builder = device_flows.DeviceFlowBuilder(
        INSTANCE, clients=None, hypervisor='hypervisor', attach_api='attachments',
        instances_path='/instances', records_url='sqlite://', image_source='images')
    return builder.build({'device_name': '/dev/vdb', 'kind': str(kind)})


def test_every_kind_is_covered():
    assert set(EXPECTED) == set(kinds.Kind)


@pytest.mark.parametrize('kind', list(kinds.Kind), ids=str)
def test_atoms_order_and_bound_names(kind):
    flow = _build(kind)
    assert flow.name == f'{INSTANCE}-vdb'
    found = [(atom.name, type(atom).__name__, dict(atom.save_as),
              {arg: name for arg, name in atom.rebind.items() if arg not in _INJECTED
               and arg != name})
             for atom in flow]
    expected = [(f'{INSTANCE}-vdb-{step}', cls, provides, rebind)
                for step, cls, provides, rebind in EXPECTED[kind]]
    assert found == expected


@pytest.mark.parametrize('kind', list(kinds.Kind), ids=str)
def test_steps_match_the_kind_table(kind):
    names = [atom.name.rsplit('-vdb-', 1)[1] for atom in _build(kind)]
    assert tuple(names) == kinds.KINDS[kind].steps


@pytest.mark.parametrize('kind', list(kinds.Kind), ids=str)
def test_every_required_name_is_provided_by_an_earlier_step(kind):
    provided = set()
    for atom in _build(kind):
        missing = {name for arg, name in atom.rebind.items()
                   if arg in atom.requires and arg not in _INJECTED} - provided
        assert not missing, f'{atom.name} reads {missing} before any step provides it'
        provided |= set(atom.save_as)


def test_injected_device_and_builder_resources_reach_the_tasks():
    device = {'device_name': '/dev/vdb', 'kind': str(kinds.Kind.IMAGE_LOCAL)}
    flow = _build(kinds.Kind.IMAGE_LOCAL)
    by_step = {atom.name.rsplit('-vdb-', 1)[1]: atom for atom in flow}
    assert by_step['get-image'].inject == {'device': device, 'instance_uuid': INSTANCE}
    assert by_step['create-local-disk'].instances_path == '/instances'
    assert by_step['create-local-disk'].image_source == 'images'
    assert by_step['hypervisor-attach'].hypervisor == 'hypervisor'
    assert by_step['record-device'].records_url == 'sqlite://'
    attach = _build(kinds.Kind.VOLUME)
    assert {atom.attach_api for atom in attach if hasattr(atom, 'attach_api')} == \
        {'attachments'}
