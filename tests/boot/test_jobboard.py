"""Two conductors on one real Redis jobboard: the first is killed with -9 mid-boot,
the second takes the job once the claim lapses and finishes it exactly once."""

import json
import os
import pathlib
import signal
import subprocess
import time
import uuid

import requests

from tests.boot.test_crash_resume import _state
from tests.fixtures import jobboard

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / 'examples' / 'all-kinds.json'
pytestmark = jobboard.needs_redis


def test_killed_conductors_job_is_finished_by_another(embedded_cloud_process, redis_url,
                                                       tmp_path):
    env = embedded_cloud_process.env(dict(os.environ, XDG_STATE_HOME=str(tmp_path / 'state')))
    db = f'sqlite:///{tmp_path}/flows.sqlite'
    requests.post(embedded_cloud_process.url + '/admin/faults', timeout=10,
                  headers=embedded_cloud_process.admin_headers(),
                  json={'latency': {'create_base_s': 3.0}})
    first = jobboard.start_conductor(redis_url, db, 'conductor-a', env, '--claim-expiry', '2',
                                     stderr=subprocess.PIPE)
    try:
        instance_uuid = str(uuid.uuid4())
        jobboard.submit(embedded_cloud_process, EXAMPLE, redis_url, db, instance_uuid,
                        tmp_path, env)
        jobboard.wait_for_line(first, f'(boot-{instance_uuid}) claimed, running')
        time.sleep(1.0)                       # volumes are being created now
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    # Killed mid-boot: its job is still on the board, for another conductor.
    assert [job['name'] for job in jobboard.jobs(redis_url, db, env)] == [
        f'boot-{instance_uuid}']
    with jobboard.conductor(redis_url, db, 'conductor-b', env, '--claim-expiry', '2'):
        jobboard.wait_board_empty(redis_url, db, env, timeout=90)
    listing = subprocess.run(jobboard.cli('list', '-f', 'json', '--connection', db),
                             capture_output=True, text=True, env=env, timeout=60)
    flows = json.loads(listing.stdout)['flows']
    assert flows[0]['state'] == 'SUCCESS', flows
    volumes, attachments, stuck = _state(embedded_cloud_process, instance_uuid)
    assert sorted(v.metadata['blockflow_device'] for v in volumes) == ['vda', 'vde', 'vdf']
    assert len(attachments) == 4 and stuck == []
