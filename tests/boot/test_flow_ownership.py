"""One owner per flow, with real `blockflow` processes against the embedded cloud:
two `resume --all` started together run each crashed flow once; a boot killed
between the writes that save its new flow is finished (or clearly reported) by
`resume --all`, which resumes the other flows too; a hung owner's claim expires
and another resumer takes the flow over."""

import contextlib
import json
import signal
import subprocess
import sys
import time
import uuid

import pytest
import requests
from taskflow.persistence import models

from blockflow import persistence
from blockflow.persistence import claims
from blockflow.runner import crashpoints
from tests.boot.test_crash_resume import _blockflow, _cinder, _env

# Two volume devices, nothing local: a boot light enough to repeat ten times.
REQUEST = {'server': {'name': 'owned', 'flavorRef': '1', 'imageRef': '', 'networks': 'none',
                      'block_device_mapping_v2': [
                          {'boot_index': 0, 'uuid': 'ac408821-c95a-448f-9292-73986c790911',
                           'source_type': 'image', 'destination_type': 'volume',
                           'volume_size': 1, 'delete_on_termination': True},
                          {'source_type': 'blank', 'destination_type': 'volume',
                           'volume_size': 1, 'delete_on_termination': True}]}}
DEVICES = ['vda', 'vdb']


def _request(tmp_path):
    path = tmp_path / 'request.json'
    if not path.exists():
        path.write_text(json.dumps(REQUEST))
    return str(path)


def _connection(tmp_path):
    return f'sqlite:///{tmp_path}/flows.sqlite'


def _boot_args(cloud, tmp_path, instance_uuid):
    return ['boot', _request(tmp_path), *cloud.cloud_args,
            '--instance-uuid', instance_uuid, '--connection', _connection(tmp_path),
            '--quiet', '--instances-path', str(tmp_path / 'instances')]


def _resume_all(tmp_path):
    return [sys.executable, '-m', 'blockflow.cli.main', 'resume', '--all',
            '--connection', _connection(tmp_path), '--quiet']


def _crashed_boot(cloud, tmp_path, crash):
    instance_uuid = str(uuid.uuid4())
    run = _blockflow(_boot_args(cloud, tmp_path, instance_uuid),
                     _env(tmp_path, crash, cloud=cloud))
    assert run.returncode == crashpoints.CRASH_EXIT_CODE, run.stdout + run.stderr[-2000:]
    return instance_uuid


def _counters(cloud):
    return requests.get(cloud.url + '/admin/counters', timeout=10, headers=cloud.admin_headers()).json()


def _flows(tmp_path):
    """{instance uuid: flow detail}, read from the flows' database as it stands."""
    backend = persistence.get_backend(_connection(tmp_path))
    try:
        with contextlib.closing(backend.get_connection()) as conn:
            return {fd.meta.get('instance_uuid'): fd
                    for book in conn.get_logbooks() for fd in book}
    finally:
        backend.close()


def _volumes(cloud, instance_uuid):
    return [v for v in _cinder(cloud).volumes.list()
            if (v.metadata or {}).get('blockflow_instance') == instance_uuid]


def _assert_booted_once(cloud, tmp_path, instance_uuid):
    cinder = _cinder(cloud)
    volumes = _volumes(cloud, instance_uuid)
    assert sorted(v.metadata['blockflow_device'] for v in volumes) == DEVICES   # no duplicate
    assert all(v.status == 'in-use' for v in volumes)
    attachments = [a for a in cinder.attachments.list() if a.instance == instance_uuid]
    assert sorted(a.volume_id for a in attachments) == sorted(v.id for v in volumes)
    assert not [v.id for v in cinder.volumes.list()
                if v.status in ('reserved', 'attaching', 'detaching', 'creating')]
    flow = _flows(tmp_path)[instance_uuid]
    assert flow.state == 'SUCCESS'
    assert {ad.state for ad in flow if not ad.name.startswith('_TaskFlow_')} == {'SUCCESS'}


# The race is run ten times in all: five tests (spread over the xdist workers)
# of two rounds each, the second round's resumers passing the first's finished flow.
RACE_TESTS = 5
RACE_ROUNDS = 2


@pytest.mark.parametrize('race', range(RACE_TESTS))
def test_two_resumers_started_together_run_each_flow_once(embedded_cloud_process, tmp_path,
                                                         race):
    cloud = embedded_cloud_process
    for _round in range(RACE_ROUNDS):
        instance_uuid = _crashed_boot(cloud, tmp_path, 'after:vdb-create-volume')
        # A run creates the volumes the crashed boot had not created yet, once.
        missing = len(DEVICES) - len(_volumes(cloud, instance_uuid))
        creates_before = _counters(cloud).get('volume.create', 0)
        resumers = [subprocess.Popen(_resume_all(tmp_path), env=_env(tmp_path),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True) for _ in range(2)]
        outputs = [r.communicate(timeout=180) for r in resumers]
        assert [r.returncode for r in resumers] == [0, 0], outputs
        lines = [line for out, _err in outputs for line in out.splitlines()]
        ran = [line for line in lines if line.endswith(': SUCCESS')]
        assert len(ran) == 1, lines
        # The other resumer found the flow claimed, finished, or not unfinished at all.
        assert all(': SUCCESS' in line or ': not resumed, claimed by ' in line
                   or ': not resumed, already SUCCESS' in line or line == 'nothing to resume'
                   for line in lines), lines
        assert _counters(cloud)['volume.create'] - creates_before == missing
        _assert_booted_once(cloud, tmp_path, instance_uuid)


