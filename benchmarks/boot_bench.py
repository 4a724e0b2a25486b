"""blockflow against a Nova-style sequential baseline, on the same embedded cloud.

Latency model (cloud profile "bench"): volume creation 1.0 s + 0.1 s per GiB,
every API call 20 ms, connection export (attachment update /
initialize_connection) 100 ms more. The baseline does what Nova does: inside
an instance one device after the other, volume status polled every 3 s
(block_device_allocate_retries_interval); instances built concurrently up to
Nova's max_concurrent_builds (10). blockflow runs its real boot flow (durable
sqlite persistence, libvirt test:///default) in a child process, so its peak
RSS is its own; the cloud runs in this process and logs every status change,
which gives the poll lag. Ratios come from one run.

    .venv/bin/python benchmarks/boot_bench.py --quick   # N = 1, 4, 16; M = 1, 10
    .venv/bin/python benchmarks/boot_bench.py           # N up to 256; M up to 50
    BLOCKFLOW_BENCH_PROFILE=/tmp/prof .venv/bin/python benchmarks/boot_bench.py \
        --sizes 256 --fleets 1 --no-baseline             # + py-spy profile of the child
"""

import argparse
import concurrent.futures
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

GiB_SIZE = 1
NOVA_POLL_INTERVAL_S = 3.0
NOVA_MAX_CONCURRENT_BUILDS = 10
DEVICES_PER_INSTANCE = 4
# The baseline is sequential by construction: above this many devices it is
# timed on BASELINE_SAMPLE devices and scaled (marked "extrapolated").
BASELINE_MAX_MEASURED = 64
BASELINE_SAMPLE = 16
# One device's chain outside the wait: create, attachment create (with the
# connector: + export), complete; the wait ends with one list after availability.
CHAIN_CALLS = 4
STATUS_READ_OPS = ('volume.list', 'volume.get')


def request(n):
    bdms = [{'source_type': 'blank', 'destination_type': 'volume', 'volume_size': GiB_SIZE,
             'boot_index': 0 if i == 0 else -1} for i in range(n)]
    return {'server': {'name': 'bench', 'flavorRef': '1', 'imageRef': '',
                       'networks': 'none', 'block_device_mapping_v2': bdms}}


