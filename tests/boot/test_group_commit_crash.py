"""Group-committed state survives a kill at a task boundary (os._exit, as kill -9):
what a stock TaskFlow reader finds in the file after the crash is every step
that finished before the kill, with its result, and the resume completes the
boot exactly once."""

import uuid

import pytest

from blockflow.runner import crashpoints
from tests.boot import test_crash_resume as crash_resume
from tests.persistence.test_group_commit import stock_states

# (crash point, steps that must be found SUCCESS with a result, step found RUNNING)
# "before:X" kills as X starts: the steps before it were committed in the
# iteration that started X. "after:X" kills once X's SUCCESS is committed.
BOUNDARIES = [
    ('before:vdf-reserve', ('vdf-create-volume', 'vdf-wait-available'), 'vdf-reserve'),
    ('after:vde-wait-available', ('vde-create-volume', 'vde-wait-available'), None),
]


@pytest.mark.parametrize('crash, done, running', BOUNDARIES)
def test_kill_at_a_task_boundary_loses_no_committed_step(embedded_cloud_process, tmp_path,
                                                         crash, done, running, capsys):
    cloud = embedded_cloud_process
    instance_uuid = str(uuid.uuid4())
    first = crash_resume._blockflow(crash_resume._boot_args(cloud, tmp_path, instance_uuid),
                                    crash_resume._env(tmp_path, crash, cloud))
    assert first.returncode == crashpoints.CRASH_EXIT_CODE, first.stderr[-2000:]

    seen = stock_states(f'sqlite:///{tmp_path}/flows.sqlite')
    for step in done:
        state, result = seen[f'{instance_uuid}-{step}']
        assert state == 'SUCCESS' and result, (step, state, result)
    if running:
        assert seen[f'{instance_uuid}-{running}'][0] == 'RUNNING'

    resumed = crash_resume._blockflow(
        ['resume', '--all', '--connection', f'sqlite:///{tmp_path}/flows.sqlite', '--quiet'],
        crash_resume._env(tmp_path))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr[-2000:]
    crash_resume._assert_completed_exactly_once(cloud, tmp_path, instance_uuid, capsys)
