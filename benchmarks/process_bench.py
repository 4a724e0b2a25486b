"""What the user waits for: ``blockflow boot`` from process start to exit, beside its flow.

For N blank 1 GiB volumes attached through the attachments API, on one
embedded cloud (latency profile "bench", see boot_bench.py), each repetition
runs, interleaved, in this order for every N:

- process: ``python -m blockflow.cli.main boot ... --quiet`` timed from
  spawn to exit (imports, validation, flow, interpreter shutdown);
- flow: the same boot flow's ``engine.run`` alone, in a child process
  (boot_bench.py --child);
- hand-written: one thread per device, as a careful script would do it:
  create, poll GET at blockflow's poll interval, attachment create with the
  connector, complete;
- Nova-style: one device after the other, status polled every 3 s (optional).

Medians over the repetitions, the machine's load average before and after,
and Cinder calls per device (the cloud's own counters): all calls, and the
calls outside status reads (volume list/GET).

With ``--real-cinder`` the same four run against a real Cinder 29
(tools/realcinder, BLOCKFLOW_CINDER_VENV): the process reaches it through a
noauth clouds.yaml entry written here (and a flavor file: no Compute API);
Cinder keeps no call counters, so calls per device are not reported. Every
boot uses flavor m1.tiny (no ephemeral or swap disk), so the flow makes
exactly the volumes the hand-written script makes.

    .venv/bin/python benchmarks/process_bench.py                 # N = 1, 4, 8; 5 repetitions
    .venv/bin/python benchmarks/process_bench.py --nova --reps 3
    BLOCKFLOW_CINDER_VENV=... .venv/bin/python benchmarks/process_bench.py --real-cinder --nova
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

HERE = os.path.dirname(os.path.abspath(__file__))
GiB_SIZE = 1
NOVA_POLL_INTERVAL_S = 3.0
STATUS_READS = ('volume.list', 'volume.get')
REAL_CLOUD = 'realcinder'
# CPU seconds (user + system) of each `blockflow boot` process, by N: unlike
# its wall time, hardly changed by other work on the machine.
PROCESS_CPU = {}


def request(n):
    return {'server': {'name': 'bench', 'flavorRef': '1', 'imageRef': '', 'networks': 'none',
                       'block_device_mapping_v2': [
                           {'source_type': 'blank', 'destination_type': 'volume',
                            'volume_size': GiB_SIZE, 'boot_index': 0 if i == 0 else -1}
                           for i in range(n)]}}


def _calls(cloud, devices):
    if cloud is None:
        return float('nan'), float('nan')
    counters = cloud.counters()
    total = sum(counters.values())
    chain = total - sum(counters.get(op, 0) for op in STATUS_READS)
    return total / devices, chain / devices


def _boot_process(cloud_args, tmp, n, rep, env):
    """``blockflow boot`` as the user runs it, timed from spawn to exit."""
    path = f'{tmp}/req-{n}.json'
    with open(path, 'w') as stream:
        json.dump(request(n), stream)
    started = time.monotonic()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [sys.executable, '-m', 'blockflow.cli.main', 'boot', path, *cloud_args,
         '--connection', f'sqlite:///{tmp}/proc-{n}-{rep}.sqlite',
         '--instances-path', f'{tmp}/instances', '--quiet'],
        capture_output=True, text=True, env=env, check=False)
    wall = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode:
        raise SystemExit(f'blockflow boot failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}')
    PROCESS_CPU.setdefault(n, []).append(cpu_after.ru_utime + cpu_after.ru_stime
                                         - cpu_before.ru_utime - cpu_before.ru_stime)
    return wall


def run_process(cloud, tmp, n, rep):
    env = dict(os.environ, OS_CLIENT_CONFIG_FILE=os.path.join(cloud.state_dir, 'clouds.yaml'),
               XDG_STATE_HOME=f'{tmp}/state')
    cloud.faults.reset_counters()
    wall = _boot_process(['--os-cloud', cloud.cloud_name], tmp, n, rep, env)
    return wall, _calls(cloud, n)


def run_flow(cloud, tmp, n, rep):
    cloud.faults.reset_counters()
    wall = _child_flow_wall(
        [os.path.join(HERE, 'boot_bench.py'), '--child', '--cloud-home', cloud.state_dir,
         '--instances', '1', '--devices', str(n),
         '--connection', f'sqlite:///{tmp}/flow-{n}-{rep}.sqlite',
         '--instances-path', f'{tmp}/instances'])
    return wall, _calls(cloud, n)


def _child_flow_wall(script_args):
    """Run a flow-timing child (its last stdout line is JSON); the flow's wall time."""
    out = subprocess.run([sys.executable, *script_args], capture_output=True, text=True,
                         check=False)
    if out.returncode:
        raise SystemExit(f'flow child failed:\n{out.stderr[-3000:]}')
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result['failures']:
        raise SystemExit(f"boot failed: {result['failures'][:3]}")
    return result['wall']


# The flavor of every boot here: m1.tiny, no ephemeral or swap disk, so the
# flow makes exactly the volumes the hand-written script makes.
FLAVOR_ID = '1'


