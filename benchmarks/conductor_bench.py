"""More than one core: M boots on one Redis jobboard, run by K `blockflow conductor` processes.

Each run: a fresh embedded cloud in this process (latency profile "bench",
see boot_bench.py), a fresh flow database, K conductor processes started
and ready (their start-up is reported apart); then M boots of 4 blank 1 GiB
volumes are posted (validated beforehand, so the clock holds only posting
and running) and the wall runs from the first post to the board being empty.
Every run is checked: each flow ended SUCCESS, each instance has exactly its
4 volumes in-use with one attachment each, no volume was left behind in a
transient state or outside an instance. K = 1, 2, 4 are interleaved within
each repetition; medians per K; the load average before and after.

One Debian redis-server is started by the script on a free loopback port.

    .venv/bin/python benchmarks/conductor_bench.py             # M = 50, K = 1, 2, 4, 3 reps
    .venv/bin/python benchmarks/conductor_bench.py --quick     # M = 4, K = 1, 2, 1 rep
"""

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
DEVICES_PER_INSTANCE = 4
GiB_SIZE = 1
READY_TIMEOUT_S = 120
RUN_TIMEOUT_S = 600
BOARD_POLL_S = 0.05


class BenchFailure(SystemExit):
    """A run that did not boot everything exactly once: the numbers would lie."""


def request(devices):
    return {'server': {'name': 'bench', 'flavorRef': '1', 'imageRef': '', 'networks': 'none',
                       'block_device_mapping_v2': [
                           {'source_type': 'blank', 'destination_type': 'volume',
                            'volume_size': GiB_SIZE, 'boot_index': 0 if i == 0 else -1}
                           for i in range(devices)]}}


