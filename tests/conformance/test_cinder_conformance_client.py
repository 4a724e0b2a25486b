"""What cinderclient's everyday commands send, asserted against the embedded cloud and
a real Cinder 29 alike: rename, quota show/defaults/usage, type create with extra
specs, all_tenants, snapshot fields per microversion and the 3.66 ``force`` rule,
extend of an in-use volume from 3.42, attach modes from 3.54, empty replies.
Targets as in test_cinder_conformance.
"""

import time
import uuid

import pytest

from tests.conformance.test_cinder_conformance import CONNECTOR
from tests.conformance.test_cinder_conformance import embedded_noauth_cloud  # noqa: F401
from tests.conformance.test_cinder_conformance import target  # noqa: F401

pytestmark = pytest.mark.realcinder
SNAPSHOT_FIELDS = {'id', 'created_at', 'updated_at', 'name', 'description', 'volume_id',
                   'status', 'size', 'metadata', 'os-extended-snapshot-attributes:project_id',
                   'os-extended-snapshot-attributes:progress'}
SNAPSHOT_FIELDS_SINCE = {'group_snapshot_id': (3, 14), 'user_id': (3, 41),
                         'consumes_quota': (3, 65)}


def test_request_id_headers(target):
    session = target.clients.session
    response = session.get('/volumes', endpoint_filter={'service_type': 'volumev3'})
    assert response.headers['x-openstack-request-id'].startswith('req-')
    assert response.headers['x-compute-request-id'] == \
        response.headers['x-openstack-request-id']


def test_rename_and_describe_a_volume(target):
    vid = target.available_volume(name='before')['id']
    status, body = target.http('PUT', f'/volumes/{vid}', {'volume': {
        'name': 'after', 'description': 'renamed'}})
    assert status == 200, body
    assert (body['volume']['name'], body['volume']['description']) == ('after', 'renamed')
    assert target.volume(vid)['name'] == 'after'
    status, body = target.http('PUT', f'/volumes/{vid}', {'volume': {'size': 5}})
    assert status == 400, body


def test_quota_show_defaults_and_usage(target):
    status, body = target.http('GET', f'/os-quota-sets/{target.project_id}/defaults')
    assert status == 200, body
    defaults = body['quota_set']
    assert {'volumes', 'snapshots', 'gigabytes'} <= set(defaults)
    target.available_volume(2)
    status, body = target.http('GET', f'/os-quota-sets/{target.project_id}?usage=True')
    assert status == 200, body
    usage = body['quota_set']
    assert usage['volumes']['in_use'] == 1 and usage['gigabytes']['in_use'] == 2
    assert usage['volumes']['limit'] == defaults['volumes']
    assert usage['volumes']['reserved'] == 0


def test_admin_creates_a_type_with_extra_specs(target):
    name = f'conformance-{uuid.uuid4().hex[:8]}'
    status, body = target.http('POST', '/types', {'volume_type': {
        'name': name, 'extra_specs': {'blockflow:conformance': 'yes'}}})
    assert status == 200, body
    vtype = body['volume_type']
    # (A scoped key: the scheduler matches unscoped ones against the backend.)
    assert vtype['name'] == name and vtype['extra_specs'] == {'blockflow:conformance': 'yes'}
    status, body = target.http('GET', f"/types/{vtype['id']}/extra_specs")
    assert (status, body) == (200, {'extra_specs': {'blockflow:conformance': 'yes'}})
    assert target.http('POST', '/types', {'volume_type': {'name': name}})[0] == 409
    volume = target.available_volume(volume_type=name)
    assert volume['volume_type'] == name


def test_all_tenants_for_an_admin(target):
    other = uuid.uuid4().hex
    status, body = target.http('POST', '/volumes', {'volume': {'size': 1, 'name': 'theirs'}},
                               project=other)
    assert status == 202, body
    theirs = body['volume']['id']
    status, body = target.http('GET', '/volumes')
    assert theirs not in [v['id'] for v in body['volumes']]
    status, body = target.http('GET', '/volumes?all_tenants=1')
    assert theirs in [v['id'] for v in body['volumes']]


