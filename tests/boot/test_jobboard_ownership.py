"""A boot posted to a jobboard belongs to its conductors: `resume --all` leaves it
alone, a conductor claims the flow itself while it runs it (real Redis, real processes)."""

import os
import signal
import subprocess
import time
import uuid

import pytest

from blockflow import persistence
from blockflow.persistence import claims
from tests.boot.test_flow_ownership import _assert_booted_once, _flows, _request, _volumes
from tests.boot.test_jobboard import REDIS, _cli, _jobs, redis_url  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(REDIS is None, reason='Debian redis-server not installed')


def test_resume_leaves_a_posted_boot_to_the_conductor(embedded_cloud_process, redis_url,
                                                      tmp_path):
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / 'state'))
    db = f'sqlite:///{tmp_path}/flows.sqlite'
    instance_uuid = str(uuid.uuid4())
    posted = subprocess.run(_cli('boot', _request(tmp_path), '--submit', '--jobboard',
                                 redis_url, '--cloud-url', embedded_cloud_process.url,
                                 '--connection', db, '--instance-uuid', instance_uuid,
                                 '--instances-path', str(tmp_path / 'instances'), env=env),
                            capture_output=True, text=True, env=env, timeout=60)
    assert posted.returncode == 0, posted.stderr[-2000:]
    flow_id = _flows(tmp_path)[instance_uuid].uuid
    resumed = subprocess.run(_cli('resume', '--all', '--connection', db, env=env),
                             capture_output=True, text=True, env=env, timeout=60)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert resumed.stdout.strip() == (f'flow {flow_id}: not resumed, posted to a jobboard '
                                      '(its conductors run it)')
    assert _volumes(embedded_cloud_process, instance_uuid) == []
    conductor = subprocess.Popen(_cli('conductor', '--jobboard', redis_url, '--connection', db,
                                      '--name', 'conductor-a', env=env),
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _jobs(redis_url, db, env):
            time.sleep(0.5)
        assert _jobs(redis_url, db, env) == [], 'job was never finished'
    finally:
        conductor.send_signal(signal.SIGTERM)
        try:
            conductor.wait(timeout=15)
        except subprocess.TimeoutExpired:
            conductor.kill()
    _assert_booted_once(embedded_cloud_process, tmp_path, instance_uuid)
    backend = persistence.get_backend(db)
    try:
        assert claims.claims_for(backend).get(flow_id) is None    # released when done
    finally:
        backend.close()
