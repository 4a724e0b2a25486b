"""Kill a boot at named points (os._exit, as kill -9), resume it in a new process:
the boot completes with exactly one volume per device and nothing stuck or leaked.
The cloud runs in its own process so it outlives the crash."""

import json
import os
import pathlib
import subprocess
import sys
import uuid

import pytest
from cinderclient import client as cinder_client
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from blockflow.cloud import app as cloud_app
from blockflow.runner import crashpoints

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / 'examples' / 'all-kinds.json'
VOLUME_DEVICES = {'vda', 'vdd', 'vde', 'vdf'}
CREATED_DEVICES = {'vda', 'vde', 'vdf'}
USER_VOLUME = '56494430-5460-4582-a3d0-e22cb4ef0cd2'


def _blockflow(args, env):
    return subprocess.run([sys.executable, '-m', 'blockflow.cli.main', *args],
                          capture_output=True, text=True, env=env, timeout=180)


def _read(args, capsys):
    """JSON of a read-only command (list, show) run in this process: what it
    reads is the flows' database, not the process (a child costs a second)."""
    from blockflow.cli import main as cli
    capsys.readouterr()
    code = cli.main([*args, '-f', 'json'])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def _cinder(cloud):
    auth = v3.Password(auth_url=cloud.auth_url, username='admin',
                       password=cloud_app.USERS['admin'], project_name='blockflow',
                       user_domain_name='Default', project_domain_name='Default')
    return cinder_client.Client('3.44', session=ks_session.Session(auth=auth))


def _boot_args(cloud, tmp_path, instance_uuid):
    return ['boot', str(EXAMPLE), *cloud.cloud_args, '--instance-uuid', instance_uuid,
            '--connection', f'sqlite:///{tmp_path}/flows.sqlite', '--quiet',
            '--instances-path', str(tmp_path / 'instances')]


def _env(tmp_path, crash=None, cloud=None):
    """The boot names its cloud (clouds.yaml); resume, show and list get no cloud at all."""
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / 'state'))
    for name in [k for k in env if k.startswith('OS_')]:
        env.pop(name)
    if cloud is not None:
        env = cloud.env(env)
    env.pop(crashpoints.ENV, None)
    if crash:
        env[crashpoints.ENV] = crash
    return env


def _state(cloud, instance_uuid):
    cinder = _cinder(cloud)
    volumes = [v for v in cinder.volumes.list()
               if (v.metadata or {}).get('blockflow_instance') == instance_uuid]
    attachments = [a for a in cinder.attachments.list() if a.instance == instance_uuid]
    stuck = [v.id for v in cinder.volumes.list()
             if v.status in ('reserved', 'attaching', 'detaching', 'creating')]
    return volumes, attachments, stuck


def _only_flow(tmp_path, capsys):
    listing = _read(['list', '--connection', f'sqlite:///{tmp_path}/flows.sqlite'], capsys)
    return listing['flows'][0]['flow_id']


def _assert_completed_exactly_once(cloud, tmp_path, instance_uuid, capsys):
    volumes, attachments, stuck = _state(cloud, instance_uuid)
    devices = sorted(v.metadata['blockflow_device'] for v in volumes)
    assert devices == sorted(CREATED_DEVICES)          # exactly one each, no duplicate
    assert all(v.status == 'in-use' for v in volumes)
    assert len(attachments) == len(VOLUME_DEVICES)
    assert stuck == []
    files = sorted(p.name for p in (tmp_path / 'instances' / instance_uuid).iterdir())
    assert files == ['disk.eph0', 'disk.swap']         # no half-made .part file
    flows = _read(['list', '--connection', f'sqlite:///{tmp_path}/flows.sqlite'],
                  capsys)['flows']
    assert flows[0]['state'] == 'SUCCESS' and flows[0]['devices_done'] == 6


# Crashes before and after a step, and inside the first creation (whose crashed
# flow is also drawn); inside every other step is covered per device below.
CRASHES = [
    'inside:vdf-create-volume', 'before:vdf-create-volume', 'after:vdf-create-volume',
    'after:vdd-reserve', 'before:vdf-hypervisor-attach', 'after:vdb-create-local-disk',
]


