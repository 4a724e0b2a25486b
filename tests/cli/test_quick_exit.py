"""blockflow.exit.leave: a finished command's process ends without the
interpreter's teardown, yet with its exit code, its whole output, its exit
handlers run, and never under a thread that is still working."""

import json
import pathlib
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _python(code, *args):
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_exit_handlers_run_once_and_output_is_flushed():
    out = _python('''
        import atexit, sys
        from blockflow import exit
        atexit.register(lambda: print('handler ran'))
        sys.stdout.write('x' * 100000)      # buffered, not yet written
        exit.leave(3)
    ''')
    assert out.returncode == 3
    assert out.stdout.count('x') == 100000
    assert out.stdout.count('handler ran') == 1


def test_a_working_thread_is_waited_for(tmp_path):
    done = tmp_path / 'done'
    out = _python('''
        import sys, threading, time
        from blockflow import exit
        def work():
            time.sleep(0.3)
            open(sys.argv[1], 'w').close()
        threading.Thread(target=work).start()
        exit.leave(0)
    ''', str(done))
    assert out.returncode == 0, out.stderr
    assert done.exists()


def test_cli_exit_codes_and_json_document_survive(tmp_path):
    bad = tmp_path / 'bad.json'
    bad.write_text('{"server": {"name": "x", "flavorRef": "1", "block_device_mapping_v2": '
                   '[{"source_type": "nonsense"}]}}')
    refused = subprocess.run([sys.executable, '-m', 'blockflow.cli.main', 'validate',
                              str(bad), '-f', 'json'],
                             capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode == 1, refused.stderr
    assert json.loads(refused.stdout)       # the whole document, flushed
    usage = subprocess.run([sys.executable, '-m', 'blockflow.cli.main', 'no-such-command'],
                           capture_output=True, text=True, timeout=120, check=False)
    assert usage.returncode == 2
    assert 'is not a blockflow command' in usage.stderr
