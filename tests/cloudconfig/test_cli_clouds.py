"""The CLI picks its cloud the OpenStack way (clouds.yaml, OS_*, --os-*), keeps it with
the boot for life, tags every call with the boot's request id, and refuses a cloud it
cannot use before anything is made. Real processes against the embedded cloud's
Keystone/Cinder/Glance over HTTP (tests/fixtures/cloud.py)."""

import json
import os
import pathlib
import sqlite3
import subprocess
import sys
import uuid

import pytest
import yaml
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from blockflow.cloud import app as cloud_app
from blockflow.cloud.server import read_request_log

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / 'examples' / 'all-kinds.json'
USER_VOLUME = '56494430-5460-4582-a3d0-e22cb4ef0cd2'
CREATED_DEVICES = {'vda', 'vde', 'vdf'}


def _blockflow(args, env, timeout=180):
    return subprocess.run([sys.executable, '-m', 'blockflow.cli.main', *args],
                          capture_output=True, text=True, env=env, timeout=timeout)


def _clean_env(tmp_path, **extra):
    """No OS_* variables, no user clouds.yaml, a private state and temp directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    (tmp_path / 'tmp').mkdir(exist_ok=True)
    env.update(XDG_STATE_HOME=str(tmp_path / 'state'), XDG_CONFIG_HOME=str(tmp_path / 'config'),
               TMPDIR=str(tmp_path / 'tmp'), **extra)
    return env


def _db(tmp_path):
    return f'sqlite:///{tmp_path}/flows.sqlite'


def _boot(tmp_path, env, *cloud_args, instance_uuid=None):
    instance_uuid = instance_uuid or str(uuid.uuid4())
    return instance_uuid, _blockflow(
        ['boot', str(EXAMPLE), *cloud_args, '--instance-uuid', instance_uuid,
         '--connection', _db(tmp_path), '--instances-path', str(tmp_path / 'instances'),
         '-f', 'json'], env)


def _flows(tmp_path, env):
    listing = _blockflow(['list', '-f', 'json', '--connection', _db(tmp_path)], env)
    assert listing.returncode == 0, listing.stderr
    return json.loads(listing.stdout)['flows']


def _volumes(cloud_state_dir):
    """Every volume the cloud holds, read from its own store (not through blockflow)."""
    conn = sqlite3.connect(os.path.join(cloud_state_dir, 'cloud.sqlite'))
    try:
        rows = conn.execute("SELECT body FROM objects WHERE kind = 'volumes'").fetchall()
    finally:
        conn.close()
    return [json.loads(doc) for (doc,) in rows]


def _instance_volumes(state_dir, instance_uuid):
    return [v for v in _volumes(state_dir)
            if (v.get('metadata') or {}).get('blockflow_instance') == instance_uuid]


def _attachments(state_dir, instance_uuid):
    conn = sqlite3.connect(os.path.join(state_dir, 'cloud.sqlite'))
    try:
        rows = conn.execute("SELECT body FROM objects WHERE kind = 'attachments'").fetchall()
    finally:
        conn.close()
    return [a for a in (json.loads(doc) for (doc,) in rows) if a['instance'] == instance_uuid]


def _assert_deleted_cleanly(state_dir, instance_uuid):
    remaining = _instance_volumes(state_dir, instance_uuid)
    assert all(v['status'] in ('deleting', 'deleted') for v in remaining), remaining
    assert _attachments(state_dir, instance_uuid) == [] or all(
        a.get('attach_status') == 'detached' for a in _attachments(state_dir, instance_uuid))
    user = next(v for v in _volumes(state_dir) if v['id'] == USER_VOLUME)
    assert user['status'] == 'available'


def _leftover_tmp(tmp_path):
    return sorted(os.listdir(tmp_path / 'tmp'))


def test_no_cloud_configured_is_one_line_and_makes_nothing(tmp_path):
    env = _clean_env(tmp_path)
    _uuid, boot = _boot(tmp_path, env)
    assert boot.returncode == 2
    error = json.loads(boot.stdout)['error']
    assert error['class'] == 'UsageError'
    assert '--os-cloud' in error['message'] and '--embedded' in error['message']
    table = _blockflow(['boot', str(EXAMPLE), '--connection', _db(tmp_path)], env)
    assert table.returncode == 2 and len(table.stderr.splitlines()) == 1, table.stderr
    assert _flows(tmp_path, env) == []
    assert not (tmp_path / 'state' / 'blockflow' / 'clouds').exists()
    assert _leftover_tmp(tmp_path) == []


def test_clouds_yaml_boot_tags_every_call_and_delete_needs_no_options(
        embedded_cloud_process, tmp_path):
    cloud = embedded_cloud_process
    boot_env = _clean_env(tmp_path, OS_CLIENT_CONFIG_FILE=cloud.clouds_yaml,
                          OS_CLOUD=cloud.name)
    instance_uuid, boot = _boot(tmp_path, boot_env)
    assert boot.returncode == 0, boot.stderr[-3000:]
    result = json.loads(boot.stdout)
    request_id = result['request_id']
    assert request_id.startswith('req-') and uuid.UUID(request_id[4:])

    # Every Cinder and Glance call of the boot carried the boot's request id.
    calls = [c for c in read_request_log(cloud.state_dir)
             if c['path'].startswith(('/volume', '/image'))]
    assert len(calls) > 20
    assert {c['global_request_id'] for c in calls} == {request_id}
    assert len(_instance_volumes(cloud.state_dir, instance_uuid)) == len(CREATED_DEVICES)

    # The request id and the cloud stay with the flow; never a password.
    no_cloud = _clean_env(tmp_path)
    flows = _flows(tmp_path, no_cloud)
    assert flows[0]['request_id'] == request_id
    shown = _blockflow(['show', result['flow_id'], '--connection', _db(tmp_path)], no_cloud)
    assert request_id in shown.stdout
    stored = (tmp_path / 'flows.sqlite').read_bytes()
    assert cloud_app.USERS['admin'].encode() not in stored
    assert cloud_app.USERS['nova'].encode() not in stored

    # A new process with no cloud options at all deletes in the boot's cloud.
    delete = _blockflow(['delete', instance_uuid, '--connection', _db(tmp_path), '-f', 'json'],
                        no_cloud)
    assert delete.returncode == 0, delete.stdout + delete.stderr[-3000:]
    assert not any('already gone' in line for line in json.loads(delete.stdout)['done'])
    _assert_deleted_cleanly(cloud.state_dir, instance_uuid)
    assert _leftover_tmp(tmp_path) == []


def test_token_auth_through_os_options(embedded_cloud_process, tmp_path):
    cloud = embedded_cloud_process
    session = ks_session.Session(auth=v3.Password(
        auth_url=cloud.auth_url, username='admin', password=cloud_app.USERS['admin'],
        project_name='blockflow', user_domain_name='Default', project_domain_name='Default'))
    token = session.get_token()
    env = _clean_env(tmp_path, OS_AUTH_TYPE='token', OS_AUTH_URL=cloud.auth_url,
                     OS_TOKEN=token, OS_PROJECT_NAME='blockflow',
                     OS_PROJECT_DOMAIN_NAME='Default')
    instance_uuid, boot = _boot(tmp_path, env, '--flavor-file', str(_flavors(tmp_path)))
    assert boot.returncode == 0, boot.stderr[-3000:]
    assert len(_instance_volumes(cloud.state_dir, instance_uuid)) == len(CREATED_DEVICES)
    assert token.encode() not in (tmp_path / 'flows.sqlite').read_bytes()
    # An explicit cloud option overrides the recorded one: delete goes through the
    # clouds.yaml entry, whose service user may delete in-use attachments (a token
    # user may not, as in Cinder since OSSA-2023-003).
    delete = _blockflow(['delete', instance_uuid, '--connection', _db(tmp_path),
                         '--os-cloud', cloud.name],
                        _clean_env(tmp_path, OS_CLIENT_CONFIG_FILE=cloud.clouds_yaml))
    assert delete.returncode == 0, delete.stderr[-3000:]
    _assert_deleted_cleanly(cloud.state_dir, instance_uuid)


def _flavors(tmp_path):
    path = tmp_path / 'flavors.json'
    path.write_text(json.dumps({'42': {'name': 'bf.small', 'root_gb': 1, 'ephemeral_gb': 2,
                                       'swap': 1024, 'vcpus': 1, 'memory_mb': 256}}))
    return path


def _bad_clouds(cloud, tmp_path):
    with open(cloud.clouds_yaml, encoding='utf-8') as stream:
        config = yaml.safe_load(stream)
    good = config['clouds'][cloud.name]
    config['clouds']['wrong-password'] = dict(
        good, auth=dict(good['auth'], password='not-the-password'))
    config['clouds']['no-such-region'] = dict(good, region_name='Atlantis')
    config['clouds']['unreachable'] = dict(
        good, auth=dict(good['auth'], auth_url='http://127.0.0.1:9/identity/v3'))
    config['clouds']['noauth-unreachable'] = {
        'auth_type': 'noauth', 'auth': {'user_id': 'blockflow', 'project_id': 'c0ffee',
                                        'endpoint': 'http://127.0.0.1:9/v3'},
        'image_endpoint_override': 'http://127.0.0.1:9/image'}
    path = tmp_path / 'clouds.yaml'
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize('cloud_name, code, words', [
    ('wrong-password', 1, 'authentication refused'),
    ('no-such-region', 1, "region 'Atlantis' is not in the catalog"),
    ('unreachable', 1, 'cloud up?'),
    ('noauth-unreachable', 1, 'cannot connect'),
    ('no-such-cloud', 2, 'no-such-cloud was not found'),
])
def test_unusable_cloud_is_one_line_and_makes_nothing(embedded_cloud_process, tmp_path,
                                                      cloud_name, code, words):
    cloud = embedded_cloud_process
    env = _clean_env(tmp_path, OS_CLIENT_CONFIG_FILE=str(_bad_clouds(cloud, tmp_path)))
    before = len(_volumes(cloud.state_dir))
    boot = _blockflow(['boot', str(EXAMPLE), '--os-cloud', cloud_name,
                       '--connection', _db(tmp_path), '--quiet'], env)
    assert boot.returncode == code, boot.stderr
    assert len(boot.stderr.splitlines()) == 1, boot.stderr
    assert words in boot.stderr
    assert 'not-the-password' not in boot.stderr
    assert len(_volumes(cloud.state_dir)) == before
    assert _flows(tmp_path, env) == []
    assert _leftover_tmp(tmp_path) == []


def test_embedded_cloud_has_a_home_reused_by_later_commands(tmp_path):
    env = _clean_env(tmp_path)
    instance_uuid, boot = _boot(tmp_path, env, '--embedded', 'lab')
    assert boot.returncode == 0, boot.stderr[-3000:]
    home = tmp_path / 'state' / 'blockflow' / 'clouds' / 'lab'
    assert len(_instance_volumes(str(home), instance_uuid)) == len(CREATED_DEVICES)
    # The cloud stopped with the boot; delete (no options) serves it again from its home.
    delete = _blockflow(['delete', instance_uuid, '--connection', _db(tmp_path), '-f', 'json'],
                        env)
    assert delete.returncode == 0, delete.stderr[-3000:]
    assert not any('already gone' in line for line in json.loads(delete.stdout)['done'])
    _assert_deleted_cleanly(str(home), instance_uuid)
    assert _leftover_tmp(tmp_path) == []


def test_unreachable_boot_cloud_fails_resume_and_delete_in_one_line(
        embedded_cloud_process, tmp_path):
    cloud = embedded_cloud_process
    boot_env = _clean_env(tmp_path, OS_CLIENT_CONFIG_FILE=cloud.clouds_yaml)
    instance_uuid, boot = _boot(tmp_path, boot_env, '--os-cloud', cloud.name)
    assert boot.returncode == 0, boot.stderr[-3000:]
    cloud.stop()
    delete = _blockflow(['delete', instance_uuid, '--connection', _db(tmp_path)],
                        _clean_env(tmp_path), timeout=60)
    assert delete.returncode == 1
    assert len(delete.stderr.splitlines()) == 1, delete.stderr
    assert 'already gone' not in delete.stdout + delete.stderr
    assert 'CloudError' in delete.stderr


def test_validate_honours_config_file_and_says_what_it_skipped(tmp_path):
    env = _clean_env(tmp_path)
    config = tmp_path / 'blockflow.conf'
    config.write_text('[compute]\nmax_local_block_devices = 0\n')
    plain = _blockflow(['validate', str(EXAMPLE), '-f', 'json'], env)
    assert plain.returncode == 0, plain.stderr
    assert 'flavor' in json.loads(plain.stdout)['skipped_checks']
    refused = _blockflow(['--config-file', str(config), 'validate', str(EXAMPLE)], env)
    assert refused.returncode == 1
    assert len(refused.stderr.splitlines()) == 1, refused.stderr
    table = _blockflow(['plan', str(EXAMPLE)], env)
    assert table.returncode == 0 and 'checks were skipped' in table.stderr


def test_validate_checks_against_a_live_cloud(embedded_cloud_process, tmp_path):
    cloud = embedded_cloud_process
    env = _clean_env(tmp_path, OS_CLIENT_CONFIG_FILE=cloud.clouds_yaml, OS_CLOUD=cloud.name)
    ok = _blockflow(['validate', str(EXAMPLE), '-f', 'json'], env)
    assert ok.returncode == 0, ok.stderr
    assert 'skipped_checks' not in json.loads(ok.stdout)
    body = json.loads(EXAMPLE.read_text())
    body['server']['block_device_mapping_v2'][3]['uuid'] = str(uuid.uuid4())
    missing = tmp_path / 'missing-volume.json'
    missing.write_text(json.dumps(body))
    refused = _blockflow(['plan', str(missing)], env)
    assert refused.returncode == 1
    assert len(refused.stderr.splitlines()) == 1, refused.stderr
    assert refused.stderr.startswith('VolumeNotFound:')     # Nova's class for a missing volume
    assert body['server']['block_device_mapping_v2'][3]['uuid'] in refused.stderr


def test_crashed_boot_resumes_and_deletes_in_its_cloud_under_its_request_id(
        embedded_cloud_process, tmp_path):
    from blockflow.runner import crashpoints
    cloud = embedded_cloud_process
    boot_env = _clean_env(tmp_path, OS_CLIENT_CONFIG_FILE=cloud.clouds_yaml,
                          **{crashpoints.ENV: 'after:vdf-create-volume'})
    instance_uuid, boot = _boot(tmp_path, boot_env, '--os-cloud', cloud.name)
    assert boot.returncode == crashpoints.CRASH_EXIT_CODE, boot.stderr[-3000:]
    request_id = _flows(tmp_path, _clean_env(tmp_path))[0]['request_id']

    no_cloud = _clean_env(tmp_path)
    # A clouds.yaml of the same name elsewhere does not divert the boot's cloud.
    decoy = tmp_path / 'decoy.yaml'
    decoy.write_text(yaml.safe_dump({'clouds': {cloud.name: {
        'auth': {'auth_url': 'http://127.0.0.1:9/identity/v3', 'username': 'x',
                 'password': 'y', 'project_name': 'z'}}}}))
    resumed = _blockflow(['resume', '--all', '--connection', _db(tmp_path), '--quiet'],
                         dict(no_cloud, OS_CLIENT_CONFIG_FILE=str(decoy)))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr[-3000:]
    assert 'SUCCESS' in resumed.stdout
    assert len(_instance_volumes(cloud.state_dir, instance_uuid)) == len(CREATED_DEVICES)
    # Both processes sent the boot's one request id on every Cinder and Glance call.
    calls = [c for c in read_request_log(cloud.state_dir)
             if c['path'].startswith(('/volume', '/image'))]
    assert {c['global_request_id'] for c in calls} == {request_id}

    delete = _blockflow(['delete', instance_uuid, '--connection', _db(tmp_path)], no_cloud)
    assert delete.returncode == 0, delete.stderr[-3000:]
    _assert_deleted_cleanly(cloud.state_dir, instance_uuid)
    assert _leftover_tmp(tmp_path) == []


def test_os_variables_select_the_cloud_and_only_where_it_is_is_kept(
        embedded_cloud_process, tmp_path):
    cloud = embedded_cloud_process
    env = _clean_env(tmp_path, OS_AUTH_URL=cloud.auth_url, OS_USERNAME='admin',
                     OS_PASSWORD=cloud_app.USERS['admin'], OS_PROJECT_NAME='blockflow',
                     OS_USER_DOMAIN_NAME='Default', OS_PROJECT_DOMAIN_NAME='Default',
                     OS_REGION_NAME='RegionOne', OS_INTERFACE='internal')
    instance_uuid, boot = _boot(tmp_path, env, '--flavor-file', str(_flavors(tmp_path)))
    assert boot.returncode == 0, boot.stderr[-3000:]
    devices = _blockflow(['devices', instance_uuid, '-f', 'json', '--connection',
                          _db(tmp_path)], _clean_env(tmp_path))
    ref = json.loads(devices.stdout)['cloud']
    assert ref['cloud'] is None and ref['region_name'] == 'RegionOne'
    assert ref['options']['interface'] == 'internal'
    assert ref['auth'] == {'auth_url': cloud.auth_url, 'username': 'admin',
                           'project_name': 'blockflow', 'user_domain_name': 'Default',
                           'project_domain_name': 'Default'}
    assert cloud_app.USERS['admin'].encode() not in (tmp_path / 'flows.sqlite').read_bytes()
    delete = _blockflow(['delete', instance_uuid, '--connection', _db(tmp_path),
                         '--os-cloud', cloud.name],
                        _clean_env(tmp_path, OS_CLIENT_CONFIG_FILE=cloud.clouds_yaml))
    assert delete.returncode == 0, delete.stderr[-3000:]
    _assert_deleted_cleanly(cloud.state_dir, instance_uuid)
