"""The same Cinder behaviour asserted against blockflow's embedded cloud and a real Cinder 29.

Every test runs twice: ``embedded`` (blockflow/cloud, through its noauth
convention) and ``real`` (Cinder from PyPI, tests/fixtures/realcinder.py). Both
are reached the same way: a noauth CloudRef, keystoneauth and cinderclient.
Each test works in a fresh project, so the shared real Cinder needs no cleanup
between tests and quotas start from the defaults.
"""

import tempfile
import time
import uuid

import pytest
import requests

from blockflow.clients import openstack as clients_module
from blockflow.cloud import glance as cloud_glance
from blockflow.cloud.server import EmbeddedCloud

pytestmark = pytest.mark.realcinder

IMAGE_ID = cloud_glance.DEFAULT_IMAGE_ID
CONNECTOR = {'platform': 'x86_64', 'os_type': 'linux', 'ip': '127.0.0.1',
             'host': 'conformance-host', 'multipath': False, 'do_local_attach': False,
             'initiator': 'iqn.1993-08.org.debian:01:conformance'}
NOT_DELETABLE = ('Invalid volume: Volume status must be available or error or '
                 'error_restoring or error_extending or error_managing and must not be '
                 'migrating, attached, belong to a group, have snapshots, awaiting a '
                 'transfer, or be disassociated from snapshots after volume transfer.')
# Volume fields at 3.0 (as admin: noauth contexts are admin), and the
# microversion that adds each further one.
BASE_FIELDS = {
    'attachments', 'availability_zone', 'bootable', 'consistencygroup_id', 'created_at',
    'description', 'encrypted', 'id', 'links', 'metadata', 'migration_status',
    'multiattach', 'name', 'os-vol-host-attr:host', 'os-vol-mig-status-attr:migstat',
    'os-vol-mig-status-attr:name_id', 'os-vol-tenant-attr:tenant_id',
    'replication_status', 'size', 'snapshot_id', 'source_volid', 'status',
    'updated_at', 'user_id', 'volume_type'}
FIELDS_SINCE = {'group_id': (3, 13), 'provider_id': (3, 21), 'service_uuid': (3, 48),
                'shared_targets': (3, 48), 'cluster_name': (3, 61),
                'volume_type_id': (3, 63), 'consumes_quota': (3, 65)}
IMAGE_METADATA_KEYS = {'checksum', 'container_format', 'disk_format', 'image_id',
                       'image_name', 'min_disk', 'min_ram', 'size', 'signature_verified'}


class Target:
    """One Cinder under test, reached through a noauth CloudRef."""

    def __init__(self, name, cinder_url, glance_cloud, root_url):
        self.name = name
        self.cinder_url = cinder_url
        self.glance_cloud = glance_cloud        # the embedded cloud serving Glance
        self.glance_url = f'{glance_cloud.url}/image'
        self.root_url = root_url
        self.project_id = uuid.uuid4().hex          # a fresh project per test
        self.clients = clients_module.Clients(self.ref())

    def ref(self, project_id=None):
        return clients_module.noauth_ref(self.cinder_url, self.glance_url,
                                         project_id or self.project_id)

    def cinder(self, version='3.71', service=False):
        return self.clients.cinder(version, service=service)

    def http(self, method, path, body=None, version='3.71', service=False, project=None):
        """(status, JSON body) of a raw request, errors included."""
        clients = self.clients if project is None else \
            clients_module.Clients(self.ref(project))
        session = clients.service_session if service else clients.session
        response = session.request(path, method, json=body, raise_exc=False,
                                   endpoint_filter={'service_type': 'volumev3'},
                                   headers={'OpenStack-API-Version': f'volume {version}'})
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None

    def volume(self, volume_id, version='3.71'):
        status, body = self.http('GET', f'/volumes/{volume_id}', version=version)
        assert status == 200, body
        return body['volume']

    def wait(self, volume_id, until=('available',), timeout=30):
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            volume = self.volume(volume_id)
            if not seen or seen[-1] != volume['status']:
                seen.append(volume['status'])
            if volume['status'] in until and not self._finishing_create(volume):
                return volume, seen
            if volume['status'] in ('error', 'error_deleting'):
                break
            time.sleep(0.05)
        raise AssertionError(f'{self.name}: volume {volume_id} went {seen}, wanted {until}')

    @staticmethod
    def _finishing_create(volume):
        # Real Cinder's volume manager saves a created volume twice: 'available'
        # (end of its create flow), then shared_targets and service_uuid
        # (manager.create_volume, after the flow). Between the two writes a
        # reader sees service_uuid null and a later updated_at follows: the
        # volume is settled only after the second write.
        return volume['status'] == 'available' and volume.get('service_uuid') is None

    def create(self, size=1, **extra):
        status, body = self.http('POST', '/volumes', {'volume': dict(size=size, **extra)})
        assert status == 202, body
        return body['volume']

    def available_volume(self, size=1, **extra):
        volume = self.create(size, **extra)
        return self.wait(volume['id'])[0]

    def available_snapshot(self, volume_id, name):
        """A snapshot of ``volume_id`` created and waited for; its id."""
        status, body = self.http('POST', '/snapshots', {'snapshot': {
            'volume_id': volume_id, 'name': name}})
        assert status == 202, body
        snapshot_id = body['snapshot']['id']
        deadline = time.monotonic() + 30
        while self.http('GET', f'/snapshots/{snapshot_id}')[1]['snapshot']['status'] != \
                'available':
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return snapshot_id

    def action(self, volume_id, name, args=None, version='3.0'):
        return self.http('POST', f'/volumes/{volume_id}/action', {name: args or {}},
                         version=version)


