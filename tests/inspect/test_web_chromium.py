"""The web view in a real headless Chromium, while a flow runs."""

import contextlib
import pathlib
import shutil
import subprocess
import threading

import pytest
from taskflow import engines
from taskflow.persistence import backends

from blockflow.inspect import web
from tests.inspect import toyflows

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
PREFIX = '0f0e0d0c-0000-4000-8000-000000000002'
STEPS = ['create-volume', 'wait-available']

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason='Debian chromium not installed')


def _chromium(tmp_path, *args):
    cmd = [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
           '--disable-background-networking', '--disable-dev-shm-usage',
           f'--user-data-dir={tmp_path / "chromium-profile"}', *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)


def test_page_follows_a_running_flow_and_renders(tmp_path):
    backend = backends.fetch({'connection': f'sqlite:///{tmp_path}/flows.sqlite'})
    with contextlib.closing(backend.get_connection()) as conn:
        conn.upgrade()
    gates = tmp_path / 'gates'
    gates.mkdir()
    engine = engines.load_from_factory(
        toyflows.make_flow, factory_args=[PREFIX, ['vda'], STEPS, True],
        backend=backend, store={'gate_dir': str(gates)})
    runner = threading.Thread(target=engine.run, daemon=True)
    server = web.InspectServer(backend).start()
    flow_url = f'{server.url}/flows/{engine.storage.flow_uuid}'
    try:
        runner.start()
        # First step is running, nothing finished: the page says so.
        before = _chromium(tmp_path, '--virtual-time-budget=3000', '--dump-dom', flow_url)
        assert before.returncode == 0, before.stderr[-2000:]
        assert 'RUNNING' in before.stdout and 'create-volume' in before.stdout
        for step in STEPS:
            (gates / f'{PREFIX}-vda-{step}').touch()
        runner.join(timeout=30)
        after = _chromium(tmp_path, '--virtual-time-budget=3000', '--dump-dom', flow_url)
        assert 'class="state-SUCCESS">SUCCESS</span>' in after.stdout
        assert 'RUNNING' not in after.stdout.split('id="tasks"')[1]
        shot = tmp_path / 'flow.png'
        taken = _chromium(tmp_path, f'--screenshot={shot}', '--window-size=1200,800', flow_url)
        assert taken.returncode == 0 and shot.stat().st_size > 5000
        assert shot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    finally:
        for step in STEPS:
            (gates / f'{PREFIX}-vda-{step}').touch()
        server.stop()
        backend.close()