@pytest.mark.parametrize('crash', CRASHES)
def test_crash_then_resume_completes_exactly_once(embedded_cloud_process, tmp_path, crash,
                                                  capsys):
    instance_uuid = str(uuid.uuid4())
    first = _blockflow(_boot_args(embedded_cloud_process, tmp_path, instance_uuid),
                       _env(tmp_path, crash, embedded_cloud_process))
    assert first.returncode == crashpoints.CRASH_EXIT_CODE, first.stderr[-2000:]
    if crash == CRASHES[0]:
        # The crashed flow can be drawn from another process, as it stands.
        svg = tmp_path / 'crashed.svg'
        drawn = _blockflow(['graph', _only_flow(tmp_path, capsys), '-o', str(svg),
                            '--connection', f'sqlite:///{tmp_path}/flows.sqlite'],
                           _env(tmp_path))
        assert drawn.returncode == 0, drawn.stderr
        assert 'RUNNING' in svg.read_text() and 'PENDING' in svg.read_text()
    resumed = _blockflow(['resume', '--all', '--connection',
                          f'sqlite:///{tmp_path}/flows.sqlite', '--quiet'], _env(tmp_path))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr[-2000:]
    assert 'SUCCESS' in resumed.stdout
    _assert_completed_exactly_once(embedded_cloud_process, tmp_path, instance_uuid, capsys)


def test_crash_during_revert_then_resume_finishes_the_revert(embedded_cloud_process,
                                                              tmp_path):
    import requests
    instance_uuid = str(uuid.uuid4())
    # Fail the last of the four attachment completions (and its retries): by then
    # every volume device has created its volume, so vde's create-volume revert runs.
    requests.post(embedded_cloud_process.url + '/admin/faults', timeout=10,
                  headers=embedded_cloud_process.admin_headers(), json={
        'fail': [{'op': 'attachment.complete', 'nth': 4, 'status': 500, 'times': 1000}]})
    first = _blockflow(_boot_args(embedded_cloud_process, tmp_path, instance_uuid),
                       _env(tmp_path, 'revert:vde-create-volume', embedded_cloud_process))
    assert first.returncode == crashpoints.CRASH_EXIT_CODE, first.stderr[-2000:]
    resumed = _blockflow(['resume', '--all', '--connection',
                          f'sqlite:///{tmp_path}/flows.sqlite', '--quiet'], _env(tmp_path))
    assert 'REVERTED' in resumed.stdout, resumed.stdout + resumed.stderr[-2000:]
    volumes, attachments, stuck = _state(embedded_cloud_process, instance_uuid)
    assert volumes == [] and attachments == [] and stuck == []
    user = _cinder(embedded_cloud_process).volumes.get(USER_VOLUME)
    assert user.status == 'available'


# Every step of every kind: the process dies inside the step (side effect done,
# result not saved) once per device that has the step, resuming after each crash.
EVERY_STEP = ['get-image', 'get-snapshot', 'get-volume', 'create-volume', 'wait-available',
              'reserve', 'initialize-connection', 'hypervisor-attach', 'os-attach',
              'create-local-disk', 'record-device']


@pytest.mark.parametrize('step', EVERY_STEP)
def test_crash_inside_every_device_at_a_step(embedded_cloud_process, tmp_path, step, capsys):
    instance_uuid = str(uuid.uuid4())
    env = _env(tmp_path, f'inside:*-{step}', embedded_cloud_process)
    crash_log = tmp_path / 'crashed-atoms'
    env[crashpoints.ONCE_ENV] = str(crash_log)
    run = _blockflow(_boot_args(embedded_cloud_process, tmp_path, instance_uuid), env)
    runs = 1
    while run.returncode == crashpoints.CRASH_EXIT_CODE and runs < 10:
        run = _blockflow(['resume', '--all', '--connection',
                          f'sqlite:///{tmp_path}/flows.sqlite', '--quiet'], env)
        runs += 1
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]
    crashed = crash_log.read_text().split()
    shown = _read(['show', _only_flow(tmp_path, capsys), '--connection',
                   f'sqlite:///{tmp_path}/flows.sqlite'], capsys)
    atoms = [a['atom'] for steps in shown['devices'].values()
             for a in steps if a['step'] == step]
    # Each device with this step died there once, and every crash was resumed.
    assert sorted(crashed) == sorted(atoms) and len(crashed) == runs - 1
    _assert_completed_exactly_once(embedded_cloud_process, tmp_path, instance_uuid, capsys)