@pytest.fixture
def embedded_noauth_cloud(tmp_path):
    """The embedded cloud as a noauth Cinder: reached the same way as the real one."""
    cloud = EmbeddedCloud(str(tmp_path / 'cloud'), latency_profile='fast',
                          auth_strategy='noauth')
    cloud.start()
    yield cloud
    cloud.stop()


@pytest.fixture(params=['embedded', 'real'])
def target(request):
    if request.param == 'embedded':
        cloud = request.getfixturevalue('embedded_noauth_cloud')
        return Target('embedded', f'{cloud.url}/volume', cloud, f'{cloud.url}/volume/')
    real = request.getfixturevalue('real_cinder')
    return Target('real', real.url, real.glance_cloud, f'{real.url}/')


# --- discovery ----------------------------------------------------------------------
def test_version_discovery(target):
    response = requests.get(target.root_url, timeout=10)
    assert response.status_code == 300
    v3 = next(v for v in response.json()['versions'] if v['id'] == 'v3.0')
    assert (v3['status'], v3['min_version'], v3['version']) == ('CURRENT', '3.0', '3.71')


def test_microversion_echoed_and_out_of_range_refused(target):
    status, _body = target.http('GET', '/volumes', version='3.44')
    assert status == 200
    status, _body = target.http('GET', '/volumes', version='3.99')
    assert status == 406


# --- creating volumes -------------------------------------------------------------------
def test_blank_volume_becomes_available_with_cinder_fields(target):
    created = target.create(1, name='conformance-blank')
    assert created['status'] == 'creating'
    volume, seen = target.wait(created['id'])
    assert seen[-1] == 'available' and set(seen) <= {'creating', 'available'}
    assert volume['bootable'] == 'false'
    assert volume['multiattach'] is False
    assert volume['attachments'] == []
    assert volume['encrypted'] is False
    assert volume['size'] == 1 and volume['name'] == 'conformance-blank'
    assert volume['metadata'] == {}
    assert volume['os-vol-tenant-attr:tenant_id'] == target.project_id
    assert isinstance(volume['shared_targets'], bool)
    assert isinstance(volume['service_uuid'], str)
    assert 'volume_image_metadata' not in volume


@pytest.mark.parametrize('version', ['3.0', '3.13', '3.47', '3.48', '3.61', '3.63', '3.71'])
def test_volume_fields_follow_the_microversion(target, version):
    volume = target.available_volume()
    shown = target.volume(volume['id'], version=version)
    major, minor = (int(p) for p in version.split('.'))
    expected = BASE_FIELDS | {f for f, since in FIELDS_SINCE.items() if (major, minor) >= since}
    assert set(shown) == expected


