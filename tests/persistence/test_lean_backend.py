"""blockflow's lean SQLAlchemy backend: durable at every task boundary, readable by stock TaskFlow."""

import contextlib
import os
import stat
import subprocess
import sys
import threading

import pytest
from taskflow import engines
from taskflow import states
from taskflow import task
from taskflow.listeners import timing
from taskflow.patterns import linear_flow
from taskflow.persistence.backends import impl_sqlalchemy

from blockflow import exceptions
from blockflow import persistence
from blockflow.persistence import lean


class Produce(task.Task):
    default_provides = 'produced'

    def execute(self):
        return {'volume_id': 'vol-1'}


class Gate(task.Task):
    """Blocks until the test has looked at the database from outside."""

    def __init__(self, name, arrived, release):
        super().__init__(name=name)
        self.arrived = arrived
        self.release = release

    def execute(self, produced):
        self.arrived.set()
        assert self.release.wait(30)
        return produced['volume_id'] + '-attached'


def _stock_states(url):
    """What TaskFlow's own SQLAlchemy backend, in its own engine, reads from the file."""
    stock = impl_sqlalchemy.SQLAlchemyBackend({'connection': url})
    try:
        with contextlib.closing(stock.get_connection()) as conn:
            return {ad.name: (ad.state, ad.results, dict(ad.meta))
                    for book in conn.get_logbooks() for fd in book for ad in fd}
    finally:
        stock.close()


def test_sqlite_urls_get_the_lean_backend(tmp_path):
    backend = persistence.get_backend(f'sqlite:///{tmp_path}/state/flows.sqlite')
    try:
        assert isinstance(backend, lean.LeanBackend)
    finally:
        backend.close()
    assert stat.S_IMODE(os.stat(tmp_path / 'state').st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / 'state' / 'flows.sqlite').st_mode) == 0o600


def test_unknown_scheme_names_the_option():
    with pytest.raises(exceptions.UsageError, match=r"--connection: no persistence backend "
                                                     r"for 'nosuch'.*sqlite"):
        persistence.get_backend('nosuch://x')


def test_state_is_durable_at_each_task_boundary(tmp_path):
    url = f'sqlite:///{tmp_path}/flows.sqlite'
    backend = persistence.get_backend(url)
    arrived, release = threading.Event(), threading.Event()
    flow = linear_flow.Flow('boundary').add(Produce(name='produce'),
                                            Gate('gate', arrived, release))
    engine = engines.load(flow, backend=backend)
    timing.DurationListener(engine).register()
    runner = threading.Thread(target=engine.run)
    runner.start()
    try:
        assert arrived.wait(30)
        # While the second task runs, another reader already sees the first one done.
        seen = _stock_states(url)
        assert seen['produce'][:2] == (states.SUCCESS, {'volume_id': 'vol-1'})
        assert seen['gate'][0] == states.RUNNING
    finally:
        release.set()
        runner.join(30)
    backend.close()
    seen = _stock_states(url)
    assert seen['gate'][:2] == (states.SUCCESS, 'vol-1-attached')
    # Deferred metadata (progress, durations) was written by the end of the flow.
    for name in ('produce', 'gate'):
        assert seen[name][2]['progress'] == 1.0
        assert seen[name][2]['duration'] >= 0


def test_resumes_from_what_stock_taskflow_wrote(tmp_path):
    """The tables are TaskFlow's: a flow saved by the stock backend loads in ours."""
    url = f'sqlite:///{tmp_path}/flows.sqlite'
    stock = impl_sqlalchemy.SQLAlchemyBackend({'connection': url})
    with contextlib.closing(stock.get_connection()) as conn:
        conn.upgrade()
    flow = linear_flow.Flow('interop').add(Produce(name='produce'))
    engine = engines.load(flow, backend=stock)
    engine.compile()
    engine.prepare()
    flow_uuid = engine.storage.flow_uuid
    book = engine.storage._flowdetail
    stock.close()

    backend = persistence.get_backend(url)
    with contextlib.closing(backend.get_connection()) as conn:
        flow_detail = conn.get_flow_details(flow_uuid)
    assert flow_detail.uuid == book.uuid
    engine = engines.load(linear_flow.Flow('interop').add(Produce(name='produce')),
                          flow_detail=flow_detail, backend=backend)
    engine.run()
    backend.close()
    assert _stock_states(url)['produce'][:2] == (states.SUCCESS, {'volume_id': 'vol-1'})


ALEMBIC_CHECK = '''
import sys
from blockflow import persistence
backend = persistence.get_backend(sys.argv[1])
backend.close()
assert 'alembic' not in sys.modules, 'a sqlite boot imported alembic'
from taskflow.persistence.backends import impl_sqlalchemy
db_sync = impl_sqlalchemy.migration.db_sync    # a non-sqlite upgrade still finds it
assert 'alembic' in sys.modules and callable(db_sync)
print('ok')
'''


def test_sqlite_never_imports_alembic_yet_migrations_stay_reachable(tmp_path):
    out = subprocess.run(
        [sys.executable, '-c', ALEMBIC_CHECK, f'sqlite:///{tmp_path}/f.sqlite'],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == 'ok', out.stderr[-2000:]