def _snapshot(target, volume_id, version='3.71', **extra):
    return target.http('POST', '/snapshots', {'snapshot': dict(volume_id=volume_id, **extra)},
                       version=version)


def _wait_snapshot(target, snapshot_id):
    deadline = time.monotonic() + 30
    while target.http('GET', f'/snapshots/{snapshot_id}')[1]['snapshot']['status'] != \
            'available':
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize('version', ['3.0', '3.14', '3.41', '3.65', '3.71'])
def test_snapshot_fields_follow_the_microversion(target, version):
    vid = target.available_volume()['id']
    status, body = _snapshot(target, vid)
    assert status == 202, body
    snapshot_id = body['snapshot']['id']
    _wait_snapshot(target, snapshot_id)
    status, body = target.http('GET', f'/snapshots/{snapshot_id}', version=version)
    major, minor = (int(p) for p in version.split('.'))
    expected = SNAPSHOT_FIELDS | {f for f, since in SNAPSHOT_FIELDS_SINCE.items()
                                  if (major, minor) >= since}
    assert set(body['snapshot']) == expected


def _in_use_volume(target):
    vid = target.available_volume()['id']
    assert target.action(vid, 'os-reserve')[0] == 202
    assert target.action(vid, 'os-attach', {'instance_uuid': str(uuid.uuid4()),
                                            'mountpoint': '/dev/vdb', 'mode': 'rw'})[0] == 202
    assert target.volume(vid)['status'] == 'in-use'
    return vid


def test_snapshot_of_an_in_use_volume_needs_force_until_3_66(target):
    vid = _in_use_volume(target)
    assert _snapshot(target, vid, version='3.65')[0] == 400
    status, body = _snapshot(target, vid, version='3.65', force=True)
    assert status == 202, body
    status, body = _snapshot(target, vid, version='3.66')
    assert status == 202, body
    assert _snapshot(target, vid, version='3.66', force=False)[0] == 400


def test_extend_of_an_in_use_volume_from_3_42(target):
    vid = _in_use_volume(target)
    assert target.action(vid, 'os-extend', {'new_size': 2}, version='3.41')[0] == 400
    assert target.volume(vid)['size'] == 1
    assert target.action(vid, 'os-extend', {'new_size': 2}, version='3.42')[0] == 202
    deadline = time.monotonic() + 30
    while (volume := target.volume(vid))['size'] != 2 or volume['status'] != 'in-use':
        assert time.monotonic() < deadline, volume['status']
        time.sleep(0.05)


def test_legacy_detach_of_every_attachment_by_a_plain_user(target):
    vid = _in_use_volume(target)
    assert target.action(vid, 'os-detach', {})[0] == 202
    volume = target.volume(vid)
    assert (volume['status'], volume['attachments']) == ('available', [])


def test_attachment_mode_is_taken_from_3_54(target):
    vid = target.available_volume()['id']
    body = {'attachment': {'volume_uuid': vid, 'instance_uuid': str(uuid.uuid4()),
                           'mode': 'ro'}}
    status, refused = target.http('POST', '/attachments', body, version='3.53')
    assert status == 400, refused
    assert "Additional properties are not allowed ('mode' was unexpected)" in \
        refused['badRequest']['message']
    status, created = target.http('POST', '/attachments', body, version='3.54')
    assert status == 200, created
    status, updated = target.http('PUT', f"/attachments/{created['attachment']['id']}",
                                  {'attachment': {'connector': CONNECTOR}}, version='3.54')
    assert status == 200, updated
    assert updated['attachment']['attach_mode'] == 'ro'