def test_plain_list_is_the_summary_view(target):
    volume = target.available_volume(name='summary')
    status, body = target.http('GET', '/volumes')
    assert status == 200, body
    listed = next(v for v in body['volumes'] if v['id'] == volume['id'])
    assert set(listed) == {'id', 'name', 'links'} and listed['name'] == 'summary'
    status, body = target.http('GET', '/volumes/detail')
    detailed = next(v for v in body['volumes'] if v['id'] == volume['id'])
    assert detailed['status'] == 'available' and 'attachments' in detailed


def test_list_filtered_by_updated_at_since_3_60(target):
    """What blockflow's poller asks: only the volumes that changed since a time."""
    first = target.available_volume(metadata={'conformance': 'times'})
    stamp = first['updated_at']
    assert stamp                                  # becoming available stamps the row
    time.sleep(0.05)
    second = target.available_volume(metadata={'conformance': 'times'})
    query = '/volumes/detail?metadata={"conformance": "times"}&updated_at=gt:' + stamp
    status, body = target.http('GET', query, version='3.60')
    assert status == 200, body
    assert [v['id'] for v in body['volumes']] == [second['id']]
    status, body = target.http('GET', query.replace('gt:', 'gte:'), version='3.60')
    assert sorted(v['id'] for v in body['volumes']) == sorted([first['id'], second['id']])
    status, body = target.http('GET', query.replace('gt:', 'bogus:'), version='3.60')
    assert status == 400


def test_volume_from_snapshot(target):
    parent = target.available_volume(1)
    snapshot_id = target.available_snapshot(parent['id'], 'conformance-snap')
    status, body = target.http('POST', '/volumes', {'volume': {'snapshot_id': snapshot_id}})
    assert status == 202, body
    volume, _seen = target.wait(body['volume']['id'])
    assert volume['snapshot_id'] == snapshot_id and volume['size'] == 1
    # A volume with a snapshot cannot be deleted.
    assert target.http('DELETE', f"/volumes/{parent['id']}") == (
        400, {'badRequest': {'code': 400, 'message': NOT_DELETABLE}})


def test_missing_snapshot_is_404_item_not_found(target):
    missing = str(uuid.uuid4())
    assert target.http('POST', '/volumes', {'volume': {'size': 1, 'snapshot_id': missing}}) \
        == (404, {'itemNotFound': {'code': 404,
                                   'message': f'Snapshot {missing} could not be found.'}})


def test_size_zero_is_400(target):
    assert target.http('POST', '/volumes', {'volume': {'size': 0}}) == (
        400, {'badRequest': {'code': 400, 'message': 'Invalid input for field/attribute '
                             'size. Value: 0. 0 is less than the minimum of 1'}})


def test_missing_volume_is_404(target):
    missing = str(uuid.uuid4())
    assert target.http('GET', f'/volumes/{missing}') == (
        404, {'itemNotFound': {'code': 404, 'message': f'Volume {missing} could not be found.'}})


# --- legacy attach ------------------------------------------------------------------------
def test_legacy_attach_and_detach(target):
    volume = target.available_volume()
    vid = volume['id']
    instance = str(uuid.uuid4())
    assert target.action(vid, 'os-reserve')[0] == 202
    assert target.volume(vid)['status'] == 'attaching'
    status, body = target.action(vid, 'os-initialize_connection', {'connector': CONNECTOR})
    assert status == 200, body
    info = body['connection_info']
    assert isinstance(info['driver_volume_type'], str) and isinstance(info['data'], dict)
    status, body = target.action(vid, 'os-attach', {'instance_uuid': instance,
                                                    'mountpoint': '/dev/vdb', 'mode': 'rw'})
    assert status == 202, body
    attached = target.volume(vid)
    assert attached['status'] == 'in-use'
    assert [(a['server_id'], a['device']) for a in attached['attachments']] == \
        [(instance, '/dev/vdb')]
    assert target.http('DELETE', f'/volumes/{vid}') == (
        400, {'badRequest': {'code': 400, 'message': NOT_DELETABLE}})
    assert target.action(vid, 'os-begin_detaching')[0] == 202
    assert target.volume(vid)['status'] == 'detaching'
    attachment_id = attached['attachments'][0]['attachment_id']
    assert target.action(vid, 'os-detach', {'attachment_id': attachment_id})[0] == 202
    detached = target.volume(vid)
    assert (detached['status'], detached['attachments']) == ('available', [])


