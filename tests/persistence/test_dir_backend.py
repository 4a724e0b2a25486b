"""`--connection dir:///PATH` is TaskFlow's directory backend: flows saved there are listed."""

import contextlib
import json
import subprocess
import sys
import uuid

from taskflow import engines
from taskflow import task
from taskflow.patterns import linear_flow
from taskflow.persistence import models

from blockflow import persistence


class _Noop(task.Task):
    def execute(self):
        return self.name


def _run_flow(backend, name):
    book = models.LogBook(f'book-{name}')
    detail = models.FlowDetail(name, str(uuid.uuid4()))
    book.add(detail)
    with contextlib.closing(backend.get_connection()) as conn:
        conn.save_logbook(book)
    flow = linear_flow.Flow(name).add(_Noop(f'{name}-one'), _Noop(f'{name}-two'))
    engines.load(flow, flow_detail=detail, book=book, backend=backend).run()
    return detail.uuid


def test_dir_url_is_a_folder_flows_are_saved_in_and_listed_from(tmp_path):
    url = f'dir://{tmp_path}/flows'
    flow_id = _run_flow(persistence.get_backend(url), 'dir-flow')
    assert (tmp_path / 'flows' / 'flow_details').is_dir()
    listed = subprocess.run([sys.executable, '-m', 'blockflow.cli.main', 'list',
                             '--connection', url, '-f', 'json'],
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    flows = json.loads(listed.stdout)['flows']
    assert [f['state'] for f in flows if f['flow_id'] == flow_id] == ['SUCCESS'], flows


def test_dir_url_without_a_path_is_one_usage_line(tmp_path):
    done = subprocess.run([sys.executable, '-m', 'blockflow.cli.main', 'list',
                           '--connection', 'dir://'], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "UsageError: --connection: 'dir://' names no directory (dir:///absolute/path)"]
