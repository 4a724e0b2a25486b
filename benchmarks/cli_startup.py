"""How long ``blockflow`` takes from process start to exit, per command.

Each round runs every command once, interleaved (so a busy spell of the
machine hits all commands alike), as a new process of the installed console
script; the report gives the median and range per command, the target from
issue 11, and the load average before and after (wall times mean little on
a loaded machine, so the median CPU time, user + system, of each process is
given too: it hardly moves with load). ``show`` reads a small flow this
script persists first.

    .venv/bin/python benchmarks/cli_startup.py            # 15 rounds
    .venv/bin/python benchmarks/cli_startup.py --rounds 31 --json
"""

import argparse
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / 'examples' / 'all-kinds.json'
CATALOG = ROOT / 'examples' / 'catalog.json'
INSTANCE = '0b1ec7f1-0000-4000-8000-0000000000be'


def _persist_a_flow(url):
    """One finished boot flow with a device's tasks, as `show` reads it."""
    from taskflow.persistence import models

    from blockflow import persistence
    backend = persistence.get_backend(url)
    try:
        conn = backend.get_connection()
        conn.upgrade()
        book = models.LogBook('bench')
        flow = models.FlowDetail(f'boot-{INSTANCE}', str(uuid.uuid4()))
        flow.meta = {'instance_uuid': INSTANCE}
        flow.state = 'SUCCESS'
        for step in ('create-volume', 'wait-available', 'reserve', 'os-attach'):
            atom = models.TaskDetail(f'{INSTANCE}-vdb-{step}', str(uuid.uuid4()))
            atom.state = 'SUCCESS'
            flow.add(atom)
        book.add(flow)
        conn.save_logbook(book)
        conn.close()
        return flow.uuid
    finally:
        backend.close()


def commands(url, flow_id):
    """name -> (argv, target seconds)."""
    return {
        '--help': (['--help'], 0.3),
        'validate': (['validate', str(EXAMPLE), '--catalog', str(CATALOG),
                      '--microversion', '2.67'], 0.5),
        'list': (['list', '--connection', url], 0.6),
        'show': (['show', flow_id, '--connection', url], 0.6),
    }


def _script():
    script = pathlib.Path(sys.executable).parent / 'blockflow'
    return [str(script)] if script.exists() else [sys.executable, '-m', 'blockflow.cli.main']


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(rounds):
    script = _script()
    with tempfile.TemporaryDirectory() as tmp:
        url = f'sqlite:///{tmp}/bench.sqlite'
        flow_id = _persist_a_flow(url)
        env = dict(os.environ, XDG_STATE_HOME=tmp, XDG_CONFIG_HOME=tmp)
        env = {k: v for k, v in env.items() if not k.startswith('OS_')}
        todo = commands(url, flow_id)
        times = {name: [] for name in todo}
        cpu = {name: [] for name in todo}
        load_before = os.getloadavg()
        for _ in range(rounds):
            for name, (argv, _target) in todo.items():
                used = _children_cpu()
                start = time.perf_counter()
                done = subprocess.run(script + argv, env=env, cwd=tmp,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                times[name].append(time.perf_counter() - start)
                cpu[name].append(_children_cpu() - used)
                if done.returncode != 0:
                    raise SystemExit(f'{name} failed: {done.stderr.decode()[-500:]}')
        load_after = os.getloadavg()
    return {'rounds': rounds, 'cpus': os.cpu_count(),
            'load_before': [round(x, 2) for x in load_before],
            'load_after': [round(x, 2) for x in load_after],
            'commands': {name: {'median_s': round(statistics.median(t), 3),
                                'min_s': round(min(t), 3), 'max_s': round(max(t), 3),
                                'cpu_median_s': round(statistics.median(cpu[name]), 3),
                                'target_s': todo[name][1],
                                'met': statistics.median(t) <= todo[name][1]}
                         for name, t in times.items()}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=15, help='runs per command')
    parser.add_argument('--json', action='store_true', help='print the result as JSON')
    args = parser.parse_args()
    result = run(args.rounds)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.rounds} interleaved rounds, {result['cpus']} CPUs, load average "
          f"{result['load_before']} before, {result['load_after']} after")
    print(f"{'command':10} {'median':>8} {'min':>7} {'max':>7} {'cpu':>7} {'target':>7}  met")
    for name, row in result['commands'].items():
        print(f"{name:10} {row['median_s']:7.3f}s {row['min_s']:6.3f}s {row['max_s']:6.3f}s "
              f"{row['cpu_median_s']:6.3f}s {row['target_s']:6.1f}s  "
              f"{'yes' if row['met'] else 'no'}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
