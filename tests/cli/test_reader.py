"""`list`, `show` and `devices` read a sqlite file with the reader, not TaskFlow's storage stack.

The reader must give exactly what TaskFlow's own backend gives for a flow a
real engine ran (successes, a retried task, a failure, a failed revert, task
durations), never write to the file, and keep SQLAlchemy, alembic, TaskFlow's
engines and networkx out of the process.
"""

import contextlib
import json
import sqlite3
import subprocess
import sys
import uuid

import pytest
from taskflow import engines
from taskflow import retry
from taskflow import task
from taskflow.listeners import timing
from taskflow.patterns import linear_flow
from taskflow.patterns import unordered_flow
from taskflow.persistence import models

from blockflow import persistence
from blockflow.cli import main as cli_main
from blockflow.inspect import report
from blockflow.persistence import reader

PREFIX = '0b1ec7f1-0000-4000-8000-0000000e7ead'
HEAVY_MODULES = ('sqlalchemy', 'alembic', 'networkx', 'taskflow.engines',
                 'taskflow.persistence.backends.impl_sqlalchemy', 'eventlet')


class _Step(task.Task):
    def execute(self, fail_on):
        if self.name == fail_on:
            raise RuntimeError(f'{self.name} failed: password=hunter2')
        if self.name.endswith('create-volume'):
            return {'volume_id': f'vol-{self.name}'}
        return self.name


class _Flaky(task.Task):
    """Fails its first run: its retry controller runs it again."""

    def execute(self):
        if not getattr(_Flaky, 'failed', False):
            _Flaky.failed = True
            raise IOError('transient')
        return 'ok'


class _BadRevert(_Step):
    def revert(self, *args, **kwargs):
        raise RuntimeError('cannot undo: token=abc123')


def _flow():
    root = unordered_flow.Flow(f'{PREFIX}-devices')
    vda = linear_flow.Flow(f'{PREFIX}-vda', retry=retry.Times(3, name=f'{PREFIX}-vda-retry'))
    vda.add(_Step(f'{PREFIX}-vda-create-volume'), _Flaky(f'{PREFIX}-vda-reserve'))
    vdb = linear_flow.Flow(f'{PREFIX}-vdb')
    vdb.add(_BadRevert(f'{PREFIX}-vdb-create-volume'), _Step(f'{PREFIX}-vdb-wait-available'))
    root.add(vda, vdb)
    return root


@pytest.fixture
def ran(tmp_path):
    """Two flows a real engine ran on blockflow's sqlite backend: one succeeded
    (after a retry), one failed and could not undo one task."""
    url = f'sqlite:///{tmp_path}/flows.sqlite'
    backend = persistence.get_backend(url)
    try:
        flow_ids = []
        for name, fail_on in (('first', None), ('second', f'{PREFIX}-vdb-wait-available')):
            book = models.LogBook(name)
            flow_detail = models.FlowDetail(f'boot-{name}', str(uuid.uuid4()))
            flow_detail.meta = {'instance_uuid': PREFIX, 'atom_prefix': PREFIX,
                                'request_id': f'req-{name}'}
            book.add(flow_detail)
            with contextlib.closing(backend.get_connection()) as conn:
                conn.save_logbook(book)
            _Flaky.failed = False
            engine = engines.load(_flow(), flow_detail=flow_detail, book=book,
                                  backend=backend,
                                  store={'fail_on': fail_on})
            with timing.DurationListener(engine), contextlib.suppress(Exception):
                engine.run()
            flow_ids.append(flow_detail.uuid)
    finally:
        backend.close()
    return {'url': url, 'path': f'{tmp_path}/flows.sqlite', 'flow_ids': flow_ids}


