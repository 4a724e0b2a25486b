"""The CLI against a real Cinder 29 (tests/fixtures/realcinder.py) chosen by a clouds.yaml
entry with ``auth_type: noauth``, as a Keystone-less deployment would write it: boot every
volume kind with OS_CLOUD, delete in a new process with no cloud options; what exists is
read back through Cinder's own API."""

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import yaml

from tests.conformance.test_boot_real_cinder import _request
from tests.conformance.test_boot_real_cinder import sources  # noqa: F401 (fixture)

pytestmark = pytest.mark.realcinder

FLAVORS = {'42': {'name': 'bf.small', 'root_gb': 1, 'ephemeral_gb': 2, 'swap': 1024,
                  'vcpus': 1, 'memory_mb': 256}}
VOLUME_DEVICES = 4          # image, snapshot and blank volumes, and the user's own


def _blockflow(args, env):
    return subprocess.run([sys.executable, '-m', 'blockflow.cli.main', *args],
                          capture_output=True, text=True, env=env, timeout=180)


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    (tmp_path / 'tmp').mkdir(exist_ok=True)
    env.update(XDG_STATE_HOME=str(tmp_path / 'state'), XDG_CONFIG_HOME=str(tmp_path / 'cfg'),
               TMPDIR=str(tmp_path / 'tmp'), **extra)
    return env


def _clouds_yaml(real_cinder, tmp_path):
    path = tmp_path / 'clouds.yaml'
    path.write_text(yaml.safe_dump({'clouds': {'realcinder': {
        'auth_type': 'noauth',
        'auth': {'user_id': 'blockflow', 'project_id': real_cinder.project_id,
                 'endpoint': f'{real_cinder.url}/v3'},
        'image_endpoint_override': real_cinder.glance_url}}}))
    return path


def _boot_volumes(cinder, instance_uuid):
    return cinder.volumes.list(search_opts={'metadata': {'blockflow_instance': instance_uuid}})


def test_clouds_yaml_noauth_boot_then_delete(real_cinder, sources, tmp_path):  # noqa: F811
    cinder = real_cinder.cinder_client()
    request = tmp_path / 'request.json'
    request.write_text(json.dumps(_request(sources)))
    flavors = tmp_path / 'flavors.json'
    flavors.write_text(json.dumps(FLAVORS))
    db = f'sqlite:///{tmp_path}/flows.sqlite'
    instance_uuid = str(uuid.uuid4())
    env = _env(tmp_path, OS_CLIENT_CONFIG_FILE=str(_clouds_yaml(real_cinder, tmp_path)),
               OS_CLOUD='realcinder')
    boot = _blockflow(['boot', str(request), '--flavor-file', str(flavors),
                       '--instance-uuid', instance_uuid, '--connection', db,
                       '--instances-path', str(tmp_path / 'instances'), '-f', 'json'], env)
    assert boot.returncode == 0, boot.stdout[-2000:] + boot.stderr[-3000:]
    result = json.loads(boot.stdout)
    assert result['state'] == 'SUCCESS'
    assert result['request_id'].startswith('req-')

    created = _boot_volumes(cinder, instance_uuid)
    assert len(created) == 3                        # one per device that makes a volume
    user = cinder.volumes.get(sources['user_volume_id'])
    in_use = created + [user]
    assert all(v.status == 'in-use' for v in in_use), [(v.id, v.status) for v in in_use]
    attachments = real_cinder.cinder_client('3.44').attachments.list(
        search_opts={'instance_id': instance_uuid})
    assert len(attachments) == VOLUME_DEVICES
    # Real Cinder logs the caller's request id beside its own for each call.
    with open(real_cinder.log_path, encoding='utf-8', errors='replace') as stream:
        assert result['request_id'] in stream.read()

    # A new process, no cloud option, no clouds.yaml variable: the boot's cloud.
    delete = _blockflow(['delete', instance_uuid, '--connection', db], _env(tmp_path))
    assert delete.returncode == 0, delete.stdout + delete.stderr[-3000:]
    assert 'already gone' not in delete.stdout
    deadline = time.monotonic() + 60
    while _boot_volumes(cinder, instance_uuid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _boot_volumes(cinder, instance_uuid) == []       # delete_on_termination ones
    user = cinder.volumes.get(sources['user_volume_id'])
    assert (user.status, user.attachments) == ('available', [])
    assert list(real_cinder.cinder_client('3.44').attachments.list(
        search_opts={'instance_id': instance_uuid})) == []
    assert os.listdir(tmp_path / 'tmp') == []