# --- redis -----------------------------------------------------------------------
def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def redis_server(directory):
    """A throw-away redis-server on a free loopback port; yields its jobboard URL."""
    binary = shutil.which('redis-server')
    if binary is None:
        raise BenchFailure('redis-server not found (Debian package redis-server)')
    port = _free_port()
    proc = subprocess.Popen([binary, '--port', str(port), '--bind', '127.0.0.1', '--save', '',
                             '--appendonly', 'no', '--dir', directory],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(('127.0.0.1', port)) == 0:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise BenchFailure(f'redis-server did not listen on 127.0.0.1:{port}')
            time.sleep(0.05)
        yield f'redis://127.0.0.1:{port}/0'
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- a server database (the alternative to one shared sqlite file) -----------------
@contextlib.contextmanager
def postgres_server():
    """A throw-away PostgreSQL (Debian/upstream binaries on PATH) on a free loopback
    port, run as ``nobody`` when we are root (postgres refuses root); yields a
    function making a fresh database and returning its SQLAlchemy URL.

    synchronous_commit=off: as durable as the sqlite default (WAL,
    synchronous=NORMAL): a killed process loses nothing, a power cut the last
    commits.
    """
    for tool in ('initdb', 'postgres'):
        if shutil.which(tool) is None:
            raise BenchFailure(f'--db postgresql: {tool} not found on PATH')
    import psycopg2
    home = tempfile.mkdtemp(prefix='blockflow-bench-pg-')
    os.chmod(home, 0o755)
    data = os.path.join(home, 'data')
    os.mkdir(data)
    as_user = []
    if os.geteuid() == 0:
        shutil.chown(data, 'nobody', 'nogroup')
        as_user = ['runuser', '-u', 'nobody', '--']
    port = _free_port()
    subprocess.run([*as_user, shutil.which('initdb'), '-D', data, '-U', 'blockflow',
                    '--auth=trust', '-E', 'UTF8', '--no-sync'], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = subprocess.Popen([*as_user, shutil.which('postgres'), '-D', data, '-p', str(port),
                             '-k', data, '-h', '127.0.0.1', '-c', 'synchronous_commit=off',
                             '-c', 'max_connections=200'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    made = []

    def new_database():
        name = f'flows{len(made)}'
        conn = psycopg2.connect(host='127.0.0.1', port=port, user='blockflow', dbname='postgres')
        try:
            conn.autocommit = True
            conn.cursor().execute(f'CREATE DATABASE {name}')
        finally:
            conn.close()
        made.append(name)
        return f'postgresql+psycopg2://blockflow@127.0.0.1:{port}/{name}'
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg2.connect(host='127.0.0.1', port=port, user='blockflow',
                                 dbname='postgres').close()
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise BenchFailure(f'postgres did not listen on 127.0.0.1:{port}')
                time.sleep(0.1)
        yield new_database
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


# --- conductors ------------------------------------------------------------------
def start_conductors(count, board_url, connection, env, log_dir, extra=()):
    """K conductor processes, each waited for until it says it is on the board."""
    import blockflow
    # `python -m` imports from its working directory first: the same tree as here.
    tree = os.path.dirname(os.path.dirname(os.path.abspath(blockflow.__file__)))
    procs = []
    started = time.monotonic()
    for index in range(count):
        log = open(os.path.join(log_dir, f'conductor-{index}.log'), 'w')
        proc = subprocess.Popen(
            [sys.executable, '-m', 'blockflow.cli.main', 'conductor', '--jobboard', board_url,
             '--connection', connection, '--name', f'bench-{index}', *extra],
            env=env, cwd=tree, stdout=subprocess.PIPE, stderr=log, text=True)
        proc.log_path = log.name
        log.close()
        procs.append(proc)
    ready = []
    for proc in procs:
        line = proc.stdout.readline()
        if not line.startswith('conductor '):
            stop_conductors(procs)
            raise BenchFailure(f'conductor did not start: {_tail(proc.log_path)}')
        ready.append(time.monotonic() - started)
    return procs, max(ready)


def stop_conductors(procs):
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def _tail(path, chars=3000):
    with open(path, encoding='utf-8', errors='replace') as stream:
        return stream.read()[-chars:]


# --- one run -----------------------------------------------------------------------
def prepared_posts(cloud_ref, connection, instances, instances_path):
    """Validate every boot before the clock starts: (factory kwargs, meta) per instance."""
    from blockflow.runner import boot as boot_module
    from blockflow import persistence
    from blockflow.persistence import records

    posts = []
    rows = records.Records(persistence.resolve_url(connection))
    for _ in range(instances):
        options = boot_module.BootOptions(
            instance_uuid=str(uuid.uuid4()), cloud_ref=dict(cloud_ref), connection=connection,
            instances_path=instances_path)
        plan = boot_module.plan_for(request(DEVICES_PER_INSTANCE), options)
        rows.save_instance(options.instance_uuid, options.cloud_ref, options.request_id)
        posts.append(boot_module.factory_arguments(plan, options))
    return posts


def post_and_wait(board, backend, posts, procs):
    """Post every boot; seconds from the first post until the board is empty."""
    from blockflow.runner import boot as boot_module
    from blockflow.runner import jobboard

    started = time.monotonic()
    for factory_kwargs, meta in posts:
        jobboard.post_boot(board, backend, boot_module.FACTORY, factory_kwargs, meta)
    deadline = started + RUN_TIMEOUT_S
    while any(True for _job in board.iterjobs(ensure_fresh=True)):
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise BenchFailure(f'a conductor exited: {_tail(dead[0].log_path)}')
        if time.monotonic() > deadline:
            raise BenchFailure(f'jobs not done after {RUN_TIMEOUT_S} s')
        time.sleep(BOARD_POLL_S)
    return time.monotonic() - started


def check_run(cloud, backend, posts):
    """Every flow SUCCESS, every device booted exactly once, nothing leaked; else raise."""
    expected = {meta['instance_uuid'] for _kwargs, meta in posts}
    states = {}
    with contextlib.closing(backend.get_connection()) as conn:
        for book in conn.get_logbooks():
            for flow_detail in book:
                states[flow_detail.meta.get('instance_uuid')] = flow_detail.state
    bad = {i: states.get(i) for i in expected if states.get(i) != 'SUCCESS'}
    if bad:
        raise BenchFailure(f'{len(bad)} boots did not end SUCCESS: {list(bad.items())[:3]}')
    volumes = cloud.store.list('volumes')
    attachments = cloud.store.list('attachments')
    attached = {}
    for attachment in attachments:
        attached.setdefault(attachment.get('volume_id'), []).append(attachment)
    per_instance = {}
    leaked = []
    for volume in volumes:
        owner = (volume.get('metadata') or {}).get('blockflow_instance')
        if owner not in expected:
            if owner is not None:
                leaked.append(volume['id'])
            continue
        per_instance.setdefault(owner, []).append(volume)
        if volume.get('status') != 'in-use' or len(attached.get(volume['id'], [])) != 1:
            leaked.append(volume['id'])
    wrong = [i for i in expected if len(per_instance.get(i, [])) != DEVICES_PER_INSTANCE]
    if leaked or wrong:
        raise BenchFailure(f'volumes leaked or not exactly once: {len(leaked)} leaked, '
                           f'{len(wrong)} instances without exactly {DEVICES_PER_INSTANCE}')
    return len(volumes)


def one_run(tmp, board_url, conductors, instances, tag, extra=(), new_database=None):
    from blockflow.clients import openstack as clients_module
    from blockflow.runner import jobboard
    from blockflow import persistence
    from blockflow.cloud.server import EmbeddedCloud

    run_dir = os.path.join(tmp, tag)
    os.makedirs(run_dir)
    connection = new_database() if new_database else f'sqlite:///{run_dir}/flows.sqlite'
    env = dict(os.environ, XDG_STATE_HOME=f'{run_dir}/state')
    cloud = EmbeddedCloud(f'{run_dir}/cloud', latency_profile='bench').start()
    backend = persistence.get_backend(connection)
    procs = []
    try:
        posts = prepared_posts(clients_module.embedded_ref(cloud), connection, instances,
                               f'{run_dir}/instances')
        procs, ready_s = start_conductors(conductors, board_url, connection, env, run_dir,
                                          extra)
        board = jobboard.get_jobboard(board_url, backend)
        try:
            cloud.faults.reset_counters()
            wall = post_and_wait(board, backend, posts, procs)
        finally:
            board.close()
        calls = sum(cloud.counters().values())
        check_run(cloud, backend, posts)
    finally:
        stop_conductors(procs)
        backend.close()
        cloud.stop()
    devices = instances * DEVICES_PER_INSTANCE
    return {'conductors': conductors, 'instances': instances, 'devices': devices,
            'wall_s': round(wall, 3), 'devices_per_s': round(devices / wall, 2),
            'start_s': round(ready_s, 2), 'calls_per_device': round(calls / devices, 2)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='M = 4, K = 1, 2, one repetition')
    parser.add_argument('--instances', type=int, help='M (default 50; 4 with --quick)')
    parser.add_argument('--conductors', help='K values, e.g. 1,2,4')
    parser.add_argument('--reps', type=int, help='repetitions (default 3; 1 with --quick)')
    parser.add_argument('--max-jobs', type=int,
                        help="each conductor's --max-jobs (default: the conductor's)")
    parser.add_argument('--db', choices=('sqlite', 'postgresql'), default='sqlite',
                        help='flow state: one sqlite file shared by the conductors (default) '
                             'or a PostgreSQL server started by the script')
    parser.add_argument('--json', action='store_true', help='one JSON line per run')
    args = parser.parse_args()
    instances = args.instances or (4 if args.quick else 50)
    counts = [int(k) for k in (args.conductors or ('1,2' if args.quick else '1,2,4')).split(',')]
    reps = args.reps or (1 if args.quick else 3)
    if instances < 1 or reps < 1 or min(counts) < 1:
        parser.error('--instances, --reps and every --conductors value must be at least 1')
    samples = {k: [] for k in counts}
    extra = ('--max-jobs', str(args.max_jobs)) if args.max_jobs else ()
    load_before = os.getloadavg()
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        board_url = stack.enter_context(redis_server(tmp))
        new_database = stack.enter_context(postgres_server()) if args.db == 'postgresql' \
            else None
        for rep in range(reps):
            # Interleaved, and rotated per repetition so no K always runs first.
            order = counts[rep % len(counts):] + counts[:rep % len(counts)]
            for k in order:
                row = one_run(tmp, board_url, k, instances, f'rep{rep}-k{k}', extra,
                              new_database)
                row['rep'] = rep
                samples[k].append(row)
                print(json.dumps(row) if args.json else
                      f"rep {rep} K={k}: {row['devices']} devices in {row['wall_s']:.2f} s "
                      f"({row['devices_per_s']:.1f}/s), conductors ready in "
                      f"{row['start_s']:.2f} s", flush=True)
    load_after = os.getloadavg()
    print(f'\nmachine: {platform.machine()}, {os.cpu_count()} cores, python '
          f'{platform.python_version()}; M = {instances} × {DEVICES_PER_INSTANCE} devices; '
          f'flow state in {args.db}; {reps} interleaved repetitions, medians; load average before '
          f'{load_before[0]:.2f} / {load_before[1]:.2f}, after {load_after[0]:.2f} / '
          f'{load_after[1]:.2f} (1 / 5 min); every job SUCCESS, no volume leaked')
    print('\n| conductors (K) | wall, first post → last job done (s) | devices per second '
          '| speedup over K = 1 | conductor start-up (s) | Cinder calls/device |')
    print('|---|---|---|---|---|---|')
    base = statistics.median(r['wall_s'] for r in samples[counts[0]])
    for k in counts:
        wall = statistics.median(r['wall_s'] for r in samples[k])
        rate = statistics.median(r['devices_per_s'] for r in samples[k])
        start = statistics.median(r['start_s'] for r in samples[k])
        calls = statistics.median(r['calls_per_device'] for r in samples[k])
        print(f'| {k} | {wall:.2f} | {rate:.1f} | {base / wall:.2f}× | {start:.2f} | '
              f'{calls:.1f} |')


if __name__ == '__main__':
    main()
