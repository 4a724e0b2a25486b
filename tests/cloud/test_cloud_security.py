"""The embedded cloud as a hostile client probes it: tokens, roles, projects, /admin."""

import os
import stat
import uuid

import pytest
import requests

from blockflow.cloud import identity
from blockflow.cloud.server import EmbeddedCloud
from tests.fixtures.cloud import admin_headers


def _token(cloud, user, **scope):
    account = identity.ACCOUNTS[user]
    body = {'auth': {'identity': {'methods': ['password'], 'password': {'user': {
        'name': user, 'password': account.password, 'domain': {'name': 'Default'}}}}}}
    if scope:
        body['auth']['scope'] = {'project': scope}
    response = requests.post(f'{cloud.auth_url}/auth/tokens', json=body, timeout=5)
    assert response.status_code == 201, response.text
    return response.headers['X-Subject-Token'], response.json()['token']


class Caller:
    """One user of the cloud: raw requests in their own project's URL space."""

    def __init__(self, cloud, user):
        self.cloud = cloud
        self.token, body = _token(cloud, user)
        self.project_id = body['project']['id']
        self.base = f'{cloud.url}/volume/v3/{self.project_id}'

    def __call__(self, method, path, body=None, version='3.71', **headers):
        headers = {'X-Auth-Token': self.token, 'OpenStack-API-Version': f'volume {version}',
                   **headers}
        response = requests.request(method, self.base + path, json=body, headers=headers,
                                    timeout=10)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None

    def available_volume(self, **extra):
        status, body = self('POST', '/volumes', {'volume': dict(size=1, **extra)})
        assert status == 202, body
        volume_id = body['volume']['id']
        for _attempt in range(200):
            if self('GET', f'/volumes/{volume_id}')[1]['volume']['status'] == 'available':
                return volume_id
            requests.get(self.cloud.url + '/volume/', timeout=5)    # a short pause
        raise AssertionError(f'{volume_id} never became available')


@pytest.fixture
def users(embedded_cloud):
    return (Caller(embedded_cloud, 'demo'), Caller(embedded_cloud, 'alt_demo'),
            Caller(embedded_cloud, 'admin'))


def test_a_project_cannot_reach_another_projects_snapshots_backups_or_quotas(users):
    owner, other, _admin = users
    volume_id = owner.available_volume()
    status, snap = owner('POST', '/snapshots', {'snapshot': {'volume_id': volume_id}})
    assert status == 202, snap
    snapshot_id = snap['snapshot']['id']
    status, backup = owner('POST', '/backups', {'backup': {'volume_id': volume_id}})
    assert status == 202, backup
    backup_id = backup['backup']['id']
    assert other('GET', f'/snapshots/{snapshot_id}')[0] == 404
    assert other('GET', f'/backups/{backup_id}')[0] == 404
    assert other('DELETE', f'/snapshots/{snapshot_id}')[0] == 404
    assert snapshot_id not in [s['id'] for s in other('GET', '/snapshots/detail')[1]['snapshots']]
    for key, ident in (('snapshot_id', snapshot_id), ('backup_id', backup_id),
                       ('source_volid', volume_id)):
        status, body = other('POST', '/volumes', {'volume': {key: ident}})
        assert status == 404, (key, body)
    assert other('PUT', f'/os-quota-sets/{owner.project_id}',
                 {'quota_set': {'volumes': 0}})[0] == 403
    assert other('PUT', f'/os-quota-sets/{other.project_id}',
                 {'quota_set': {'volumes': 100}})[0] == 403
    assert other('GET', f'/os-quota-sets/{owner.project_id}')[0] == 403
    assert other('GET', f'/os-quota-sets/{other.project_id}')[0] == 200
    # The owner still has everything.
    assert owner('GET', f'/snapshots/{snapshot_id}')[0] == 200
    assert owner('GET', f'/backups/{backup_id}')[0] == 200
    assert owner('GET', f'/volumes/{volume_id}')[0] == 200


def test_an_admin_crosses_projects_only_when_asking(users):
    owner, _other, admin = users
    volume_id = owner.available_volume(name='owned')
    listed = admin('GET', '/volumes')[1]['volumes']
    assert volume_id not in [v['id'] for v in listed]
    listed = admin('GET', '/volumes?all_tenants=1')[1]['volumes']
    assert volume_id in [v['id'] for v in listed]
    assert owner('GET', '/volumes?all_tenants=1')[1]['volumes'] == \
        owner('GET', '/volumes')[1]['volumes']
    status, body = admin('GET', f'/volumes/{volume_id}')
    assert status == 200 and body['volume']['os-vol-tenant-attr:tenant_id'] == owner.project_id
    assert admin('PUT', f'/os-quota-sets/{owner.project_id}',
                 {'quota_set': {'volumes': 50}})[0] == 200
    assert owner('GET', f'/os-quota-sets/{owner.project_id}')[1]['quota_set']['volumes'] == 50


def test_only_issued_tokens_are_accepted(embedded_cloud):
    base = f'{embedded_cloud.url}/volume/v3/{embedded_cloud.project_id}/volumes'
    for token in ('', 'x', f':{embedded_cloud.project_id}',
                  f'admin:{embedded_cloud.project_id}', uuid.uuid4().hex):
        response = requests.get(base, headers={'X-Auth-Token': token}, timeout=5)
        assert response.status_code == 401, token
    token, _body = _token(embedded_cloud, 'admin')
    assert requests.get(base, headers={'X-Auth-Token': token}, timeout=5).status_code == 200


def test_a_token_scoped_to_another_project_is_refused(embedded_cloud):
    body = {'auth': {'identity': {'methods': ['password'], 'password': {'user': {
        'name': 'demo', 'password': identity.ACCOUNTS['demo'].password,
        'domain': {'name': 'Default'}}}},
        'scope': {'project': {'id': identity.ALT_PROJECT_ID}}}}
    response = requests.post(f'{embedded_cloud.auth_url}/auth/tokens', json=body, timeout=5)
    assert response.status_code == 401


