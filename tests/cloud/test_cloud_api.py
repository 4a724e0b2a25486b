"""The embedded cloud through unmodified python-cinderclient and keystoneauth1."""

import time

import pytest
import requests
from cinderclient import client as cinder_client
from cinderclient import exceptions as cinder_exc

from blockflow.cloud.server import EmbeddedCloud
from tests.fixtures.cloud import admin_headers


def _wait(cinder, volume_id, status, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = cinder.volumes.get(volume_id).status
        if current == status:
            return
        time.sleep(0.02)
    raise AssertionError(f'{volume_id} stayed {current}')


def test_version_discovery_and_microversions(embedded_cloud):
    root = requests.get(embedded_cloud.url + '/volume/', timeout=5)
    assert root.status_code == 300
    version = root.json()['versions'][0]
    assert (version['min_version'], version['version']) == ('3.0', '3.71')
    assert root.headers['x-openstack-request-id'].startswith('req-')
    session = embedded_cloud.session()
    url = f'{embedded_cloud.url}/volume/v3/{embedded_cloud.project_id}/volumes'
    ok = session.get(url, headers={'OpenStack-API-Version': 'volume 3.44'})
    assert ok.headers['OpenStack-API-Version'] == 'volume 3.44'
    bad = session.get(url, headers={'OpenStack-API-Version': 'volume 3.99'},
                      raise_exc=False)
    assert bad.status_code == 406


def test_noauth_convention_only_in_noauth_mode(embedded_cloud, tmp_path):
    project = embedded_cloud.project_id
    url = f'{embedded_cloud.url}/volume/v3/{project}/volumes'
    # Started as Keystone: a "user:project" token is no token at all.
    assert requests.get(url, headers={'X-Auth-Token': f'admin:{project}'},
                        timeout=5).status_code == 401
    assert requests.get(url, headers={'X-Auth-Token': f':{project}'},
                        timeout=5).status_code == 401
    assert requests.get(url, timeout=5).status_code == 401
    with EmbeddedCloud(str(tmp_path / 'noauth'), auth_strategy='noauth') as noauth:
        url = f'{noauth.url}/volume/v3/{project}/volumes'
        assert requests.get(url, headers={'X-Auth-Token': f'admin:{project}'},
                            timeout=5).status_code == 200
        wrong = requests.get(url, headers={'X-Auth-Token': 'admin:0badc0de'}, timeout=5)
        assert wrong.status_code == 400
        assert wrong.json()['badRequest']['message'] == 'Malformed request url'
        assert requests.get(url, timeout=5).status_code == 401


def test_volume_lifecycle_and_refusals(embedded_cloud):
    cinder = embedded_cloud.cinder_client('3.44')
    volume = cinder.volumes.create(1, name='life')
    assert volume.status == 'creating'
    _wait(cinder, volume.id, 'available')
    with pytest.raises(cinder_exc.NotFound) as info:
        cinder.volumes.create(1, snapshot_id='00000000-0000-4000-8000-000000000000')
    assert 'Snapshot 00000000-0000-4000-8000-000000000000 could not be found.' in str(info.value)
    with pytest.raises(cinder_exc.BadRequest):
        cinder.volumes.create(0)
    snap = cinder.volume_snapshots.create(volume.id)
    with pytest.raises(cinder_exc.BadRequest):
        cinder.volumes.delete(volume.id)          # has a snapshot
    from_snap = cinder.volumes.create(None, snapshot_id=snap.id)
    _wait(cinder, from_snap.id, 'available')
    assert cinder.volumes.get(from_snap.id).size == 1
    cinder.volume_snapshots.delete(snap.id)
    # legacy attach sequence
    cinder.volumes.reserve(volume.id)
    assert cinder.volumes.get(volume.id).status == 'attaching'
    info = cinder.volumes.initialize_connection(volume.id, {'host': 'h'})
    assert info['driver_volume_type'] == 'local'
    cinder.volumes.attach(volume.id, 'inst', '/dev/vdb')
    assert cinder.volumes.get(volume.id).status == 'in-use'
    with pytest.raises(cinder_exc.BadRequest):
        cinder.volumes.delete(volume.id)          # in use
    cinder.volumes.begin_detaching(volume.id)
    assert cinder.volumes.get(volume.id).status == 'detaching'
    cinder.volumes.terminate_connection(volume.id, {'host': 'h'})
    cinder.volumes.detach(volume.id)
    assert cinder.volumes.get(volume.id).status == 'available'
    cinder.volumes.delete(volume.id)
    with pytest.raises(cinder_exc.NotFound):
        cinder.volumes.get(volume.id)


def test_attachments_service_role_delete(embedded_cloud):
    cinder = embedded_cloud.cinder_client('3.44')
    volume = cinder.volumes.create(1)
    _wait(cinder, volume.id, 'available')
    attachment = cinder.attachments.create(volume.id, None, 'inst')
    assert cinder.volumes.get(volume.id).status == 'reserved'
    cinder.attachments.update(attachment['id'], {'host': 'h'})
    assert cinder.volumes.get(volume.id).status == 'attaching'
    cinder.attachments.complete(attachment['id'])
    assert cinder.volumes.get(volume.id).status == 'in-use'
    with pytest.raises(cinder_exc.ClientException) as info:
        cinder.attachments.delete(attachment['id'])
    assert info.value.code == 500                 # as real Cinder, without a service token
    service = cinder_client.Client('3.44', session=embedded_cloud.session(service=True))
    service.attachments.delete(attachment['id'])
    assert cinder.volumes.get(volume.id).status == 'available'


def test_quota_and_fault_injection_over_http(embedded_cloud):
    cinder = embedded_cloud.cinder_client('3.44')
    allowed = len(cinder.volumes.list()) + 1      # the seeded example volumes count
    embedded_cloud.store.put('quotas', {'id': embedded_cloud.project_id, 'volumes': allowed,
                                        'gigabytes': 10, 'snapshots': 1})
    cinder.volumes.create(1)
    with pytest.raises(cinder_exc.OverLimit) as info:
        cinder.volumes.create(1)
    assert f"Maximum number of volumes allowed ({allowed}) exceeded" in str(info.value)
    admin = admin_headers(embedded_cloud.auth_url)
    requests.post(embedded_cloud.admin_url + '/faults', timeout=5, headers=admin,
                  json={'fail': [{'op': 'volume.list', 'nth': 1, 'status': 503}]})
    with pytest.raises(cinder_exc.ClientException) as info:
        cinder.volumes.list()
    assert info.value.code == 503
    cinder.volumes.list()
    counters = requests.get(embedded_cloud.admin_url + '/counters', timeout=5,
                            headers=admin).json()
    assert counters['volume.list'] == 3 and counters['volume.create'] == 2


def test_malformed_body_is_a_400_not_a_traceback(embedded_cloud):
    session = embedded_cloud.session()
    url = f'{embedded_cloud.url}/volume/v3/{embedded_cloud.project_id}/volumes'
    for body in (b'{not json', b'[]', b'{"volume": 5}', b'{"volume": {"size": "x"}}'):
        response = session.post(url, data=body, raise_exc=False,
                                headers={'Content-Type': 'application/json'})
        assert response.status_code == 400, body
        assert 'badRequest' in response.json()


def test_state_survives_restart(tmp_path):
    with EmbeddedCloud(str(tmp_path)) as cloud:
        cinder = cloud.cinder_client('3.44')
        volume = cinder.volumes.create(2, name='persist')
        _wait(cinder, volume.id, 'available')
    with EmbeddedCloud(str(tmp_path)) as cloud:
        again = cloud.cinder_client('3.44').volumes.get(volume.id)
        assert (again.name, again.size, again.status) == ('persist', 2, 'available')
