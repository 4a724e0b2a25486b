"""blockflow against a Nova-style sequential baseline, on the same embedded cloud.

Latency model (profile "bench"): volume creation 1.0 s + 0.1 s per GiB, every
API call 20 ms. The baseline does what Nova's _prep_block_device does: one
device after the other, status polled every 3 s (block_device_allocate_retries
_interval), then the attachment calls. blockflow runs its real boot flow
(sqlite persistence, libvirt test:///default). Ratios come from one run.

    .venv/bin/python benchmarks/boot_bench.py --quick      # N = 1, 4, 16
    .venv/bin/python benchmarks/boot_bench.py              # N = 1, 4, 16, 64
"""

import argparse
import contextlib
import json
import platform
import resource
import tempfile
import time
import uuid

from taskflow import engines
from taskflow import task
from taskflow.patterns import unordered_flow

from blockflow import boot as boot_module
from blockflow import clients as clients_module
from blockflow import persistence
from blockflow.cloud.server import EmbeddedCloud

GiB_SIZE = 1
NOVA_POLL_INTERVAL_S = 3.0
CALLS_PER_DEVICE_CHAIN = 8      # create, list, get, attach create/update/complete...


def request(n):
    bdms = [{'source_type': 'blank', 'destination_type': 'volume', 'volume_size': GiB_SIZE,
             'boot_index': 0 if i == 0 else -1} for i in range(n)]
    return {'server': {'name': 'bench', 'flavorRef': '1', 'imageRef': '',
                       'networks': 'none', 'block_device_mapping_v2': bdms}}


def run_blockflow(cloud, n, tmp):
    options = boot_module.BootOptions(
        instance_uuid=str(uuid.uuid4()), cloud_ref=clients_module.embedded_ref(cloud),
        connection=f'sqlite:///{tmp}/bench-{n}.sqlite', instances_path=f'{tmp}/instances')
    cloud.faults.reset_counters()
    started = time.monotonic()
    _plan, outcome, _rows = boot_module.boot(request(n), options)
    wall = time.monotonic() - started
    assert outcome.ok, outcome.failure
    return wall, sum(cloud.counters().values())


def run_baseline(cloud, n):
    """Nova's way: sequential devices, fixed-interval polling."""
    cinder = clients_module.Clients(clients_module.embedded_ref(cloud)).cinder('3.44')
    cloud.faults.reset_counters()
    instance = str(uuid.uuid4())
    started = time.monotonic()
    for _ in range(n):
        volume = cinder.volumes.create(GiB_SIZE, name=f'baseline-{instance}')
        while cinder.volumes.get(volume.id).status != 'available':
            time.sleep(NOVA_POLL_INTERVAL_S)
        attachment = cinder.attachments.create(volume.id, None, instance)
        cinder.attachments.update(attachment['id'], {'host': 'bench', 'platform': 'x86_64'})
        cinder.attachments.complete(attachment['id'])
    return time.monotonic() - started, sum(cloud.counters().values())


class _Noop(task.Task):
    def execute(self):
        return None


def persistence_overhead(tmp, tasks=200):
    """Per-task engine cost: durable sqlite backend vs memory."""
    results = {}
    for label, url in (('memory', 'memory://'), ('sqlite', f'sqlite:///{tmp}/ovh.sqlite')):
        backend = persistence.get_backend(url) if url != 'memory://' else None
        flow = unordered_flow.Flow('overhead')
        flow.add(*[_Noop(name=f'noop-{i}') for i in range(tasks)])
        kwargs = {'backend': backend} if backend else {}
        engine = engines.load(flow, engine='serial', **kwargs)
        started = time.monotonic()
        engine.run()
        results[label] = (time.monotonic() - started) / tasks * 1000
        if backend:
            backend.close()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--json', action='store_true', help='one JSON line per result')
    args = parser.parse_args()
    sizes = [1, 4, 16] if args.quick else [1, 4, 16, 64]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        with contextlib.closing(_CloudCloser(EmbeddedCloud(f'{tmp}/cloud',
                                                           latency_profile='bench'))) as c:
            cloud = c.cloud.start()
            call_s = cloud.faults.latency['call_s']
            create_s = cloud.faults.creation_delay(GiB_SIZE)
            critical = create_s + CALLS_PER_DEVICE_CHAIN * call_s
            for n in sizes:
                bf_wall, bf_calls = run_blockflow(cloud, n, tmp)
                base_wall, base_calls = run_baseline(cloud, n)
                rows.append({'devices': n, 'blockflow_s': round(bf_wall, 2),
                             'baseline_s': round(base_wall, 2),
                             'speedup': round(base_wall / bf_wall, 2),
                             'wall_over_critical_path': round(bf_wall / critical, 2),
                             'blockflow_calls_per_device': round(bf_calls / n, 1),
                             'baseline_calls_per_device': round(base_calls / n, 1)})
                print(json.dumps(rows[-1]) if args.json else rows[-1], flush=True)
        overhead = persistence_overhead(tmp)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(f'machine: {platform.machine()} {platform.processor() or ""} python '
          f'{platform.python_version()}, critical path {critical:.2f} s')
    print('| devices | blockflow (s) | Nova-style baseline (s) | speedup | wall ÷ critical path '
          '| Cinder calls/device (blockflow, baseline) |')
    print('|---|---|---|---|---|---|')
    for row in rows:
        print(f"| {row['devices']} | {row['blockflow_s']} | {row['baseline_s']} | "
              f"{row['speedup']}× | {row['wall_over_critical_path']} | "
              f"{row['blockflow_calls_per_device']}, {row['baseline_calls_per_device']} |")
    print(f"\nengine overhead per task: memory {overhead['memory']:.2f} ms, "
          f"sqlite (durable) {overhead['sqlite']:.2f} ms; peak RSS {peak_rss_mb:.0f} MB")


class _CloudCloser:
    def __init__(self, cloud):
        self.cloud = cloud

    def close(self):
        self.cloud.stop()


if __name__ == '__main__':
    main()
