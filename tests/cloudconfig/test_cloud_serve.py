"""`blockflow cloud serve` publishes a clouds.yaml entry that `--os-cloud` uses."""

import os
import signal
import subprocess
import sys

import yaml

EXAMPLE = os.path.join(os.path.dirname(__file__), '..', '..', 'examples', 'all-kinds.json')


def test_serve_writes_a_clouds_yaml_entry_blockflow_can_use(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env.update(XDG_STATE_HOME=str(tmp_path / 'state'), XDG_CONFIG_HOME=str(tmp_path / 'cfg'))
    clouds = tmp_path / 'clouds.yaml'
    serve = subprocess.Popen(
        [sys.executable, '-m', 'blockflow.cli.main', 'cloud', 'serve', '--name', 'lab',
         '--port', '0', '--write-clouds-yaml', str(clouds)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        shown = [serve.stdout.readline() for _ in range(3)]
        assert shown[0].startswith('blockflow cloud lab on http://127.0.0.1:'), shown
        assert (tmp_path / 'state' / 'blockflow' / 'clouds' / 'lab' / 'clouds.yaml').exists()
        entry = yaml.safe_load(clouds.read_text())['clouds']['lab']
        assert entry['auth_type'] == 'password' and entry['auth']['auth_url'].startswith('http')
        assert oct(clouds.stat().st_mode & 0o777) == '0o600'
        checked = subprocess.run(
            [sys.executable, '-m', 'blockflow.cli.main', 'validate', EXAMPLE,
             '--os-cloud', 'lab', '-f', 'json'],
            capture_output=True, text=True, timeout=60,
            env=dict(env, OS_CLIENT_CONFIG_FILE=str(clouds)))
        assert checked.returncode == 0, checked.stderr
        assert 'skipped_checks' not in checked.stdout
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=15)
