"""benchmarks/conductor_bench.py --quick: boots spread over 1 and 2 real conductor
processes on one real Redis jobboard, each run checked (every job SUCCESS, no leak)."""

import json
import pathlib
import subprocess
import sys

from tests.fixtures import jobboard

BENCH = pathlib.Path(__file__).resolve().parents[2] / 'benchmarks' / 'conductor_bench.py'
pytestmark = jobboard.needs_redis


def test_quick_conductor_bench_boots_everything_once_per_conductor_count(tmp_path):
    done = subprocess.run([sys.executable, str(BENCH), '--quick', '--json'], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{')]
    assert sorted(row['conductors'] for row in rows) == [1, 2]
    assert all(row['devices'] == 16 and row['devices_per_s'] > 0 for row in rows), rows
    assert 'every job SUCCESS, no volume leaked' in done.stdout
    table = [line for line in done.stdout.splitlines() if line.startswith('| 1 |')
             or line.startswith('| 2 |')]
    assert len(table) == 2, done.stdout