def test_legacy_unreserve(target):
    vid = target.available_volume()['id']
    target.action(vid, 'os-reserve')
    assert target.action(vid, 'os-unreserve')[0] == 202
    assert target.volume(vid)['status'] == 'available'


# --- attachments API ------------------------------------------------------------------------
def _attachment(target, volume_id, instance, connector=None):
    body = {'volume_uuid': volume_id, 'instance_uuid': instance}
    if connector:
        body['connector'] = connector
    status, result = target.http('POST', '/attachments', {'attachment': body}, version='3.44')
    assert status == 200, result
    return result['attachment']


def test_attachment_with_connector_then_complete(target):
    vid = target.available_volume()['id']
    instance = str(uuid.uuid4())
    attachment = _attachment(target, vid, instance, dict(CONNECTOR, mountpoint='/dev/vdb'))
    assert attachment['status'] == 'reserved'
    assert attachment['instance'] == instance and attachment['volume_id'] == vid
    _assert_flat_connection_info(attachment)
    assert target.volume(vid)['status'] == 'attaching'
    status, shown = target.http('GET', f"/attachments/{attachment['id']}", version='3.44')
    assert shown['attachment']['status'] == 'attaching'
    status, _body = target.http('POST', f"/attachments/{attachment['id']}/action",
                                {'os-complete': None}, version='3.44')
    assert status == 204
    volume = target.volume(vid)
    assert volume['status'] == 'in-use'
    assert [a['attachment_id'] for a in volume['attachments']] == [attachment['id']]
    status, shown = target.http('GET', f"/attachments/{attachment['id']}", version='3.44')
    assert status == 200 and shown['attachment']['status'] == 'attached'
    assert target.http('DELETE', f'/volumes/{vid}') == (
        400, {'badRequest': {'code': 400, 'message': NOT_DELETABLE}})
    # Cinder asks Nova about a plain user's delete of an attached attachment
    # (no Nova here: 500); with the service role it just deletes.
    status, _body = target.http('DELETE', f"/attachments/{attachment['id']}", version='3.44')
    assert status == 500
    assert target.volume(vid)['status'] == 'in-use'
    status, body = target.http('DELETE', f"/attachments/{attachment['id']}", version='3.44',
                               service=True)
    assert status == 200, body
    volume = target.volume(vid)
    assert (volume['status'], volume['attachments']) == ('available', [])


def _assert_flat_connection_info(attachment):
    """The attachments API returns connection_info flat: the driver's data with
    driver_volume_type and attachment_id merged in (no 'data' key)."""
    info = attachment['connection_info']
    assert info['driver_volume_type'] == 'local' and 'data' not in info
    assert info['attachment_id'] == attachment['id']
    assert info['device_path']


def test_attachment_without_connector_reserves(target):
    vid = target.available_volume()['id']
    attachment = _attachment(target, vid, str(uuid.uuid4()))
    assert attachment['status'] == 'reserved'
    assert not attachment['connection_info']
    assert target.volume(vid)['status'] == 'reserved'
    # No connection yet: a plain user may delete it.
    status, _body = target.http('DELETE', f"/attachments/{attachment['id']}", version='3.44')
    assert status == 200
    assert target.volume(vid)['status'] == 'available'


def test_attachment_update_with_connector(target):
    vid = target.available_volume()['id']
    attachment = _attachment(target, vid, str(uuid.uuid4()))
    status, body = target.http('PUT', f"/attachments/{attachment['id']}",
                               {'attachment': {'connector': CONNECTOR}}, version='3.44')
    assert status == 200, body
    # The answer shows the attachment as it was; it is "attaching" from now on.
    assert body['attachment']['status'] == 'reserved'
    _assert_flat_connection_info(body['attachment'])
    assert target.volume(vid)['status'] == 'attaching'
    status, shown = target.http('GET', f"/attachments/{attachment['id']}", version='3.44')
    assert shown['attachment']['status'] == 'attaching'
    # Connected (connection_info) though not complete: Cinder asks Nova for a
    # plain user's delete; a service's delete goes through.
    url = f"/attachments/{attachment['id']}"
    assert target.http('DELETE', url, version='3.44')[0] == 500
    assert target.http('DELETE', url, version='3.44', service=True)[0] == 200
    assert target.volume(vid)['status'] == 'available'


