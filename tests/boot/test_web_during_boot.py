"""Headless Chromium opens the web view while a real boot runs, sees task states
change, and takes a screenshot; the CLI graph of the same flow is drawn."""

import contextlib
import copy
import json
import pathlib
import shutil
import subprocess
import threading
import time
import uuid

import pytest
from taskflow.persistence import backends

from blockflow.cli import main as cli
from blockflow.clients import openstack as clients_module
from blockflow.cloud.server import EmbeddedCloud
from blockflow.inspect import report
from blockflow.inspect import web
from blockflow.runner import boot as boot_module

CHROMIUM = shutil.which('chromium')
EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / 'examples' / 'all-kinds.json'


def _chromium(tmp_path, *args):
    return subprocess.run(
        [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
         '--disable-background-networking', '--disable-dev-shm-usage',
         f'--user-data-dir={tmp_path / "profile"}', *args],
        capture_output=True, text=True, timeout=90, check=False)


@pytest.mark.skipif(CHROMIUM is None, reason='Debian chromium not installed')
def test_web_view_follows_a_real_boot(tmp_path, capsys):
    cloud = EmbeddedCloud(str(tmp_path / 'cloud'),
                          latency_profile={'create_base_s': 4.0, 'call_s': 0.0})
    cloud.start()
    db = f'sqlite:///{tmp_path}/flows.sqlite'
    options = boot_module.BootOptions(
        instance_uuid=str(uuid.uuid4()), cloud_ref=clients_module.embedded_ref(cloud),
        connection=db, instances_path=str(tmp_path / 'instances'))
    body = json.loads(EXAMPLE.read_text())
    result = {}
    runner = threading.Thread(target=lambda: result.update(
        zip(('plan', 'outcome', 'rows'), boot_module.boot(copy.deepcopy(body), options))))
    runner.start()
    backend = backends.fetch({'connection': db})
    server = None
    try:
        deadline = time.monotonic() + 30
        flows = []
        while not flows and time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                with contextlib.closing(backend.get_connection()) as conn:
                    flows = report.list_flows(conn)
            except Exception:
                flows = []
        server = web.InspectServer(backend).start()
        url = f"{server.url}/flows/{flows[0]['flow_id']}"
        during = _chromium(tmp_path, '--virtual-time-budget=2000', '--dump-dom', url)
        assert during.returncode == 0, during.stderr[-2000:]
        tasks_table = during.stdout.split('id="tasks"')[1]
        assert 'RUNNING' in tasks_table or 'PENDING' in tasks_table
        runner.join(timeout=60)
        assert result['outcome'].ok, result['outcome'].failure
        after = _chromium(tmp_path, '--virtual-time-budget=2000', '--dump-dom', url)
        assert 'class="state-SUCCESS">SUCCESS</span>' in after.stdout
        assert 'RUNNING' not in after.stdout.split('id="tasks"')[1]
        assert '/dev/vde (snapshot-&gt;volume)' in after.stdout
        shot = tmp_path / 'boot.png'
        taken = _chromium(tmp_path, f'--screenshot={shot}', '--window-size=1400,1000', url)
        assert taken.returncode == 0 and shot.read_bytes()[:4] == b'\x89PNG'
    finally:
        runner.join(timeout=60)
        if server:
            server.stop()
        backend.close()
        cloud.stop()
    svg = tmp_path / 'boot.svg'
    assert cli.main(['graph', result['outcome'].flow_id, '--connection', db,
                     '-o', str(svg)]) == 0
    assert 'SUCCESS' in svg.read_text() and 'vdf' in svg.read_text()
