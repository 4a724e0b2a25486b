"""A revert that cannot finish leaves the flow REVERT_FAILURE; once the cloud
behaves again, `resume` re-runs the failed reverts until nothing is left."""

import json
import uuid

import requests

from tests.boot.test_crash_resume import (_blockflow, _boot_args, _cinder, _env, _state,
                                          USER_VOLUME)


def _faults(cloud, spec):
    requests.post(cloud.url + '/admin/faults', timeout=10, json=spec,
                  headers=cloud.admin_headers()).raise_for_status()


def test_revert_failure_is_resumed_until_clean(embedded_cloud_process, tmp_path):
    cloud = embedded_cloud_process
    instance_uuid = str(uuid.uuid4())
    connection = f'sqlite:///{tmp_path}/flows.sqlite'
    # The last attachment completion fails (retries too), so the boot reverts;
    # every volume delete fails, so the reverts of the created volumes cannot finish.
    _faults(cloud, {'fail': [{'op': 'attachment.complete', 'nth': 4, 'status': 500,
                              'times': 1000},
                             {'op': 'volume.delete', 'status': 503, 'times': 1000}]})
    boot = _blockflow(_boot_args(cloud, tmp_path, instance_uuid) + ['-f', 'json'],
                      _env(tmp_path, cloud=cloud))
    assert boot.returncode == 1, boot.stdout + boot.stderr[-2000:]
    assert json.loads(boot.stdout)['state'] == 'REVERT_FAILURE'
    volumes, _attachments, _stuck = _state(cloud, instance_uuid)
    assert volumes, 'the failed reverts left the created volumes behind'

    _faults(cloud, {'clear': True})
    resumed = _blockflow(['resume', '--all', '--connection', connection, '-f', 'json'],
                         _env(tmp_path))
    flows = json.loads(resumed.stdout)['flows']
    assert [f['state'] for f in flows] == ['REVERTED'], resumed.stdout + resumed.stderr
    assert flows[0]['reopened_reverts']
    volumes, attachments, stuck = _state(cloud, instance_uuid)
    assert volumes == [] and attachments == [] and stuck == []
    assert _cinder(cloud).volumes.get(USER_VOLUME).status == 'available'
    # Nothing is left to resume.
    again = _blockflow(['resume', '--all', '--connection', connection], _env(tmp_path))
    assert again.returncode == 0 and again.stdout.strip() == 'nothing to resume'
