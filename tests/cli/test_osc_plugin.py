"""The commands as a python-openstackclient plugin: the real ``openstack`` console script.

``openstack --help`` lists them, ``openstack blockflow list -f json`` prints the
flows document, ``openstack --os-cloud NAME blockflow validate`` checks the
request against that cloud (OSC parses ``--os-cloud`` itself), and errors are
blockflow's one line with its exit codes.
"""

import copy
import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

from blockflow.cli import main as cli_main

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / 'examples' / 'all-kinds.json')
OPENSTACK = pathlib.Path(sys.executable).parent / 'openstack'


def _openstack(argv, env):
    if not OPENSTACK.exists():
        pytest.fail(f'{OPENSTACK} is missing: pip install -r test-requirements.txt '
                    '(python-openstackclient)')
    return subprocess.run([str(OPENSTACK), *argv], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def env(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    return dict(clean, XDG_STATE_HOME=str(tmp_path / 'state'),
                XDG_CONFIG_HOME=str(tmp_path / 'config'), HOME=str(tmp_path))


def test_openstack_help_lists_every_blockflow_command(env):
    done = _openstack(['--help'], env)
    assert done.returncode == 0, done.stderr
    commands = done.stdout.split('\nCommands:\n', 1)[1]
    listed = {line.strip().split('  ')[0] for line in commands.splitlines()
              if line.strip().startswith('blockflow ')}
    assert listed == {f'blockflow {name}' for name in cli_main.COMMANDS}
    assert 'Traceback' not in done.stderr


def test_openstack_blockflow_list(env, flow_db):
    done = _openstack(['blockflow', 'list', '-f', 'json', '--connection', flow_db['url']], env)
    assert done.returncode == 0, done.stderr
    assert [row['flow_id'] for row in json.loads(done.stdout)['flows']] == [flow_db['flow_id']]


def test_openstack_errors_are_blockflows_one_line(env, flow_db):
    done = _openstack(['blockflow', 'show', 'nosuch', '--connection', flow_db['url']], env)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        'NotFound: flow nosuch: no such flow in the persistence backend']


def test_openstack_os_cloud_reaches_the_command(env, embedded_cloud, tmp_path):
    # OS_CLOUD names a dead cloud: the --os-cloud given to openstack must win over it.
    clouds = yaml.safe_load(pathlib.Path(embedded_cloud.clouds_yaml).read_text())
    dead = copy.deepcopy(clouds['clouds']['embedded'])
    dead['auth']['auth_url'] = 'http://127.0.0.1:9/identity/v3'
    clouds['clouds']['dead'] = dead
    clouds_yaml = tmp_path / 'clouds.yaml'
    clouds_yaml.write_text(yaml.safe_dump(clouds))
    env = dict(env, OS_CLIENT_CONFIG_FILE=str(clouds_yaml), OS_CLOUD='dead')
    done = _openstack(['--os-cloud', 'embedded', 'blockflow', 'validate', EXAMPLE,
                       '-f', 'json'], env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)['devices']
    # Checked against the cloud OSC was told about, not skipped for want of one.
    assert embedded_cloud.counters()['image.get'] >= 1
    assert embedded_cloud.counters()['volume.get'] >= 1
