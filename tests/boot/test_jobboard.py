"""Two conductors on one real Redis jobboard: the first is killed with -9 mid-boot,
the second takes the job once the claim lapses and finishes it exactly once."""

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest
import requests

from tests.boot.test_crash_resume import _state

REDIS = shutil.which('redis-server')
EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / 'examples' / 'all-kinds.json'
pytestmark = pytest.mark.skipif(REDIS is None, reason='Debian redis-server not installed')


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    port = _free_port()
    proc = subprocess.Popen([REDIS, '--port', str(port), '--bind', '127.0.0.1',
                             '--save', '', '--appendonly', 'no', '--dir', str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(('127.0.0.1', port)) == 0:
                break
        time.sleep(0.05)
    yield f'redis://127.0.0.1:{port}/0'
    proc.terminate()
    proc.wait(timeout=10)


def _cli(*args, env):
    return [sys.executable, '-m', 'blockflow.cli.main', *args]


def _jobs(redis_url, db, env):
    out = subprocess.run(_cli('jobs', '--jobboard', redis_url, '--connection', db, '-f',
                              'json', env=env), capture_output=True, text=True, env=env,
                         timeout=60)
    return json.loads(out.stdout)['jobs']


def test_killed_conductors_job_is_finished_by_another(embedded_cloud_process, redis_url,
                                                       tmp_path):
    env = embedded_cloud_process.env(dict(os.environ, XDG_STATE_HOME=str(tmp_path / 'state')))
    db = f'sqlite:///{tmp_path}/flows.sqlite'
    requests.post(embedded_cloud_process.url + '/admin/faults', timeout=10,
                  headers=embedded_cloud_process.admin_headers(),
                  json={'latency': {'create_base_s': 3.0}})

    def conductor(name):
        return subprocess.Popen(_cli('conductor', '--jobboard', redis_url, '--connection', db,
                                     '--name', name, '--claim-expiry', '2', env=env),
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)

    first = conductor('conductor-a')
    instance_uuid = str(uuid.uuid4())
    posted = subprocess.run(_cli('boot', str(EXAMPLE), '--submit', '--jobboard', redis_url,
                                 *embedded_cloud_process.cloud_args, '--connection',
                                 db, '--instance-uuid', instance_uuid,
                                 '--instances-path', str(tmp_path / 'instances'), env=env),
                            capture_output=True, text=True, env=env, timeout=60)
    assert posted.returncode == 0, posted.stderr[-2000:]
    deadline = time.monotonic() + 90     # a loaded machine starts conductors slowly
    jobs = []
    while time.monotonic() < deadline:
        jobs = _jobs(redis_url, db, env)
        if jobs and jobs[0]['state'] == 'CLAIMED':
            break
        time.sleep(0.2)
    assert jobs and jobs[0]['owner'] == 'conductor-a', jobs
    time.sleep(1.0)                       # volumes are being created now
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    second = conductor('conductor-b')
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and _jobs(redis_url, db, env):
            time.sleep(0.5)
        assert _jobs(redis_url, db, env) == [], 'job was never finished'
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=15)
        except subprocess.TimeoutExpired:
            second.kill()
    listing = subprocess.run(_cli('list', '-f', 'json', '--connection', db, env=env),
                             capture_output=True, text=True, env=env, timeout=60)
    flows = json.loads(listing.stdout)['flows']
    assert flows[0]['state'] == 'SUCCESS', flows
    volumes, attachments, stuck = _state(embedded_cloud_process, instance_uuid)
    assert sorted(v.metadata['blockflow_device'] for v in volumes) == ['vda', 'vde', 'vdf']
    assert len(attachments) == 4 and stuck == []
