"""Nova's availability-zone rules with cross_az_attach = False, and multiattach
volumes attached as shareable disks — on the embedded cloud and libvirt's test driver."""

import time
import uuid

import libvirt
import pytest

from blockflow.clients import openstack as clients_module
from blockflow import exceptions
from blockflow.request.validation import catalog
from blockflow.runner import boot as boot_module
from tasks import cinder_attach


def _options(cloud, tmp_path, **extra):
    return boot_module.BootOptions(
        instance_uuid=str(uuid.uuid4()), cloud_ref=clients_module.embedded_ref(cloud),
        connection=f'sqlite:///{tmp_path}/flows.sqlite',
        instances_path=str(tmp_path / 'instances'), **extra)


def _request(bdms, **server):
    return {'server': dict({'name': 'zones', 'flavorRef': '1', 'imageRef': '',
                            'networks': 'none', 'block_device_mapping_v2': bdms}, **server)}


def _created(cloud, instance_uuid):
    return [v for v in cloud.store.list('volumes')
            if v['metadata'].get('blockflow_instance') == instance_uuid]


BLANK_PAIR = [{'source_type': 'blank', 'destination_type': 'volume', 'volume_size': 1,
               'boot_index': 0},
              {'source_type': 'blank', 'destination_type': 'volume', 'volume_size': 1}]


@pytest.mark.parametrize('cross_az_attach, expected_zone', [(False, 'az2'), (True, 'nova')])
def test_volumes_are_created_in_the_instance_zone_only_when_cross_az_is_off(
        embedded_cloud, tmp_path, cross_az_attach, expected_zone):
    config = dict(catalog.DEFAULT_CONFIG, cross_az_attach=cross_az_attach)
    options = _options(embedded_cloud, tmp_path, config=config)
    plan, outcome, _rows = boot_module.boot(_request(BLANK_PAIR, availability_zone='az2'),
                                            options)
    assert outcome.ok, outcome.failure
    assert {d.get('availability_zone') for d in plan.devices} == \
        ({'az2'} if not cross_az_attach else {None})
    zones = {v['availability_zone'] for v in _created(embedded_cloud, options.instance_uuid)}
    assert zones == {expected_zone}


def test_reserve_refuses_a_volume_from_another_zone(embedded_cloud):
    """The attach-time check Nova repeats (a volume can be recreated or moved after the API check)."""
    clients = clients_module.Clients(clients_module.embedded_ref(embedded_cloud))
    volume = clients.cinder().volumes.create(1, name='elsewhere', availability_zone='nova')
    deadline = time.monotonic() + 10
    while clients.cinder().volumes.get(volume.id).status != 'available':
        assert time.monotonic() < deadline
        time.sleep(0.05)
    instance_uuid = str(uuid.uuid4())
    reserve = cinder_attach.ReserveVolume(name='reserve', clients=clients)
    with pytest.raises(exceptions.InvalidVolume,
                       match=f'Instance {instance_uuid} and volume {volume.id} are not in the '
                             'same availability_zone. Instance is in az2. Volume is in nova'):
        reserve.execute(instance_uuid, {'availability_zone': 'az2'}, volume.id)
    # Nothing was reserved.
    assert embedded_cloud.store.get('volumes', volume.id)['attachments'] == []
    assert [a for a in embedded_cloud.store.list('attachments')
            if a['volume_id'] == volume.id] == []
    # The same volume in the instance's zone is reserved normally.
    assert reserve.execute(instance_uuid, {'availability_zone': 'nova'}, volume.id)


def test_multiattach_volume_is_a_shareable_disk(embedded_cloud, tmp_path):
    bdms = [dict(BLANK_PAIR[0]),
            {'source_type': 'blank', 'destination_type': 'volume', 'volume_size': 1,
             'volume_type': 'multiattach'}]
    options = _options(embedded_cloud, tmp_path, microversion='2.67')
    _plan, outcome, rows = boot_module.boot(_request(bdms), options)
    assert outcome.ok, outcome.failure
    shared = next(r for r in rows if r['device_name'] == '/dev/vdb')
    assert shared['connection_info']['multiattach'] is True
    assert 'multiattach' not in next(r for r in rows
                                     if r['device_name'] == '/dev/vda')['connection_info']
    xml = libvirt.open('test:///default').lookupByName(
        f'instance-{options.instance_uuid}').XMLDesc(0)
    disks = xml.split('<disk ')[1:]
    assert sum('<shareable/>' in d for d in disks) == 1
    assert '<shareable/>' in next(d for d in disks if "dev='vdb'" in d)


def test_boot_command_honours_cross_az_attach_from_the_config_file(embedded_cloud_process,
                                                                  tmp_path):
    import json
    import os
    import subprocess
    import sys
    config = tmp_path / 'blockflow.conf'
    config.write_text('[cinder]\ncross_az_attach = false\n')
    request = tmp_path / 'request.json'
    request.write_text(json.dumps(_request(BLANK_PAIR, availability_zone='az2')))
    instance_uuid = str(uuid.uuid4())
    env = embedded_cloud_process.env(dict(os.environ, XDG_STATE_HOME=str(tmp_path / 'state')))
    boot = subprocess.run(
        [sys.executable, '-m', 'blockflow.cli.main', '--config-file', str(config), 'boot',
         str(request), *embedded_cloud_process.cloud_args, '--instance-uuid',
         instance_uuid, '--connection', f'sqlite:///{tmp_path}/flows.sqlite', '-f', 'json',
         '--instances-path', str(tmp_path / 'instances')],
        capture_output=True, text=True, env=env, timeout=120)
    assert boot.returncode == 0, boot.stderr[-2000:]
    clients = clients_module.Clients(embedded_cloud_process.ref)
    zones = {v.availability_zone for v in clients.cinder().volumes.list()
             if (v.metadata or {}).get('blockflow_instance') == instance_uuid}
    assert zones == {'az2'}