def _flow_without_factory(tmp_path):
    """A flow as the old two-step save left it when killed between the steps."""
    backend = persistence.get_backend(_connection(tmp_path))
    try:
        book = models.LogBook('instance-legacy')
        flow_detail = models.FlowDetail('boot', str(uuid.uuid4()))
        flow_detail.meta.update({'instance_uuid': str(uuid.uuid4())})
        book.add(flow_detail)
        backend.get_connection().save_logbook(book)
    finally:
        backend.close()
    return flow_detail.uuid


def test_killed_between_the_writes_of_a_new_flow(embedded_cloud_process, tmp_path):
    cloud = embedded_cloud_process
    # Killed after claiming, before the flow is saved: there is no flow to resume.
    unsaved = _crashed_boot(cloud, tmp_path, 'save:claimed')
    # Killed once flow and factory details are saved, before any atom is written.
    saved = _crashed_boot(cloud, tmp_path, 'save:saved')
    # A boot killed mid-way, and a flow that cannot be rebuilt.
    midway = _crashed_boot(cloud, tmp_path, 'after:vda-create-volume')
    legacy = _flow_without_factory(tmp_path)
    assert unsaved not in _flows(tmp_path)
    resumed = subprocess.run(_resume_all(tmp_path), env=_env(tmp_path), capture_output=True,
                             text=True, timeout=180)
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr[-2000:]
    assert 'Traceback' not in resumed.stderr
    flows = _flows(tmp_path)
    lines = resumed.stdout.splitlines()
    assert f'flow {legacy}: cannot be rebuilt: ' in '\n'.join(lines)
    assert 'no factory information saved' in '\n'.join(lines)
    for instance_uuid in (saved, midway):
        assert f'flow {flows[instance_uuid].uuid}: SUCCESS' in lines
        _assert_booted_once(cloud, tmp_path, instance_uuid)
    assert len(lines) == 3, lines
    assert not _volumes(cloud, unsaved)


def _wait_for(predicate, what, timeout=120):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f'gave up waiting for {what}'
        time.sleep(0.2)


def test_a_hung_owners_claim_expires_and_another_resumer_takes_over(
        embedded_cloud_process, tmp_path):
    cloud = embedded_cloud_process
    # Creations take long enough for the boot to be caught while it owns the flow,
    # also when a loaded machine takes seconds to start the first resumer (8 s was
    # not always enough there).
    requests.post(cloud.url + '/admin/faults', timeout=10, headers=cloud.admin_headers(),
                  json={'latency': {'create_base_s': 15.0}}).raise_for_status()
    env = dict(_env(tmp_path, cloud=cloud), **{claims.EXPIRY_ENV: '3'})
    instance_uuid = str(uuid.uuid4())
    boot = subprocess.Popen([sys.executable, '-m', 'blockflow.cli.main',
                             *_boot_args(cloud, tmp_path, instance_uuid)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        backend = persistence.get_backend(_connection(tmp_path))
        store = claims.claims_for(backend)
        _wait_for(lambda: _flows(tmp_path).get(instance_uuid), 'the boot to save its flow')
        flow_id = _flows(tmp_path)[instance_uuid].uuid
        owner = store.get(flow_id).owner
        assert owner.pid == boot.pid
        # Alive, the boot keeps its claim: a resumer leaves the flow alone.
        busy = subprocess.run(_resume_all(tmp_path), env=env, capture_output=True, text=True,
                              timeout=180)
        assert busy.returncode == 0, busy.stdout + busy.stderr[-2000:]
        assert busy.stdout.startswith(f'flow {flow_id}: not resumed, claimed by '
                                      f'{owner.name} until '), busy.stdout
        # Hung: it stops renewing, its claim lapses and a resumer takes the flow over.
        boot.send_signal(signal.SIGSTOP)
        assert _flows(tmp_path)[instance_uuid].state == 'RUNNING'
        _wait_for(lambda: store.get(flow_id).expired(), 'the claim to expire')
        taken = subprocess.run(_resume_all(tmp_path), env=env, capture_output=True,
                               text=True, timeout=180)
        assert taken.stdout.strip() == f'flow {flow_id}: SUCCESS', taken.stdout + taken.stderr
        assert store.get(flow_id) is None       # released when done
        backend.close()
    finally:
        boot.kill()
        boot.wait(30)
    _assert_booted_once(cloud, tmp_path, instance_uuid)