def flavor_file(tmp):
    from blockflow.clients import cloud_catalog
    path = os.path.join(tmp, 'flavors.json')
    with open(path, 'w') as stream:
        json.dump({FLAVOR_ID: cloud_catalog.BUILTIN_FLAVORS[FLAVOR_ID]}, stream)
    return path


def flow_child(args):
    """The boot flow alone against a cloud given by reference (real Cinder mode)."""
    from blockflow import threads
    threads.use_os_threads()        # as the CLI starts
    from blockflow.runner import boot as boot_module
    from blockflow.clients import cloud_catalog
    from blockflow.runner import engine as engine_module
    from blockflow import persistence

    options = boot_module.BootOptions(
        instance_uuid=str(uuid.uuid4()), cloud_ref=json.loads(args.child_ref),
        flavors={FLAVOR_ID: cloud_catalog.BUILTIN_FLAVORS[FLAVOR_ID]},
        connection=args.connection, instances_path=args.instances_path)
    backend = persistence.get_backend(args.connection)
    engine = boot_module.load(request(args.devices), options, backend)[1]
    started = time.monotonic()
    outcome = engine_module.run(engine)
    wall = time.monotonic() - started
    backend.close()
    print(json.dumps({'wall': wall, 'failures': [] if outcome.ok else [outcome.failure]}))


def run_flow_ref(ref, tmp, n, rep):
    wall = _child_flow_wall(
        [__file__, '--child-ref', json.dumps(ref), '--devices', str(n),
         '--connection', f'sqlite:///{tmp}/rflow-{n}-{rep}.sqlite',
         '--instances-path', f'{tmp}/instances'])
    return wall, (float('nan'), float('nan'))


def noauth_clouds_yaml(real, tmp):
    """A clouds.yaml entry for the real Cinder, as a Keystone-less deployment writes it."""
    import yaml
    path = os.path.join(tmp, 'clouds.yaml')
    with open(path, 'w') as stream:
        yaml.safe_dump({'clouds': {REAL_CLOUD: {
            'auth_type': 'noauth',
            'auth': {'user_id': 'blockflow', 'project_id': real.project_id,
                     'endpoint': f'{real.url}/v3'},
            'image_endpoint_override': real.glance_url}}}, stream)
    return path


def run_process_real(clouds_yaml, flavors, tmp, n, rep):
    wall = _boot_process(
        ['--os-cloud', REAL_CLOUD, '--flavor-file', flavors], tmp, n, rep,
        dict(os.environ, OS_CLIENT_CONFIG_FILE=clouds_yaml, XDG_STATE_HOME=f'{tmp}/state'))
    return wall, (float('nan'), float('nan'))


def real_cinder_main(args, sizes):
    """process, flow, hand-written and Nova-style against a real Cinder (tools/realcinder).
    No Cinder counters there: calls per device are not reported."""
    sys.path.insert(0, os.path.dirname(HERE))
    from tests.fixtures import realcinder

    from blockflow import conf
    from blockflow.clients.hypervisor import connectors

    kinds = ['process', 'flow', 'hand'] + (['nova'] if args.nova else [])
    samples = {(kind, n): [] for kind in kinds for n in sizes}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        real = realcinder.start_real_cinder(tmp)
        try:
            cinder = real.cinder_client('3.44')
            clouds_yaml = noauth_clouds_yaml(real, tmp)
            flavors = flavor_file(tmp)
            connector = dict(connectors.connector_properties(), mountpoint='/dev/vdb')
            poll_s = conf.CONF.cinder.volume_poll_interval
            for rep in range(args.reps):
                for n in sizes:
                    runs = {'process': lambda: run_process_real(clouds_yaml, flavors, tmp, n, rep),
                            'flow': lambda: run_flow_ref(real.ref, tmp, n, rep),
                            'hand': lambda: run_hand(None, cinder, connector, n, poll_s),
                            'nova': lambda: run_nova(None, cinder, connector, n)}
                    for kind in kinds:
                        wall, _calls_unknown = runs[kind]()
                        samples[(kind, n)].append(wall)
                        if args.json:
                            print(json.dumps({'rep': rep, 'kind': kind, 'devices': n,
                                              'wall_s': round(wall, 3)}), flush=True)
        finally:
            real.stop()
            real.glance_cloud.stop()
    load_after = os.getloadavg()
    print(f'\nreal Cinder (tools/realcinder), noauth clouds.yaml; '
          f'{_machine(args.reps, load_before, load_after)}')
    _table(kinds, sizes, samples, calls=None)


def _machine(reps, load_before, load_after):
    return (f'{platform.machine()}, {os.cpu_count()} cores, python '
            f'{platform.python_version()}; {reps} interleaved repetitions, medians; '
            f'load average before {load_before[0]:.2f} / {load_before[1]:.2f}, '
            f'after {load_after[0]:.2f} / {load_after[1]:.2f} (1 / 5 min)')


