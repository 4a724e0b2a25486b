"""An iSCSI volume (the embedded cloud's 'iscsi' volume type: CHAP, like Cinder's
LVM/iSCSI backend) goes through os-brick's real ISCSIConnector. This host has no
iSCSI initiator, so the connect fails: in one line, with no CHAP password anywhere,
and nothing left behind. Before that, os-brick is given the secret that the stored
connection_info lacks, asked from Cinder again."""

import logging
import time
import uuid

import pytest
from taskflow import engines
from taskflow.patterns import linear_flow

from blockflow.clients.hypervisor import connectors
from blockflow.clients.hypervisor import domain
from blockflow.clients import openstack as clients_module
from blockflow.runner import boot as boot_module
from blockflow import secrets
from tasks import cinder_attach
from tasks import hypervisor as hv_tasks

DEVICE = {'device_name': '/dev/vdb', 'disk_bus': 'virtio', 'device_type': 'disk',
          'boot_order': None}


def _iscsi_volume(clients):
    cinder = clients.cinder()
    volume = cinder.volumes.create(1, name='iscsi', volume_type='iscsi')
    deadline = time.monotonic() + 10
    while cinder.volumes.get(volume.id).status != 'available':
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return volume.id


@pytest.fixture
def exported(embedded_cloud):
    """An iSCSI volume reserved and exported to this host, as the boot's steps do."""
    clients = clients_module.Clients(clients_module.embedded_ref(embedded_cloud))
    volume_id = _iscsi_volume(clients)
    instance_uuid = str(uuid.uuid4())
    flow = linear_flow.Flow('export').add(
        cinder_attach.ReserveVolume(name='reserve', clients=clients,
                                    provides=('attachment_id', 'attachment_connection')),
        cinder_attach.InitializeConnection(name='connect', clients=clients,
                                           provides='connection_info'))
    engine = engines.load(flow, store={'instance_uuid': instance_uuid, 'device': DEVICE,
                                       'volume_id': volume_id})
    engine.run()
    store = {'instance_uuid': instance_uuid, 'device': DEVICE, 'volume_id': volume_id,
             'attachment_id': engine.storage.fetch('attachment_id'),
             'connection_info': engine.storage.fetch('connection_info')}
    password = clients.cinder('3.44').attachments.show(
        store['attachment_id']).connection_info['data']['auth_password']
    yield clients, store, password
    clients.cinder('3.44', service=True).attachments.delete(store['attachment_id'])


def test_os_brick_gets_the_chap_secret_the_stored_connection_info_lacks(exported):
    clients, store, password = exported
    stored = store['connection_info']
    assert stored['driver_volume_type'] == 'iscsi'
    assert stored['data']['auth_password'] == secrets.MASK
    assert connectors.connector_for(stored).needs_secrets(stored)
    for attachment_id in (store['attachment_id'], None):   # None: found by identity
        fresh = hv_tasks.connection_info_with_secrets(
            clients, store['instance_uuid'], store['volume_id'], attachment_id)
        assert fresh['data']['auth_password'] == password
        assert fresh['data']['target_iqn'] == stored['data']['target_iqn']


def test_a_failed_iscsi_connect_is_one_line_and_leaves_no_disk(exported, caplog):
    clients, store, password = exported
    hypervisor = domain.Hypervisor('test:///default')
    hypervisor.ensure_domain(store['instance_uuid'])
    try:
        attach = hv_tasks.AttachVolumeDisk(hypervisor, name='hypervisor-attach',
                                           clients=clients, provides='disk')
        engine = engines.load(linear_flow.Flow('attach').add(attach), store=store)
        with pytest.raises(connectors.HostConnectionError) as caught:
            engine.run()
        message = str(caught.value)
        assert message.startswith(
            f"os-brick could not connect iscsi volume {store['volume_id']}: ")
        assert '\n' not in message
        # os-brick itself ran (its locks and setup in place), and the initiator failed.
        assert 'lock_path' not in message and 'os_brick.setup' not in message
        assert password not in message and password not in caplog.text
        assert hypervisor.disks(store['instance_uuid']) == []
    finally:
        hypervisor.undefine(store['instance_uuid'])


def test_a_boot_of_an_iscsi_volume_fails_in_one_line_and_leaves_nothing(
        embedded_cloud, tmp_path):
    options = boot_module.BootOptions(
        instance_uuid=str(uuid.uuid4()), cloud_ref=clients_module.embedded_ref(embedded_cloud),
        connection=f'sqlite:///{tmp_path}/flows.sqlite', microversion='2.67',
        instances_path=str(tmp_path / 'instances'))
    body = {'server': {'name': 'iscsi', 'flavorRef': '1', 'imageRef': '', 'networks': 'none',
                       'block_device_mapping_v2': [
                           {'boot_index': 0, 'source_type': 'blank', 'volume_size': 1,
                            'destination_type': 'volume', 'volume_type': 'iscsi',
                            'delete_on_termination': True}]}}
    _plan, outcome, rows = boot_module.boot(body, options)
    assert not outcome.ok
    assert 'os-brick could not connect iscsi volume' in outcome.failure
    assert rows == []
    assert domain.Hypervisor().disks(options.instance_uuid) == []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [v for v in embedded_cloud.store.list('volumes')
                if v['metadata'].get('blockflow_instance') == options.instance_uuid]
        if not left:
            break
        time.sleep(0.05)
    assert left == []
    assert embedded_cloud.store.list('attachments') == []


def test_the_chap_secret_never_reaches_a_log_record_even_at_debug(exported, caplog):
    """keystoneauth logs every response body at DEBUG, Cinder's attachment with its
    CHAP password among them: any handler (not only blockflow's) gets it masked."""
    clients, store, password = exported
    caplog.set_level(logging.DEBUG)
    fresh = hv_tasks.connection_info_with_secrets(
        clients, store['instance_uuid'], store['volume_id'], store['attachment_id'])
    assert fresh['data']['auth_password'] == password       # the caller still gets it
    bodies = [r for r in caplog.records if r.name.startswith('keystoneauth')]
    assert bodies, 'keystoneauth logged nothing at DEBUG: the test would prove nothing'
    assert password not in caplog.text
