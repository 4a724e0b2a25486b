"""One conductor runs several boots at once, up to --max-jobs, each exactly once
(real Redis, real conductor process, embedded cloud over HTTP)."""

import os
import time
import uuid

import requests

from tests.boot.test_flow_ownership import _assert_booted_once, _request
from tests.fixtures import jobboard

pytestmark = jobboard.needs_redis


def test_one_conductor_runs_up_to_max_jobs_boots_at_once(embedded_cloud_process, redis_url,
                                                         tmp_path):
    cloud = embedded_cloud_process
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / 'state'))
    db = f'sqlite:///{tmp_path}/flows.sqlite'
    # Slow creations keep each boot running while the board is sampled.
    requests.post(cloud.url + '/admin/faults', timeout=10, headers=cloud.admin_headers(),
                  json={'latency': {'create_base_s': 3.0}}).raise_for_status()
    instances = [str(uuid.uuid4()) for _ in range(3)]
    for instance_uuid in instances:
        jobboard.submit(cloud, _request(tmp_path), redis_url, db, instance_uuid, tmp_path, env)
    most_claimed = 0
    with jobboard.conductor(redis_url, db, 'conductor-a', env, '--max-jobs', '2'):
        deadline = time.monotonic() + jobboard.BOARD_EMPTY_TIMEOUT_S
        while (jobs := jobboard.jobs(redis_url, db, env)) and time.monotonic() < deadline:
            claimed = [job for job in jobs if job['state'] == 'CLAIMED']
            assert all(job['owner'] == 'conductor-a' for job in claimed), jobs
            most_claimed = max(most_claimed, len(claimed))
            time.sleep(0.2)
        assert jobs == [], 'jobs were never finished'
    # Two at once (a blocking conductor holds one), never more than --max-jobs.
    assert most_claimed == 2
    for instance_uuid in instances:
        _assert_booted_once(cloud, tmp_path, instance_uuid)