def test_empty_replies(target):
    vid = target.available_volume()['id']
    session = target.clients.session
    response = session.delete(f'/volumes/{vid}', endpoint_filter={'service_type': 'volumev3'})
    assert response.status_code == 202
    assert response.content == b''
    assert response.headers['Content-Type'] == 'text/html; charset=UTF-8'
    vid = target.available_volume()['id']
    status, attachment = target.http('POST', '/attachments', {'attachment': {
        'volume_uuid': vid, 'instance_uuid': str(uuid.uuid4()), 'connector': CONNECTOR}},
        version='3.44')
    assert status == 200, attachment
    response = session.post(f"/attachments/{attachment['attachment']['id']}/action",
                            json={'os-complete': None},
                            endpoint_filter={'service_type': 'volumev3'},
                            headers={'OpenStack-API-Version': 'volume 3.44'})
    assert response.status_code == 204 and response.content == b''
    assert response.headers['Content-Type'] == 'application/json'


def test_admin_keys_and_deletes_a_type(target):
    name = f'conformance-{uuid.uuid4().hex[:8]}'
    status, body = target.http('POST', '/types', {'volume_type': {'name': name}})
    assert status == 200, body
    type_id = body['volume_type']['id']
    status, body = target.http('POST', f'/types/{type_id}/extra_specs',
                               {'extra_specs': {'blockflow:key': 'v'}})
    assert (status, body) == (200, {'extra_specs': {'blockflow:key': 'v'}})
    assert target.http('GET', f'/types/{type_id}/extra_specs')[1] == \
        {'extra_specs': {'blockflow:key': 'v'}}
    vid = target.available_volume(volume_type=name)['id']
    assert target.http('DELETE', f'/types/{type_id}') == (400, {'badRequest': {
        'code': 400, 'message': 'Target volume type is still in use.'}})
    assert target.http('DELETE', f'/volumes/{vid}')[0] == 202
    deadline = time.monotonic() + 30
    while target.http('GET', f'/volumes/{vid}')[0] != 404:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert target.http('DELETE', f'/types/{type_id}')[0] == 202
    assert target.http('GET', f'/types/{type_id}')[0] == 404


def test_rename_a_snapshot(target):
    vid = target.available_volume()['id']
    status, body = _snapshot(target, vid, name='before')
    assert status == 202, body
    snapshot_id = body['snapshot']['id']
    _wait_snapshot(target, snapshot_id)
    status, body = target.http('PUT', f'/snapshots/{snapshot_id}', {'snapshot': {
        'name': 'after', 'description': 'renamed'}})
    assert status == 200, body
    assert (body['snapshot']['name'], body['snapshot']['description']) == ('after', 'renamed')
    assert target.http('GET', f'/snapshots/{snapshot_id}')[1]['snapshot']['name'] == 'after'
    assert target.http('PUT', f'/snapshots/{snapshot_id}',
                       {'snapshot': {'size': 9}})[0] == 400


BACKUP_FIELDS = {'id', 'status', 'size', 'object_count', 'availability_zone', 'container',
                 'created_at', 'updated_at', 'name', 'description', 'fail_reason',
                 'volume_id', 'links', 'is_incremental', 'has_dependent_backups',
                 'snapshot_id', 'data_timestamp'}
BACKUP_FIELDS_SINCE = {'os-backup-project-attr:project_id': (3, 18), 'metadata': (3, 43),
                       'user_id': (3, 56)}


@pytest.mark.parametrize('version', ['3.0', '3.18', '3.43', '3.56'])
def test_backup_views(target, version):
    """Create answers with the summary view; show and list with Cinder's fields.
    (Whether the backup then works depends on a backup service: the real
    harness has none, the embedded cloud has one.)"""
    vid = target.available_volume()['id']
    status, body = target.http('POST', '/backups', {'backup': {'volume_id': vid,
                                                               'name': 'conformance'}})
    assert status == 202, body
    assert set(body['backup']) == {'id', 'name', 'links'}
    backup_id = body['backup']['id']
    status, body = target.http('GET', f'/backups/{backup_id}', version=version)
    assert status == 200, body
    major, minor = (int(p) for p in version.split('.'))
    assert set(body['backup']) == BACKUP_FIELDS | {
        f for f, since in BACKUP_FIELDS_SINCE.items() if (major, minor) >= since}
    status, body = target.http('GET', '/backups')
    listed = next(b for b in body['backups'] if b['id'] == backup_id)
    assert set(listed) == {'id', 'name', 'links'}