# --- child: blockflow boots, in their own process ------------------------------
def child_main(args):
    from blockflow import threads
    threads.use_os_threads()        # as the CLI starts
    from blockflow.request import atom_names
    from blockflow.runner import boot as boot_module
    from blockflow.runner import engine as engine_module
    from blockflow.request import kinds
    from blockflow import persistence
    from blockflow.persistence import records

    wait_done = {}      # atom name -> wall time its WaitForVolume succeeded

    def notifier(state, details):
        if state == 'SUCCESS' and details.get('task_name', '').endswith(kinds.WAIT_VOLUME):
            wait_done[details['task_name']] = time.time()

    backend = persistence.get_backend(args.connection)
    from blockflow.clients import cloudconfig
    cloud_ref = cloudconfig.embedded_ref(args.cloud_home, 'embedded')
    options = [boot_module.BootOptions(instance_uuid=str(uuid.uuid4()), cloud_ref=cloud_ref,
                                       connection=args.connection,
                                       instances_path=args.instances_path)
               for _ in range(args.instances)]
    engines_ = [boot_module.load(request(args.devices), o, backend, notifier)[1]
                for o in options]
    engine_cpu = []     # CPU seconds of each engine's own thread (engine + persistence)

    def run_timed(engine):
        cpu_started = time.thread_time()
        try:
            return engine_module.run(engine)
        finally:
            engine_cpu.append(time.thread_time() - cpu_started)

    started = time.monotonic()
    process_cpu_started = time.process_time()
    with concurrent.futures.ThreadPoolExecutor(len(engines_)) as pool:
        outcomes = list(pool.map(run_timed, engines_))
    wall = time.monotonic() - started
    process_cpu = time.process_time() - process_cpu_started
    backend.close()
    failures = [o.failure for o in outcomes if not o.ok]
    rows = records.Records(persistence.resolve_url(args.connection))
    volume_waits = {}
    for o in options:
        for row in rows.for_instance(o.instance_uuid):
            atom = atom_names.atom_name(o.instance_uuid, atom_names.device_key(row), kinds.WAIT_VOLUME)
            if row.get('volume_id') and atom in wait_done:
                volume_waits[row['volume_id']] = wait_done[atom]
    atoms = sum(len(o.atoms) for o in outcomes)
    print(json.dumps({'wall': wall, 'failures': failures, 'wait_done': volume_waits,
                      'atoms': atoms, 'engine_cpu': sum(engine_cpu), 'process_cpu': process_cpu,
                      'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_blockflow(cloud, tmp, instances, devices):
    tag = f'{instances}x{devices}'
    cloud.faults.reset_counters()
    log_start = len(cloud.store.status_log)
    profile = os.environ.get('BLOCKFLOW_BENCH_PROFILE')
    # BLOCKFLOW_BENCH_PROFILE=<prefix>: py-spy's collapsed stacks of the child
    # alone (CPU only: threads holding the GIL), one file per row.
    py_spy = os.path.join(os.path.dirname(sys.executable), 'py-spy')
    wrap = ([py_spy, 'record', '-r', '100', '--gil', '--format', 'raw',
             '-o', f'{profile}-{tag}.txt', '--'] if profile else [])
    out = subprocess.run(
        wrap + [sys.executable, __file__, '--child', '--cloud-home', cloud.state_dir,
         '--instances', str(instances), '--devices', str(devices),
         '--connection', f'sqlite:///{tmp}/bench-{tag}.sqlite',
         '--instances-path', f'{tmp}/instances-{tag}'],
        capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f'blockflow child failed:\n{out.stderr[-3000:]}')
    result = json.loads([line for line in out.stdout.splitlines() if line.startswith('{')][-1])
    if result['failures']:
        raise SystemExit(f"boot failed: {result['failures'][:3]}")
    counters = cloud.counters()
    available_at = {ident: t for t, kind, ident, status in
                    list(cloud.store.status_log)[log_start:]
                    if kind == 'volumes' and status == 'available'}
    lags = [result['wait_done'][v] - available_at[v] for v in result['wait_done']
            if v in available_at]
    result['poll_lag_ms'] = sorted(1000 * lag for lag in lags)
    result['calls'] = sum(counters.values())
    result['status_reads'] = sum(counters.get(op, 0) for op in STATUS_READ_OPS)
    # A clean boot lists only to poll (no look-up by identity before a first create).
    result['poll_lists'] = counters.get('volume.list', 0)
    return result


# --- the Nova-style baseline ---------------------------------------------------
def _nova_instance(cinder, devices):
    instance = str(uuid.uuid4())
    for _ in range(devices):
        volume = cinder.volumes.create(GiB_SIZE, name=f'baseline-{instance}')
        while cinder.volumes.get(volume.id).status != 'available':
            time.sleep(NOVA_POLL_INTERVAL_S)
        attachment = cinder.attachments.create(volume.id, None, instance)
        cinder.attachments.update(attachment['id'], {'host': 'bench', 'platform': 'x86_64'})
        cinder.attachments.complete(attachment['id'])


def run_baseline(cloud, instances, devices):
    from blockflow.clients import openstack as clients_module
    cinder = clients_module.Clients(clients_module.embedded_ref(cloud)).cinder('3.44')
    cloud.faults.reset_counters()
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(NOVA_MAX_CONCURRENT_BUILDS) as pool:
        for future in [pool.submit(_nova_instance, cinder, devices) for _ in range(instances)]:
            future.result()
    return time.monotonic() - started, sum(cloud.counters().values())


# --- report ----------------------------------------------------------------------
def _percentile(values, fraction):
    if not values:
        return float('nan')
    return values[min(len(values) - 1, int(round(fraction * (len(values) - 1))))]


def measure(cloud, tmp, instances, devices, critical, poll_interval, baseline=True):
    total = instances * devices
    bf = run_blockflow(cloud, tmp, instances, devices)
    if not baseline:
        base_wall, base_calls, extrapolated = float('nan'), float('nan'), False
    elif instances == 1 and devices > BASELINE_MAX_MEASURED:
        sample_wall, sample_calls = run_baseline(cloud, 1, BASELINE_SAMPLE)
        base_wall = sample_wall * devices / BASELINE_SAMPLE
        base_calls = sample_calls * devices / BASELINE_SAMPLE
        extrapolated = True
    else:
        base_wall, base_calls = run_baseline(cloud, instances, devices)
        extrapolated = False
    lags = bf['poll_lag_ms']
    return {
        'instances': instances, 'devices': devices,
        'blockflow_s': round(bf['wall'], 2), 'baseline_s': round(base_wall, 1),
        'baseline_extrapolated': extrapolated,
        'speedup': round(base_wall / bf['wall'], 1),
        'wall_over_critical_path': round(bf['wall'] / critical, 2),
        'poll_lag_median_ms': round(statistics.median(lags), 1) if lags else None,
        'poll_lag_p95_ms': round(_percentile(lags, 0.95), 1) if lags else None,
        'calls_per_device': round(bf['calls'] / total, 1),
        'baseline_calls_per_device': round(base_calls / total, 1),
        'poll_lists_per_interval': round(bf['poll_lists'] / (bf['wall'] / poll_interval), 2),
        'volume_gets_per_device': round((bf['status_reads'] - bf['poll_lists']) / total, 2),
        'peak_rss_mb': round(bf['peak_rss_mb']),
        'ms_per_task': round(1000 * bf['wall'] / bf['atoms'], 2),
        # CPU of the engines' own threads (scheduling, notifications, state
        # writes) per atom; and of the whole process (tasks, HTTP, poller too).
        'engine_cpu_ms_per_atom': round(1000 * bf['engine_cpu'] / bf['atoms'], 2),
        'process_cpu_ms_per_atom': round(1000 * bf['process_cpu'] / bf['atoms'], 2),
    }


def persistence_overhead(tmp, tasks=300):
    """Per-task engine cost of the same flow of no-op tasks: TaskFlow's serial
    engine on memory and on the durable sqlite default, and the parallel engine
    as boots run it (sqlite, group-committed, blockflow.runner.engine's pool)."""
    from taskflow import engines
    from taskflow import task
    from taskflow.patterns import unordered_flow

    from blockflow.runner import engine as engine_module
    from blockflow import persistence
    from blockflow.persistence import group_commit

    class Noop(task.Task):
        def execute(self):
            return None

    results = {}
    for label, url, grouped in (('memory', 'memory://', False),
                                ('sqlite', f'sqlite:///{tmp}/ovh.sqlite', False),
                                ('sqlite_grouped', f'sqlite:///{tmp}/ovh-grouped.sqlite', True)):
        backend = persistence.get_backend(url)
        flow = unordered_flow.Flow('overhead').add(*[Noop(name=f'noop-{i}')
                                                     for i in range(tasks)])
        if grouped:
            engine = engines.load(flow, engine='parallel', backend=backend, executor=(
                group_commit.executor_for(backend, engine_module.executor())))
        else:
            engine = engines.load(flow, engine='serial', backend=backend)
        started = time.monotonic()
        group_commit.run(engine)
        results[label] = (time.monotonic() - started) / tasks * 1000
        backend.close()
    return results


def print_tables(rows, overhead, critical, create_s, poll_interval):
    print(f'\nmachine: {platform.machine()}, {os.cpu_count()} cores, python '
          f'{platform.python_version()}; critical path {critical:.2f} s '
          f'(creation {create_s:.2f} s)')
    print('\n| instances × devices | blockflow (s) | Nova-style baseline (s) | speedup '
          '| wall ÷ critical path | poll lag median / p95 (ms) | Cinder calls/device '
          f'(blockflow, baseline) | poll lists per {poll_interval * 1000:.0f} ms | peak RSS (MB) '
          '| engine / process CPU per atom (ms) |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        base = f"{r['baseline_s']}" + (' (extrapolated)' if r['baseline_extrapolated'] else '')
        print(f"| {r['instances']} × {r['devices']} | {r['blockflow_s']} | {base} | "
              f"{r['speedup']}× | {r['wall_over_critical_path']} | "
              f"{r['poll_lag_median_ms']} / {r['poll_lag_p95_ms']} | "
              f"{r['calls_per_device']}, {r['baseline_calls_per_device']} | "
              f"{r['poll_lists_per_interval']} | {r['peak_rss_mb']} | "
              f"{r['engine_cpu_ms_per_atom']} / {r['process_cpu_ms_per_atom']} |")
    print(f"\nengine overhead per task: memory {overhead['memory']:.2f} ms, "
          f"sqlite (durable) {overhead['sqlite']:.2f} ms, parallel engine on sqlite, "
          f"group-committed {overhead['sqlite_grouped']:.2f} ms")
    print(f'load average after the run: {os.getloadavg()}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--json', action='store_true', help='one JSON line per result')
    parser.add_argument('--sizes', help='devices per instance to run, e.g. 64,256')
    parser.add_argument('--fleets', help='instance counts (4 devices each) to run, e.g. 10,50')
    parser.add_argument('--no-baseline', action='store_true',
                        help='blockflow only (for profiling; no ratios)')
    parser.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--cloud-home', help=argparse.SUPPRESS)
    parser.add_argument('--instances', type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument('--devices', type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument('--connection', help=argparse.SUPPRESS)
    parser.add_argument('--instances-path', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_main(args)

    from blockflow.cloud.server import EmbeddedCloud
    from blockflow.clients import volume_poller

    sizes = [1, 4, 16] if args.quick else [1, 4, 16, 64, 256]
    fleets = [1, 10] if args.quick else [1, 10, 50]
    if args.sizes:
        sizes = [int(n) for n in args.sizes.split(',')]
    if args.fleets:
        fleets = [int(m) for m in args.fleets.split(',')]
    rows = []
    print(f'load average at start: {os.getloadavg()}', flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        cloud = EmbeddedCloud(f'{tmp}/cloud', latency_profile='bench').start()
        try:
            latency = cloud.faults.latency
            create_s = cloud.faults.creation_delay(GiB_SIZE)
            critical = create_s + CHAIN_CALLS * latency['call_s'] + latency['attach_s']
            plan = [(1, n) for n in sizes] + [(m, DEVICES_PER_INSTANCE) for m in fleets
                                              if m > 1]
            for instances, devices in plan:
                row = measure(cloud, tmp, instances, devices, critical,
                              volume_poller.POLL_INTERVAL_S, baseline=not args.no_baseline)
                rows.append(row)
                print(json.dumps(row) if args.json else row, flush=True)
        finally:
            cloud.stop()
        overhead = persistence_overhead(tmp)
    print_tables(rows, overhead, critical, create_s, volume_poller.POLL_INTERVAL_S)


if __name__ == '__main__':
    main()
