"""The embedded cloud, restarted, cleans up what its last run left in flight, as
Cinder's volume service does at start: nothing stays ``creating`` forever."""

import contextlib
import json
import re
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
from cinderclient import exceptions as cinder_exc

from blockflow.clients import cloudconfig
from blockflow.cloud.server import EmbeddedCloud
from blockflow.cloud import store as cloud_store
from blockflow.runner import boot as boot_module

NEVER_S = 600.0         # a creation or delete that will not finish before the stop


def _wait_for(predicate, what, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f'timed out waiting for {what}')


def _status(cinder, volume_id):
    try:
        return cinder.volumes.get(volume_id).status
    except cinder_exc.NotFound:
        return 'gone'


def test_interrupted_creation_is_error_and_interrupted_delete_is_finished(tmp_path):
    state_dir = str(tmp_path / 'cloud')
    with EmbeddedCloud(state_dir, latency_profile='fast') as cloud:
        cinder = cloud.cinder_client('3.44')
        doomed = cinder.volumes.create(1, name='delete-interrupted')
        _wait_for(lambda: _status(cinder, doomed.id) == 'available', 'doomed available')
        cloud.faults.set_latency(create_base_s=NEVER_S, delete_s=NEVER_S)
        stuck = cinder.volumes.create(1, name='create-interrupted')
        cinder.volumes.delete(doomed.id)
        assert (_status(cinder, stuck.id), _status(cinder, doomed.id)) == \
            ('creating', 'deleting')

    with EmbeddedCloud(state_dir, latency_profile='fast') as cloud:
        cinder = cloud.cinder_client('3.44')
        assert cloud.recovered == {stuck.id: 'error', doomed.id: 'deleted'}
        assert (_status(cinder, stuck.id), _status(cinder, doomed.id)) == ('error', 'gone')
        # The error volume still counts against the quota until it is deleted.
        in_project = len(cinder.volumes.list())
        cinder.quotas.update(cloud.project_id, volumes=in_project)
        with pytest.raises(cinder_exc.OverLimit):
            cinder.volumes.create(1, name='over-quota')
        cinder.volumes.delete(stuck.id)
        _wait_for(lambda: _status(cinder, stuck.id) == 'gone', 'the error volume deleted')
        cinder.volumes.create(1, name='fits-again')


@pytest.mark.parametrize('left, attached, expected', [
    ('downloading', False, 'error'),
    ('uploading', False, 'available'),
    ('uploading', True, 'in-use'),
    ('available', False, 'available'),
    ('reserved', True, 'reserved'),     # attachments are left as they are, as Cinder does
])
def test_statuses_cinder_resets_at_start(tmp_path, left, attached, expected):
    state_dir = str(tmp_path / 'cloud')
    with EmbeddedCloud(state_dir, latency_profile='fast') as cloud:
        cinder = cloud.cinder_client('3.44')
        volume = cinder.volumes.create(1, name='left')
        _wait_for(lambda: _status(cinder, volume.id) == 'available', 'volume available')
    # What a run that stopped at that moment left behind, written as it would have.
    stopped = cloud_store.Store(state_dir)
    stopped.update('volumes', volume.id, status=left,
                   attachments=[{'attachment_id': str(uuid.uuid4())}] if attached else [])
    stopped.close()
    with EmbeddedCloud(state_dir, latency_profile='fast') as cloud:
        assert cloud.store.get('volumes', volume.id)['status'] == expected


def _blank_volume_boot():
    return {'server': {'name': 'vm', 'flavorRef': '1', 'imageRef': '', 'networks': 'none',
                       'block_device_mapping_v2': [
                           {'source_type': 'blank', 'destination_type': 'volume',
                            'volume_size': 1, 'boot_index': 0}]}}


def _cloud_process(state_dir, port, profile):
    """The embedded cloud in its own process, so it can be stopped the hard way."""
    proc = subprocess.Popen([sys.executable, '-m', 'blockflow.cloud', '--state-dir', state_dir,
                             '--port', str(port), '--latency-profile', profile],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    match = re.search(r'ready http://[^:]+:(\d+) auth_url=(\S+)', line)
    if not match:
        proc.terminate()
        raise AssertionError(f'cloud did not start: {line}{proc.communicate()[0]}')
    return proc, int(match.group(1)), match.group(2)


def test_boot_waiting_on_a_creation_the_restart_failed_reverts(tmp_path):
    state_dir = str(tmp_path / 'cloud')
    never = tmp_path / 'never.json'
    never.write_text(json.dumps({'create_base_s': NEVER_S}))
    # An explicit port from the start: only then does the first server set
    # SO_REUSEADDR too, which the second needs to bind while the first's
    # connections linger in TIME_WAIT.
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    proc, port, auth_url = _cloud_process(state_dir, port, str(never))
    options = boot_module.BootOptions(
        instance_uuid=str(uuid.uuid4()), cloud_ref=cloudconfig.embedded_ref(state_dir, 'embedded'),
        connection=f'sqlite:///{tmp_path}/flows.sqlite', attach_api='attachments',
        instances_path=str(tmp_path / 'instances'))
    result = {}
    booting = threading.Thread(
        target=lambda: result.update(outcome=boot_module.boot(_blank_volume_boot(), options)[1]),
        daemon=True)
    booting.start()

    def ours():
        with contextlib.closing(cloud_store.Store(state_dir)) as store:
            return [v['status'] for v in store.list('volumes')
                    if v['metadata'].get('blockflow_instance') == options.instance_uuid]
    try:
        _wait_for(lambda: ours() == ['creating'], 'the boot to create its volume')
        proc.kill()                     # the cloud stops while the boot waits
        proc.wait()
        proc, _port, _url = _cloud_process(state_dir, port, 'fast')
        booting.join(timeout=60)
        assert not booting.is_alive(), 'the boot still waits on a volume the restart failed'
        outcome = result['outcome']
        assert not outcome.ok
        assert 'error' in outcome.failure and 'creating' not in outcome.failure
        proc.terminate()
        proc.wait()
        assert ours() == []             # the revert deleted the error volume
    finally:
        proc.kill()
        proc.wait()


def test_snapshot_left_creating_is_error_after_restart(tmp_path):
    state_dir = str(tmp_path / 'cloud')
    with EmbeddedCloud(state_dir, latency_profile='fast') as cloud:
        cinder = cloud.cinder_client('3.44')
        volume = cinder.volumes.create(1, name='parent')
        _wait_for(lambda: _status(cinder, volume.id) == 'available', 'volume available')
        snapshot = cinder.volume_snapshots.create(volume.id)
    stopped = cloud_store.Store(state_dir)
    stopped.update('snapshots', snapshot.id, status='creating')
    stopped.close()
    with EmbeddedCloud(state_dir, latency_profile='fast') as cloud:
        assert cloud.cinder_client('3.44').volume_snapshots.get(snapshot.id).status == 'error'
