"""The factories keyed by driver_volume_type: disk XML builder and host connector
(os-brick's own connector classes, nothing mocked), and their one-line errors."""

import uuid

import pytest
from os_brick.initiator.connectors import fibre_channel
from os_brick.initiator.connectors import iscsi
from os_brick.initiator.connectors import local
from os_brick.initiator.connectors import nvmeof

from blockflow.clients.hypervisor import connectors
from blockflow.clients.hypervisor import disk_config

TYPES = {
    'iscsi': (disk_config.AttachedBlockBuilder, iscsi.ISCSIConnector),
    'iser': (disk_config.AttachedBlockBuilder, iscsi.ISCSIConnector),
    'fibre_channel': (disk_config.AttachedBlockBuilder, fibre_channel.FibreChannelConnector),
    'nvmeof': (disk_config.AttachedBlockBuilder, nvmeof.NVMeOFConnector),
    'local': (disk_config.LocalFileBuilder, local.LocalConnector),
    'rbd': (disk_config.RBDBuilder, None),
}


def _target():
    return disk_config.DiskTarget('/dev/vdb', 'virtio', 'disk', None, str(uuid.uuid4()))


def test_both_factories_know_the_same_types():
    assert connectors.VOLUME_TYPES == set(TYPES) == set(disk_config._BUILDERS)


@pytest.mark.parametrize('kind', sorted(TYPES))
def test_each_type_maps_to_its_builder_and_host_connector(kind):
    builder_class, brick_class = TYPES[kind]
    info = {'driver_volume_type': kind, 'data': {}}
    assert type(disk_config.builder_for(info)) is builder_class
    host = connectors.connector_for(info)
    assert isinstance(host, connectors.HostConnector)
    if brick_class is None:     # libvirt reaches it itself: no host connection
        assert isinstance(host, connectors.LibvirtReachable)
        assert host.connect(info) is None
    else:
        assert type(host.brick) is brick_class
        assert host.protocol.lower() == kind


@pytest.mark.parametrize('kind', ['sheepdog', None, ''])
def test_an_unknown_type_is_one_clear_error_naming_it(kind):
    info = {'driver_volume_type': kind, 'data': {}}
    for factory in (connectors.connector_for, disk_config.builder_for):
        with pytest.raises(connectors.UnsupportedVolumeType) as caught:
            factory(info)
        message = str(caught.value)
        assert '\n' not in message
        assert f'driver_volume_type {kind} is not supported' in message
        assert 'known types: fibre_channel, iscsi, iser, local, nvmeof, rbd' in message


def test_block_protocols_put_the_connected_path_into_the_xml():
    info = {'driver_volume_type': 'iscsi', 'data': {'target_iqn': 'iqn.x', 'target_lun': 0}}
    xml = disk_config.volume_disk_xml(info, _target(), {'path': '/dev/disk/by-path/ip-x'})
    assert "type=\"block\"" in xml and '<source dev="/dev/disk/by-path/ip-x" />' in xml
    with pytest.raises(connectors.UnsupportedVolumeType, match='iscsi without a connected path'):
        disk_config.volume_disk_xml(info, _target(), {})


def test_local_connect_returns_the_path_the_xml_uses(tmp_path):
    volume = tmp_path / 'volume-1'
    volume.write_bytes(b'\0' * 4096)
    info = {'driver_volume_type': 'local', 'data': {'device_path': str(volume)}}
    host = connectors.connector_for(info)
    device_info = host.connect(info)
    assert device_info == {'type': 'local', 'path': str(volume)}
    xml = disk_config.volume_disk_xml(info, _target(), device_info)
    assert f'<source file="{volume}" />' in xml


def test_release_skips_what_was_never_connected(tmp_path):
    info = {'driver_volume_type': 'local', 'data': {'device_path': str(tmp_path / 'gone')}}
    assert connectors.release(info, None) is False           # result says: nothing connected
    assert connectors.release(info, connectors.LOST) is False  # lost; not on this host
    (tmp_path / 'gone').write_bytes(b'')
    assert connectors.release(info, connectors.LOST) is True   # lost; found by identity
    assert connectors.release({'driver_volume_type': 'rbd', 'data': {}}) is False
    assert connectors.release_host_connection({'volume_id': None, 'connection_info': info}) \
        is False


def test_a_failed_iscsi_connect_is_one_line_without_the_chap_password():
    """No iSCSI initiator here (or no target on port 1 where there is one)."""
    password = 'chap-' + uuid.uuid4().hex
    info = {'driver_volume_type': 'iscsi', 'serial': 'vol-1',
            'data': {'target_portal': '127.0.0.1:1', 'target_lun': 0,
                     'target_iqn': 'iqn.2010-10.org.openstack:volume-vol-1',
                     'auth_method': 'CHAP', 'auth_username': 'u', 'auth_password': password}}
    host = connectors.connector_for(info)
    assert host.shares_targets and not host.needs_secrets(info)
    assert host.needs_secrets({'data': dict(info['data'], auth_password='***')})
    with pytest.raises(connectors.HostConnectionError) as caught:
        host.connect(info)
    message = str(caught.value)
    assert message.startswith('os-brick could not connect iscsi volume vol-1: ')
    assert '\n' not in message and password not in message
    # os-brick itself ran (its locks and setup in place), and the initiator failed.
    assert 'lock_path' not in message and 'os_brick.setup' not in message
