"""A boot posted to a jobboard belongs to its conductors: `resume --all` leaves it
alone, a conductor claims the flow itself while it runs it (real Redis, real processes)."""

import os
import subprocess
import time
import uuid

import requests

from blockflow import persistence
from blockflow.persistence import claims
from tests.boot.test_flow_ownership import _assert_booted_once, _flows, _request, _volumes
from tests.fixtures import jobboard

pytestmark = jobboard.needs_redis


def test_resume_leaves_a_posted_boot_to_the_conductor(embedded_cloud_process, redis_url,
                                                      tmp_path):
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / 'state'))
    db = f'sqlite:///{tmp_path}/flows.sqlite'
    instance_uuid = str(uuid.uuid4())
    jobboard.submit(embedded_cloud_process, _request(tmp_path), redis_url, db, instance_uuid,
                    tmp_path, env)
    flow_id = _flows(tmp_path)[instance_uuid].uuid
    resumed = subprocess.run(jobboard.cli('resume', '--all', '--connection', db),
                             capture_output=True, text=True, env=env, timeout=60)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert resumed.stdout.strip() == (f'flow {flow_id}: not resumed, posted to a jobboard '
                                      '(its conductors run it; `resume FLOW_ID` runs it here)')
    assert _volumes(embedded_cloud_process, instance_uuid) == []
    with jobboard.conductor(redis_url, db, 'conductor-a', env):
        jobboard.wait_board_empty(redis_url, db, env)
    _assert_booted_once(embedded_cloud_process, tmp_path, instance_uuid)
    backend = persistence.get_backend(db)
    try:
        assert claims.claims_for(backend).get(flow_id) is None    # released when done
    finally:
        backend.close()


def test_a_conductor_waits_for_the_resumer_that_holds_the_flow(embedded_cloud_process,
                                                                redis_url, tmp_path):
    cloud = embedded_cloud_process
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / 'state'))
    db = f'sqlite:///{tmp_path}/flows.sqlite'
    instance_uuid = str(uuid.uuid4())
    jobboard.submit(cloud, _request(tmp_path), redis_url, db, instance_uuid, tmp_path, env)
    flow_id = _flows(tmp_path)[instance_uuid].uuid
    # Slow creations keep the resumer on the flow while the conductor comes up.
    requests.post(cloud.url + '/admin/faults', timeout=10, headers=cloud.admin_headers(),
                  json={'latency': {'create_base_s': 4.0}}).raise_for_status()
    requests.delete(cloud.url + '/admin/counters', timeout=10,
                    headers=cloud.admin_headers()).raise_for_status()
    resumer = subprocess.Popen(jobboard.cli('resume', flow_id, '--connection', db), env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    backend = persistence.get_backend(db)
    store = claims.claims_for(backend)
    conductor = None
    try:
        deadline = time.monotonic() + 60
        while (held := store.get(flow_id)) is None or held.owner.pid != resumer.pid:
            assert time.monotonic() < deadline and resumer.poll() is None, 'resumer never ran'
            time.sleep(0.1)
        conductor = jobboard.start_conductor(redis_url, db, 'conductor-a', env)
        out, err = resumer.communicate(timeout=120)
        assert resumer.returncode == 0, out + err[-2000:]
        assert out.strip() == f'flow {flow_id}: SUCCESS'
        # The conductor then finds the flow done and only consumes the job.
        jobboard.wait_board_empty(redis_url, db, env)
    finally:
        jobboard.stop(conductor)
        resumer.kill()
        backend.close()
    # One run made the calls: the conductor ran the flow only once it was done.
    counters = requests.get(cloud.url + '/admin/counters', timeout=10,
                            headers=cloud.admin_headers()).json()
    # (The connector goes with the attachment create: one create per volume device.)
    assert counters['volume.create'] == 2 and counters['attachment.create'] == 2, counters
    _assert_booted_once(cloud, tmp_path, instance_uuid)
