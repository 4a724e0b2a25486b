"""A conductor says which job it claimed and finished; `jobs --all` keeps finished boots."""

import json
import os
import pathlib
import subprocess
import sys
import time
import uuid

import pytest
import yaml

from tests.fixtures import jobboard as jobboard_fixtures
from tests.fixtures.jobboard import REDIS    # redis_url: a fixture of tests/fixtures/jobboard.py

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / 'examples' / 'all-kinds.json'
pytestmark = pytest.mark.skipif(REDIS is None, reason='Debian redis-server not installed')


def _cli(*args):
    return [sys.executable, '-m', 'blockflow.cli.main', *args]


def _jobs(redis_url, db, env, *extra):  # noqa: F811
    done = subprocess.run(_cli('jobs', '--jobboard', redis_url, '--connection', db, '-f',
                               'json', *extra), capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)['jobs']


def test_conductor_logs_each_job_and_jobs_all_shows_the_outcome(
        embedded_cloud_process, redis_url, tmp_path):  # noqa: F811
    env = embedded_cloud_process.env(dict(os.environ, XDG_STATE_HOME=str(tmp_path / 'state')))
    db = f'sqlite:///{tmp_path}/flows.sqlite'
    log = tmp_path / 'conductor.log'
    with open(log, 'w', encoding='utf-8') as stream:
        conductor = subprocess.Popen(_cli('conductor', '--jobboard', redis_url, '--connection',
                                          db, '--name', 'conductor-log'),
                                     env=env, stdout=subprocess.DEVNULL, stderr=stream)
    try:
        instance_uuid = str(uuid.uuid4())
        posted = subprocess.run(_cli('boot', str(EXAMPLE), '--submit', '--jobboard', redis_url,
                                     *embedded_cloud_process.cloud_args, '--connection', db,
                                     '--instance-uuid', instance_uuid, '-f', 'json',
                                     '--instances-path', str(tmp_path / 'instances')),
                                capture_output=True, text=True, env=env, timeout=60)
        assert posted.returncode == 0, posted.stderr[-2000:]
        job_id = json.loads(posted.stdout)['job_id']
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _jobs(redis_url, db, env):
            time.sleep(0.5)
        assert _jobs(redis_url, db, env) == [], log.read_text()[-3000:]
    finally:
        jobboard_fixtures.stop(conductor)
    err = log.read_text()
    mine = [line for line in err.splitlines() if job_id in line]
    assert any('claimed' in line for line in mine), err[-2000:]
    assert any('finished' in line for line in mine), err[-2000:]
    assert 'Traceback' not in err
    finished = _jobs(redis_url, db, env, '--all')
    assert [(job['name'], job['outcome']) for job in finished] == [
        (f'boot-{instance_uuid}', 'SUCCESS')]
    # cliff's formats and -c, on the finished job.
    done = subprocess.run(_cli('jobs', '--jobboard', redis_url, '--connection', db, '--all',
                               '-f', 'yaml', '-c', 'Name', '-c', 'Outcome'),
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout) == [{'Name': f'boot-{instance_uuid}',
                                            'Outcome': 'SUCCESS'}]
    done = subprocess.run(_cli('jobs', '--jobboard', redis_url, '--connection', db, '--all',
                               '-f', 'value', '-c', 'Outcome'),
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and done.stdout.split() == ['SUCCESS'], done.stderr