def _table(kinds, sizes, samples, calls):
    header = ' | '.join(f'{kind} (s)' for kind in kinds)
    calls_header = (f' Cinder calls/device all (outside status reads): {", ".join(kinds)} |'
                    if calls else '')
    print(f'\n| N | {header} | process CPU (s) | process − flow (s) | process ÷ hand '
          f'| flow ÷ hand |{calls_header}')
    print('|---' * (len(kinds) + 5 + bool(calls)) + '|')
    for n in sizes:
        med = {kind: statistics.median(samples[(kind, n)]) for kind in kinds}
        walls = ' | '.join(f'{med[kind]:.2f}' for kind in kinds)
        cpu = statistics.median(PROCESS_CPU[n]) if PROCESS_CPU.get(n) else float('nan')
        row = (f"| {n} | {walls} | {cpu:.2f} | {med['process'] - med['flow']:.2f} | "
               f"{med['process'] / med['hand']:.2f} | {med['flow'] / med['hand']:.2f} |")
        if calls:
            row += ' ' + ', '.join(f'{calls[(kind, n)][0]:.1f} ({calls[(kind, n)][1]:.1f})'
                                   for kind in kinds) + ' |'
        print(row)


def _hand_device(cinder, connector, instance, poll_s):
    volume = cinder.volumes.create(GiB_SIZE, name=f'hand-{instance}')
    while cinder.volumes.get(volume.id).status != 'available':
        time.sleep(poll_s)
    attachment = cinder.attachments.create(volume.id, connector, instance)
    cinder.attachments.complete(attachment['id'])


def run_hand(cloud, cinder, connector, n, poll_s):
    instance = str(uuid.uuid4())
    if cloud is not None:
        cloud.faults.reset_counters()
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        for future in [pool.submit(_hand_device, cinder, connector, instance, poll_s)
                       for _ in range(n)]:
            future.result()
    return time.monotonic() - started, _calls(cloud, n)


def _nova_device(cinder, connector, instance):
    volume = cinder.volumes.create(GiB_SIZE, name=f'nova-{instance}')
    while cinder.volumes.get(volume.id).status != 'available':
        time.sleep(NOVA_POLL_INTERVAL_S)
    attachment = cinder.attachments.create(volume.id, None, instance)
    cinder.attachments.update(attachment['id'], connector)
    cinder.attachments.complete(attachment['id'])


def run_nova(cloud, cinder, connector, n):
    instance = str(uuid.uuid4())
    if cloud is not None:
        cloud.faults.reset_counters()
    started = time.monotonic()
    for _ in range(n):
        _nova_device(cinder, connector, instance)
    return time.monotonic() - started, _calls(cloud, n)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', default='1,4,8', help='devices per boot, e.g. 1,4,8')
    parser.add_argument('--reps', type=int, default=5)
    parser.add_argument('--nova', action='store_true', help='also the Nova-style baseline')
    parser.add_argument('--json', action='store_true')
    parser.add_argument('--real-cinder', action='store_true',
                        help='flow, hand-written (and Nova-style) on a real Cinder '
                             '(BLOCKFLOW_CINDER_VENV, tools/realcinder)')
    parser.add_argument('--child-ref', help=argparse.SUPPRESS)
    parser.add_argument('--devices', type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument('--connection', help=argparse.SUPPRESS)
    parser.add_argument('--instances-path', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_ref:
        return flow_child(args)
    sizes = [int(n) for n in args.sizes.split(',')]
    if args.real_cinder:
        return real_cinder_main(args, sizes)

    from blockflow.clients import openstack as clients_module
    from blockflow import conf
    from blockflow.cloud.server import EmbeddedCloud
    from blockflow.clients.hypervisor import connectors

    kinds = ['process', 'flow', 'hand'] + (['nova'] if args.nova else [])
    samples = {(kind, n): [] for kind in kinds for n in sizes}
    calls = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        cloud = EmbeddedCloud(f'{tmp}/cloud', latency_profile='bench').start()
        try:
            cinder = clients_module.Clients(clients_module.embedded_ref(cloud)).cinder('3.44')
            connector = dict(connectors.connector_properties(), mountpoint='/dev/vdb')
            poll_s = conf.CONF.cinder.volume_poll_interval
            for rep in range(args.reps):
                for n in sizes:
                    runs = {'process': lambda: run_process(cloud, tmp, n, rep),
                            'flow': lambda: run_flow(cloud, tmp, n, rep),
                            'hand': lambda: run_hand(cloud, cinder, connector, n, poll_s),
                            'nova': lambda: run_nova(cloud, cinder, connector, n)}
                    for kind in kinds:
                        wall, per_device = runs[kind]()
                        samples[(kind, n)].append(wall)
                        calls[(kind, n)] = per_device
                        if args.json:
                            print(json.dumps({'rep': rep, 'kind': kind, 'devices': n,
                                              'wall_s': round(wall, 3),
                                              'calls_per_device': per_device}), flush=True)
        finally:
            cloud.stop()
    load_after = os.getloadavg()
    print(f'\nembedded cloud, latency profile bench; '
          f'{_machine(args.reps, load_before, load_after)}')
    _table(kinds, sizes, samples, calls)


if __name__ == '__main__':
    main()
