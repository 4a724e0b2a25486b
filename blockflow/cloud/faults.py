"""Fault and latency injection, and per-operation call counters.

Tests, the CLI (``--latency-profile``) and the ``/admin`` endpoint all drive the
same ``Faults`` object.
"""

import collections
import json
import threading
import time

PROFILES = {
    'none': {},
    'fast': {'create_base_s': 0.05, 'create_per_gib_s': 0.0},
    # The model of benchmarks/boot_bench.py: creation 1 s + 0.1 s/GiB,
    # 20 ms per API call, attach 100 ms.
    'bench': {'create_base_s': 1.0, 'create_per_gib_s': 0.1, 'call_s': 0.02,
              'attach_s': 0.1},
}
# Where a backend exports the volume to the host: the calls the model's attach latency applies to.
CONNECT_OPS = frozenset({'attachment.update', 'volume.action.os-initialize_connection'})
DEFAULT_PROFILE = {'create_base_s': 0.1, 'create_per_gib_s': 0.0, 'call_s': 0.0,
                   'attach_s': 0.0, 'delete_s': 0.0}


class InjectedFault(Exception):
    def __init__(self, status, message, drop=False):
        super().__init__(message)
        self.status = status
        self.message = message
        self.drop = drop


def load_profile(name_or_path):
    if not name_or_path:
        return dict(DEFAULT_PROFILE)
    if name_or_path in PROFILES:
        return dict(DEFAULT_PROFILE, **PROFILES[name_or_path])
    with open(name_or_path, encoding='utf-8') as stream:
        return dict(DEFAULT_PROFILE, **json.load(stream))


class Faults:
    def __init__(self, profile=None):
        self._lock = threading.Lock()
        self.latency = load_profile(profile) if not isinstance(profile, dict) \
            else dict(DEFAULT_PROFILE, **profile)
        self._counters = collections.Counter()
        self._rules = []              # {'op', 'nth', 'status', 'drop', 'seen'}
        self.volumes_end_in_error = set()   # volume names
        self.volumes_stuck_creating = set()

    def set_latency(self, **values):
        with self._lock:
            self.latency.update(values)

    def fail(self, op, nth=1, status=500, drop=False, times=1):
        """Fail the nth call (counted from now) of ``op`` with ``status``."""
        with self._lock:
            self._rules.append({'op': op, 'nth': nth, 'status': status,
                                'drop': drop, 'seen': 0, 'times': times})

    def clear(self):
        with self._lock:
            self._rules.clear()
            self.volumes_end_in_error.clear()
            self.volumes_stuck_creating.clear()

    def counters(self):
        with self._lock:
            return dict(self._counters)

    def reset_counters(self):
        with self._lock:
            self._counters.clear()

    def on_call(self, op):
        """Count the call, sleep its latency, raise an injected fault if due."""
        with self._lock:
            self._counters[op] += 1
            delay = self.latency.get('call_s', 0.0)
            if op in CONNECT_OPS:
                delay += self.latency.get('attach_s', 0.0)
            fault = None
            for rule in self._rules:
                if rule['op'] == op and rule['times'] > 0:
                    rule['seen'] += 1
                    if rule['seen'] >= rule['nth']:
                        rule['times'] -= 1
                        fault = rule
                        break
        if delay:
            time.sleep(delay)
        if fault:
            raise InjectedFault(fault['status'], f'injected fault in {op}',
                                drop=fault['drop'])

    def creation_delay(self, size_gb):
        return (self.latency.get('create_base_s', 0.0)
                + self.latency.get('create_per_gib_s', 0.0) * size_gb)

    def to_dict(self):
        with self._lock:
            return {'latency': dict(self.latency),
                    'rules': [dict(r) for r in self._rules],
                    'volumes_end_in_error': sorted(self.volumes_end_in_error),
                    'volumes_stuck_creating': sorted(self.volumes_stuck_creating)}

    def apply(self, spec):
        """Apply an /admin/faults JSON body."""
        if 'latency' in spec:
            self.set_latency(**spec['latency'])
        for rule in spec.get('fail', []):
            self.fail(rule['op'], rule.get('nth', 1), rule.get('status', 500),
                      rule.get('drop', False), rule.get('times', 1))
        self.volumes_end_in_error.update(spec.get('volumes_end_in_error', []))
        self.volumes_stuck_creating.update(spec.get('volumes_stuck_creating', []))
        if spec.get('clear'):
            self.clear()