def test_reader_gives_what_taskflow_gives(ran):
    backend = persistence.get_backend(ran['url'])
    try:
        with contextlib.closing(backend.get_connection()) as conn:
            expected = [report.flow_report(conn, f) for f in ran['flow_ids']]
            expected_rows = report.list_flows(conn)
    finally:
        backend.close()
    with reader.opened(ran['url']) as flows:
        shown = [report.flow_report(flows, f) for f in ran['flow_ids']]
        rows = report.list_flows(flows)
    assert shown == expected and rows == expected_rows
    steps = {(d, s['step']): s for d, ss in shown[0]['devices'].items() for s in ss}
    assert steps[('vda', 'create-volume')]['volume_id'] == f'vol-{PREFIX}-vda-create-volume'
    assert steps[('vda', 'reserve')]['state'] == 'SUCCESS'
    assert steps[('vda', 'reserve')]['duration_s'] is not None
    assert [s['step'] for s in shown[0]['devices']['vdb']] == ['create-volume',
                                                               'wait-available']
    steps = {(d, s['step']): s for d, ss in shown[1]['devices'].items() for s in ss}
    assert steps[('vdb', 'create-volume')]['state'] == 'REVERT_FAILURE'
    assert steps[('vdb', 'create-volume')]['failure'] == 'cannot undo: token=***'
    assert steps[('vdb', 'wait-available')]['cause'].startswith('Failure: RuntimeError: ')
    assert 'hunter2' not in json.dumps(shown) and 'abc123' not in json.dumps(shown)


def test_reader_finds_by_prefix_and_names_ambiguity(ran):
    first, second = ran['flow_ids']
    with reader.opened(ran['url']) as flows:
        assert flows.find_flow(first[:13]).uuid == first
        with pytest.raises(reader.FlowNotFound) as missing:
            flows.find_flow('ffffffff-nosuch')
        with pytest.raises(reader.FlowNotFound) as ambiguous:
            flows.find_flow('')
    assert missing.value.matches == 0 and ambiguous.value.matches == 2
    code = cli_main.main(['show', '', '--connection', ran['url']])
    assert code == 1


def test_show_names_an_ambiguous_prefix_in_one_line(ran, capsys):
    code = cli_main.main(['show', '', '--connection', ran['url']])
    err = capsys.readouterr().err
    assert code == 1 and len(err.splitlines()) == 1 and '2 flows start with it' in err


def test_reading_never_creates_or_writes_the_file(tmp_path, capsys):
    url = f'sqlite:///{tmp_path}/none/flows.sqlite'
    assert cli_main.main(['list', '--connection', url, '-f', 'json']) == 0
    assert json.loads(capsys.readouterr().out) == {'flows': []}
    assert cli_main.main(['show', 'abc', '--connection', url]) == 1
    assert not (tmp_path / 'none' / 'flows.sqlite').exists()


def test_reads_while_a_writer_holds_the_file(ran, capsys):
    writer = sqlite3.connect(ran['path'])
    try:
        writer.execute('BEGIN IMMEDIATE')
        writer.execute("UPDATE flowdetails SET state = 'RUNNING'")
        assert cli_main.main(['list', '--connection', ran['url'], '-f', 'json']) == 0
        states = {row['state'] for row in json.loads(capsys.readouterr().out)['flows']}
    finally:
        writer.rollback()
        writer.close()
    assert 'RUNNING' not in states and states


@pytest.mark.parametrize('command', ['list', 'show', 'devices'])
def test_read_commands_keep_heavy_modules_out(flow_db, command):
    argv = {'list': ['list'], 'show': ['show', flow_db['flow_id']],
            'devices': ['devices', flow_db['instance']]}[command]
    argv += ['--connection', flow_db['url'], '-f', 'json']
    probe = ('import sys, json\n'
             'from blockflow.cli import main\n'
             f'code = main.main({argv!r})\n'
             f'heavy = [m for m in {HEAVY_MODULES!r} if sys.modules.get(m)]\n'
             'print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)\n')
    done = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True,
                          timeout=120)
    result = json.loads(done.stderr.strip().splitlines()[-1])
    assert result == {'code': 0, 'heavy': []}, done.stderr
    assert json.loads(done.stdout)