def test_roles_are_matched_whole(embedded_cloud, tmp_path):
    """A service role header that merely contains "service" is no service role."""
    with EmbeddedCloud(str(tmp_path / 'noauth'), auth_strategy='noauth',
                       latency_profile='fast') as cloud:
        project = uuid.uuid4().hex
        base = f'{cloud.url}/volume/v3/{project}'
        headers = {'X-Auth-Token': f'user:{project}', 'OpenStack-API-Version': 'volume 3.44'}
        volume = requests.post(base + '/volumes', json={'volume': {'size': 1}},
                               headers=headers, timeout=5).json()['volume']
        while requests.get(f"{base}/volumes/{volume['id']}", headers=headers,
                           timeout=5).json()['volume']['status'] != 'available':
            pass
        attachment = requests.post(base + '/attachments', headers=headers, timeout=5, json={
            'attachment': {'volume_uuid': volume['id'], 'instance_uuid': str(uuid.uuid4()),
                           'connector': {'host': 'h'}}}).json()['attachment']
        url = f"{base}/attachments/{attachment['id']}"
        fake = dict(headers, **{'X-Service-Roles': 'noservice-at-all'})
        assert requests.delete(url, headers=fake, timeout=5).status_code == 500
        real = dict(headers, **{'X-Service-Roles': 'reader, service'})
        assert requests.delete(url, headers=real, timeout=5).status_code == 200


def test_admin_endpoints_need_an_admin_token_and_json(embedded_cloud):
    url = embedded_cloud.admin_url + '/faults'
    rule = {'fail': [{'op': 'volume.list', 'status': 503}]}
    assert requests.post(url, json=rule, timeout=5).status_code == 401
    assert requests.get(embedded_cloud.admin_url + '/counters', timeout=5).status_code == 401
    demo, _body = _token(embedded_cloud, 'demo')
    assert requests.post(url, json=rule, headers={'X-Auth-Token': demo},
                         timeout=5).status_code == 403
    admin = admin_headers(embedded_cloud.auth_url)
    # What a web page can send without a preflight: a form post, text/plain.
    form = requests.post(url, data='{"fail": []}', timeout=5, headers={
        'X-Auth-Token': admin['X-Auth-Token'], 'Content-Type': 'text/plain'})
    assert form.status_code == 415
    assert embedded_cloud.faults.to_dict()['rules'] == []


@pytest.mark.parametrize('spec', [
    {'latency': {'call_s': -1}}, {'latency': {'call_s': 'slow'}},
    {'latency': {'nonsense_s': 1}}, {'fail': [{'op': 'volume.list', 'status': 200}]},
    {'fail': [{'status': 500}]}, {'fail': [{'op': 'x', 'nth': 0}]}, {'fail': {}},
    {'clear': 'yes'}, {'volumes_end_in_error': 'name'}, {'surprise': 1}, [1],
])
def test_a_bad_fault_rule_is_a_400_and_changes_nothing(embedded_cloud, spec):
    before = embedded_cloud.faults.to_dict()
    response = requests.post(embedded_cloud.admin_url + '/faults', json=spec, timeout=5,
                             headers=admin_headers(embedded_cloud.auth_url))
    assert response.status_code == 400, response.text
    assert 'faults: ' in response.json()['badRequest']['message']
    assert embedded_cloud.faults.to_dict() == before


def test_clear_clears_rules_and_latency(embedded_cloud):
    headers = admin_headers(embedded_cloud.auth_url)
    start = dict(embedded_cloud.faults.latency)
    url = embedded_cloud.admin_url + '/faults'
    assert requests.post(url, headers=headers, timeout=5, json={
        'latency': {'call_s': 0.5}, 'fail': [{'op': 'volume.list'}],
        'volumes_stuck_creating': ['stuck']}).status_code == 200
    cleared = requests.post(url, headers=headers, json={'clear': True}, timeout=5).json()
    assert cleared['latency'] == start
    assert cleared['rules'] == [] and cleared['volumes_stuck_creating'] == []


def test_state_dir_is_private_even_when_it_existed(tmp_path):
    state = tmp_path / 'existing'
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    with EmbeddedCloud(str(state)):
        assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
        for name in os.listdir(state):
            if name.startswith('cloud.sqlite'):
                assert stat.S_IMODE(os.stat(state / name).st_mode) == 0o600, name


def test_catalog_names_the_cloud_not_the_callers_host_header(embedded_cloud):
    body = {'auth': {'identity': {'methods': ['password'], 'password': {'user': {
        'name': 'admin', 'password': identity.ACCOUNTS['admin'].password,
        'domain': {'name': 'Default'}}}}}}
    response = requests.post(f'{embedded_cloud.auth_url}/auth/tokens', json=body, timeout=5,
                             headers={'Host': 'evil.example:666'})
    urls = [e['url'] for service in response.json()['token']['catalog']
            for e in service['endpoints']]
    assert urls and all(u.startswith(embedded_cloud.url) for u in urls)


def test_glance_requires_a_token_unless_noauth(embedded_cloud, tmp_path):
    url = f'{embedded_cloud.url}/image/v2/images'
    assert requests.get(url, timeout=5).status_code == 401
    token, _body = _token(embedded_cloud, 'demo')
    assert requests.get(url, headers={'X-Auth-Token': token}, timeout=5).status_code == 200
    with EmbeddedCloud(str(tmp_path / 'noauth'), auth_strategy='noauth') as cloud:
        assert requests.get(f'{cloud.url}/image/v2/images', timeout=5).status_code == 200
