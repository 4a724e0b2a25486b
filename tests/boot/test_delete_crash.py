"""A delete killed inside any of its steps is finished by the next `delete` or
`resume --all` (kill -9 through the named crash points, once per atom)."""

import uuid

import pytest

from blockflow.persistence import records
from blockflow.runner import crashpoints
from flows import delete as delete_flows
from tests.boot import test_crash_resume as crash

STEPS = ([step for step in delete_flows.DEVICE_STEPS]
         + [f'{delete_flows.INSTANCE_GROUP}-{step}' for step in delete_flows.INSTANCE_STEPS])


@pytest.mark.parametrize('step, again', [
    (step, 'delete' if i % 2 == 0 else 'resume') for i, step in enumerate(STEPS)])
def test_delete_killed_inside_a_step_is_finished(embedded_cloud_process, tmp_path, step,
                                                  again):
    instance_uuid = str(uuid.uuid4())
    connection = f'sqlite:///{tmp_path}/flows.sqlite'
    booted = crash._blockflow(crash._boot_args(embedded_cloud_process, tmp_path, instance_uuid),
                              crash._env(tmp_path, cloud=embedded_cloud_process))
    assert booted.returncode == 0, booted.stderr[-2000:]
    delete = ['delete', instance_uuid, '--connection', connection]   # the boot's own cloud
    env = crash._env(tmp_path, f'inside:*-{step}')
    env[crashpoints.ONCE_ENV] = str(tmp_path / 'crashed-atoms')
    run = crash._blockflow(delete, env)
    runs = 1
    while run.returncode == crashpoints.CRASH_EXIT_CODE and runs < 8:
        command = delete if again == 'delete' else [
            'resume', '--all', '--connection', connection, '--quiet']
        run = crash._blockflow(command, env)
        runs += 1
    assert runs > 1 and run.returncode == 0, run.stdout + run.stderr[-2000:]
    volumes, attachments, stuck = crash._state(embedded_cloud_process, instance_uuid)
    assert volumes == [] and attachments == [] and stuck == []
    assert not (tmp_path / 'instances' / instance_uuid).exists()
    assert records.Records(connection).for_instance(instance_uuid) == []