def test_attachments_listed_by_volume(target):
    vid = target.available_volume()['id']
    instance = str(uuid.uuid4())
    attachment = _attachment(target, vid, instance, CONNECTOR)
    found = target.cinder('3.44').attachments.list(search_opts={'volume_id': vid})
    assert [(a.id, a.instance) for a in found] == [(attachment['id'], instance)]


# --- quotas ---------------------------------------------------------------------------------
def test_over_quota_is_413_over_limit(target):
    project = uuid.uuid4().hex
    status, body = target.http('PUT', f'/os-quota-sets/{project}',
                               {'quota_set': {'volumes': 1}})
    assert status == 200, body
    assert body['quota_set']['volumes'] == 1
    status, body = target.http('POST', '/volumes', {'volume': {'size': 1}}, project=project)
    assert status == 202, body
    assert target.http('POST', '/volumes', {'volume': {'size': 1}}, project=project) == (
        413, {'overLimit': {'code': 413, 'message': 'VolumeLimitExceeded: Maximum number of '
                            "volumes allowed (1) exceeded for quota 'volumes'.",
                            'retryAfter': '0'}})


def test_per_volume_gigabytes_quota(target):
    project = uuid.uuid4().hex
    status, body = target.http('PUT', f'/os-quota-sets/{project}',
                               {'quota_set': {'per_volume_gigabytes': 1}})
    assert status == 200 and body['quota_set']['per_volume_gigabytes'] == 1, body
    status, body = target.http('POST', '/volumes', {'volume': {'size': 2}}, project=project)
    assert status == 413, body
    assert body['overLimit']['message'] == ('VolumeSizeExceedsLimit: Requested volume size '
                                            '2G is larger than maximum allowed limit 1G.')
    status, body = target.http('POST', '/volumes', {'volume': {'size': 1}}, project=project)
    assert status == 202, body


# --- images -----------------------------------------------------------------------------------
def test_volume_from_image(target):
    created = target.create(1, imageRef=IMAGE_ID, name='conformance-image')
    assert created['status'] == 'creating'
    volume, seen = target.wait(created['id'], timeout=60)
    assert set(seen) <= {'creating', 'downloading', 'available'}
    assert volume['bootable'] == 'true'
    meta = volume['volume_image_metadata']
    assert set(meta) == IMAGE_METADATA_KEYS
    assert all(isinstance(v, str) for v in meta.values())
    assert meta['image_id'] == IMAGE_ID and meta['disk_format'] == 'qcow2'
    assert meta['image_name'] == cloud_glance.DEFAULT_IMAGE_NAME


def test_unknown_image_is_400(target):
    assert target.http('POST', '/volumes', {'volume': {'size': 1,
                                                       'imageRef': str(uuid.uuid4())}}) == (
        400, {'badRequest': {'code': 400, 'message': 'Invalid image identifier or unable to '
                             'access requested image.'}})


def test_volume_smaller_than_image_min_disk_is_400(target):
    status, body = target.http('POST', '/volumes', {'volume': {
        'size': 1, 'imageRef': _image_with_min_disk(target, 5)}})
    assert (status, body) == (400, {'badRequest': {'code': 400, 'message': (
        'Invalid input received: Volume size 1GB cannot be smaller than the image minDisk '
        'size 5GB.')}})


def _image_with_min_disk(target, min_disk):
    """Register an image with ``min_disk`` in the Glance the target uses."""
    image_id = str(uuid.uuid4())
    with tempfile.NamedTemporaryFile(suffix='.raw') as stream:
        stream.write(b'\0' * 4096)
        stream.flush()
        target.glance_cloud.glance.register(image_id, f'min-disk-{min_disk}', stream.name,
                                            'raw', min_disk=min_disk)
    return image_id
