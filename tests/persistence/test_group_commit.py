"""Group commit: an engine iteration's state changes go in one transaction, and
none of them is still held when an atom starts; stock TaskFlow reads the rows."""

import json
import subprocess
import sys
import threading

import pytest
from taskflow import engines
from taskflow import states
from taskflow import task
from taskflow.patterns import linear_flow
from taskflow.patterns import unordered_flow

from blockflow.runner import engine as engine_module
from blockflow import persistence
from blockflow.persistence import group_commit

PARALLEL = 8

# A reader that never imported blockflow: TaskFlow's own backend, its own process.
STOCK_READER = '''
import contextlib, json, sys
from taskflow.persistence.backends import impl_sqlalchemy
backend = impl_sqlalchemy.SQLAlchemyBackend({'connection': sys.argv[1]})
with contextlib.closing(backend.get_connection()) as conn:
    print(json.dumps({ad.name: [ad.state, ad.results]
                      for book in conn.get_logbooks() for fd in book for ad in fd}))
'''


def stock_states(url):
    out = subprocess.run([sys.executable, '-c', STOCK_READER, url], capture_output=True,
                         text=True, check=True, timeout=60)
    return {name: tuple(value) for name, value in json.loads(out.stdout).items()}


class Meet(task.Task):
    """Notes the commit count as it starts, then waits for all its siblings."""

    def __init__(self, name, connection, barrier, seen, url):
        super().__init__(name=name)
        self.connection, self.barrier, self.seen, self.url = connection, barrier, seen, url

    def execute(self):
        self.seen[self.name] = self.connection.commits
        if self.barrier.wait(30) == 0:     # one of them looks from outside
            self.seen['outside'] = stock_states(self.url)
        self.barrier.wait(60)
        return self.name


class Produce(task.Task):
    def execute(self):
        return {'volume_id': 'vol-1'}


class Gate(task.Task):
    def __init__(self, name, arrived, release):
        super().__init__(name=name)
        self.arrived, self.release = arrived, release

    def execute(self):
        self.arrived.set()
        assert self.release.wait(30)
        return 'gated'


@pytest.fixture
def backend(tmp_path):
    backend = persistence.get_backend(f'sqlite:///{tmp_path}/flows.sqlite')
    yield backend
    engine_module.shutdown_executor()
    backend.close()


def _grouped_engine(flow, backend):
    options = {'executor': group_commit.executor_for(backend, engine_module.executor())}
    engine = engines.load(flow, backend=backend, engine='parallel', **options)
    assert isinstance(engine.options['executor'], group_commit.HeldExecutor)
    return engine


def test_atoms_scheduled_together_start_after_one_commit(backend, tmp_path):
    url = f'sqlite:///{tmp_path}/flows.sqlite'
    connection = backend.get_connection()
    barrier, seen = threading.Barrier(PARALLEL), {}
    names = [f'meet-{i}' for i in range(PARALLEL)]
    flow = unordered_flow.Flow('together').add(
        *[Meet(name, connection, barrier, seen, url) for name in names])
    engine = _grouped_engine(flow, backend)

    group_commit.run(engine)

    # All RUNNING states went in one transaction, committed before any atom started.
    assert len({seen[name] for name in names}) == 1
    assert all(seen['outside'][name][0] == states.RUNNING for name in names)
    final = stock_states(url)
    assert {name: final[name] for name in names} == {
        name: (states.SUCCESS, name) for name in names}


class Count(task.Task):
    def __init__(self, name, connection, barrier):
        super().__init__(name=name)
        self.connection, self.barrier = connection, barrier

    def execute(self):
        self.barrier.wait(30)
        return self.name


def test_fewer_commits_than_state_changes(backend):
    connection = backend.get_connection()
    barrier = threading.Barrier(PARALLEL)
    flow = unordered_flow.Flow('counted').add(
        *[Count(f'count-{i}', connection, barrier) for i in range(PARALLEL)])
    engine = _grouped_engine(flow, backend)
    engine.compile()
    engine.prepare()
    before = connection.commits
    group_commit.run(engine)
    state_changes = 2 * PARALLEL          # RUNNING and SUCCESS of each atom
    # Flow RUNNING, one commit for all starts, the completions (at most one
    # iteration each), flow SUCCESS: never one commit per state change.
    assert connection.commits - before <= PARALLEL + 3 < state_changes + 2


def test_a_completed_task_is_committed_before_the_next_starts(backend, tmp_path):
    url = f'sqlite:///{tmp_path}/flows.sqlite'
    arrived, release = threading.Event(), threading.Event()
    flow = linear_flow.Flow('boundary').add(Produce(name='produce'),
                                            Gate('gate', arrived, release))
    engine = _grouped_engine(flow, backend)
    runner = threading.Thread(target=group_commit.run, args=(engine,))
    runner.start()
    try:
        assert arrived.wait(30)
        seen = stock_states(url)
        assert seen['produce'] == (states.SUCCESS, {'volume_id': 'vol-1'})
        assert seen['gate'][0] == states.RUNNING
    finally:
        release.set()
        runner.join(30)
    assert stock_states(url)['gate'] == (states.SUCCESS, 'gated')


def test_a_plain_engine_run_still_runs_and_commits(backend, tmp_path):
    """Outside group_commit.run nothing releases held atoms: they start at once."""
    url = f'sqlite:///{tmp_path}/flows.sqlite'
    engine = _grouped_engine(linear_flow.Flow('plain').add(Produce(name='produce')), backend)
    runner = threading.Thread(target=engine.run, daemon=True)
    runner.start()
    runner.join(60)
    assert not runner.is_alive()
    assert stock_states(url)['produce'] == (states.SUCCESS, {'volume_id': 'vol-1'})
