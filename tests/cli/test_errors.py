"""Failures end in one line on stderr: exit 1 (2 for usage), a traceback only with --debug."""

import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest

from blockflow.cli import main as cli_main

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / 'examples' / 'all-kinds.json')
MISSING = '99999999-0000-4000-8000-000000000000'


def _blockflow(argv, tmp_path, timeout=120):
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env.update(XDG_STATE_HOME=str(tmp_path / 'state'), XDG_CONFIG_HOME=str(tmp_path / 'cfg'))
    return subprocess.run([sys.executable, '-m', 'blockflow.cli.main', *argv],
                          capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=timeout)


def _one_line(done, code, *words):
    assert done.returncode == code, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and 'Traceback' not in done.stderr, done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize('argv', [
    ['show', MISSING[:8]], ['graph', MISSING], ['devices', MISSING], ['delete', MISSING],
    ['resume', MISSING]])
def test_not_found_is_exit_1_in_one_line(capsys, flow_db, argv):
    code = cli_main.main([*argv, '--connection', flow_db['url']])
    out, err = capsys.readouterr()
    assert code == 1 and out == ''
    assert len(err.splitlines()) == 1 and err.startswith('NotFound: '), err


def test_not_found_in_json_is_a_json_error(capsys, flow_db):
    code = cli_main.main(['show', MISSING, '--connection', flow_db['url'], '-f', 'json'])
    assert code == 1
    assert json.loads(capsys.readouterr().out)['error']['class'] == 'NotFound'


@pytest.fixture
def busy_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_busy_port_for_cloud_serve_and_ui(tmp_path, busy_port):
    done = _blockflow(['cloud', 'serve', '--port', str(busy_port), '--name', 'busy'], tmp_path)
    _one_line(done, 1, 'already in use', str(busy_port), '--port')
    done = _blockflow(['ui', '--port', str(busy_port), '--connection',
                       f'sqlite:///{tmp_path}/ui.sqlite'], tmp_path)
    _one_line(done, 1, 'already in use', str(busy_port), '--port')
    assert done.stdout == ''


def test_unknown_latency_profile(tmp_path):
    done = _blockflow(['cloud', 'serve', '--port', '0', '--latency-profile', 'warp'], tmp_path)
    _one_line(done, 2, '--latency-profile', 'warp', 'bench')


def test_connection_urls(tmp_path):
    done = _blockflow(['list', '--connection', 'mysql://u:p@127.0.0.1/db'], tmp_path)
    _one_line(done, 1, 'blockflow[mysql]')
    done = _blockflow(['list', '--connection', 'foo://x'], tmp_path)
    _one_line(done, 2, '--connection', 'foo')


def test_jobboard_down_and_missing_driver(tmp_path):
    done = _blockflow(['jobs', '--jobboard', 'redis://127.0.0.1:1', '--connection',
                       f'sqlite:///{tmp_path}/jobs.sqlite'], tmp_path)
    _one_line(done, 1, '--jobboard', 'redis://127.0.0.1:1')
    done = _blockflow(['jobs', '--jobboard', 'ftp://x', '--connection',
                       f'sqlite:///{tmp_path}/jobs.sqlite'], tmp_path)
    _one_line(done, 2, '--jobboard')


def test_debug_shows_the_traceback(tmp_path):
    done = _blockflow(['list', '--connection', 'mysql://u:p@127.0.0.1/db', '--debug'],
                      tmp_path)
    assert done.returncode == 1 and 'Traceback' in done.stderr
    assert 'blockflow[mysql]' in done.stderr.splitlines()[-1]


def test_usage_errors_exit_2(tmp_path):
    done = _blockflow(['nosuch'], tmp_path)
    _one_line(done, 2, 'nosuch', 'blockflow --help')
    done = _blockflow([], tmp_path)
    _one_line(done, 2, 'command is required')
    done = _blockflow(['validate'], tmp_path)
    assert done.returncode == 2 and 'REQUEST.json' in done.stderr


def test_boot_keep_on_failure_reports_in_lines_without_traceback(
        embedded_cloud_process, tmp_path):
    import requests
    cloud = embedded_cloud_process
    requests.post(f'{cloud.url}/admin/faults', timeout=10, headers=cloud.admin_headers(), json={
        'fail': [{'op': 'attachment.complete', 'nth': 2, 'times': 100}]}).raise_for_status()
    env_args = ['--os-cloud', cloud.name, '--connection', f'sqlite:///{tmp_path}/b.sqlite',
                '--instances-path', str(tmp_path / 'instances'), '--keep-on-failure']
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env.update(OS_CLIENT_CONFIG_FILE=cloud.clouds_yaml, XDG_STATE_HOME=str(tmp_path / 's'))
    done = subprocess.run([sys.executable, '-m', 'blockflow.cli.main', 'boot', EXAMPLE,
                           *env_args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    assert 'Traceback' not in done.stderr and 'Engine execution has failed' not in done.stderr
    assert 'boot failed (FAILURE)' in done.stderr and 'failed at os-attach' in done.stderr
    # a pipe gets one line per device, not one per state change
    device_lines = [line for line in done.stderr.splitlines()
                    if line.startswith('  vd')]
    assert len(device_lines) == len({line.split()[0] for line in device_lines})
    assert 'RUNNING' not in done.stderr


@pytest.mark.parametrize('command', [['list'], ['show', 'abc'], ['devices', 'abc'],
                                     ['graph', 'abc']])
def test_unreadable_sqlite_file_is_one_line_naming_it(capsys, tmp_path, command):
    garbage = tmp_path / 'garbage.sqlite'
    garbage.write_text('not a database\n' * 100)
    (tmp_path / 'dir.sqlite').mkdir()
    for path, reason in ((garbage, 'file is not a database'),
                         (tmp_path / 'dir.sqlite', 'is a directory')):
        code = cli_main.main([*command, '--connection', f'sqlite:///{path}'])
        out, err = capsys.readouterr()
        assert code == 1 and out == ''
        assert len(err.splitlines()) == 1 and 'Traceback' not in err, err
        assert err.startswith('EnvironmentFailure: --connection:') and str(path) in err, err
        assert reason in err


def test_help_for_an_unknown_command_is_a_usage_error(tmp_path):
    done = _blockflow(['help', 'nosuch'], tmp_path)
    _one_line(done, 2, "'nosuch' is not a blockflow command", 'blockflow --help')
    done = _blockflow(['help', 'show'], tmp_path)
    assert done.returncode == 0 and 'FLOW_ID' in done.stdout
