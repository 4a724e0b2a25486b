"""The /admin endpoints of the embedded cloud: fault specs, checked before
anything of them applies, and their handlers (a mixin of ``app.CloudApp``)."""

import json
import math

from blockflow.cloud import faults as cloud_faults
from blockflow.cloud.http import json_response as _json
from blockflow.cloud.volumes import CinderError
from blockflow.cloud.volumes import policy_denied

LATENCY_KEYS = frozenset(cloud_faults.DEFAULT_PROFILE) | frozenset(
    key for profile in cloud_faults.PROFILES.values() for key in profile)
MAX_LATENCY_S = 600.0
SPEC_KEYS = frozenset({'latency', 'fail', 'volumes_end_in_error', 'volumes_stuck_creating',
                       'clear'})
RULE_KEYS = frozenset({'op', 'nth', 'status', 'drop', 'times'})


def _bad(message):
    return CinderError(400, f'faults: {message}')


def _count(rule, key, default):
    value = rule.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise _bad(f'fail[].{key} must be an integer from 1 to 1000000')
    return value


def _rule(rule):
    if not isinstance(rule, dict):
        raise _bad('each fail rule must be an object')
    unknown = sorted(set(rule) - RULE_KEYS)
    if unknown:
        raise _bad(f"unknown fail rule key(s): {', '.join(unknown)}")
    op = rule.get('op')
    if not isinstance(op, str) or not op or len(op) > 128:
        raise _bad('fail[].op must be a non-empty operation name')
    status = rule.get('status', 500)
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise _bad('fail[].status must be an HTTP error status from 400 to 599')
    drop = rule.get('drop', False)
    if not isinstance(drop, bool):
        raise _bad('fail[].drop must be true or false')
    return {'op': op, 'nth': _count(rule, 'nth', 1), 'status': status, 'drop': drop,
            'times': _count(rule, 'times', 1)}


def _names(spec, key):
    names = spec.get(key, [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _bad(f'{key} must be a list of volume names')
    return names


def checked_spec(spec):
    """A valid /admin/faults body, normalised; a 400 naming the first bad field."""
    if not isinstance(spec, dict):
        raise _bad('a JSON object is required')
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise _bad(f"unknown key(s): {', '.join(unknown)}")
    latency = spec.get('latency', {})
    if not isinstance(latency, dict):
        raise _bad('latency must be an object of seconds')
    for key, value in latency.items():
        if key not in LATENCY_KEYS:
            raise _bad(f"unknown latency {key!r}; known: {', '.join(sorted(LATENCY_KEYS))}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value) or not 0 <= value <= MAX_LATENCY_S:
            raise _bad(f'latency {key} must be a number of seconds from 0 to '
                       f'{MAX_LATENCY_S:g}')
    rules = spec.get('fail', [])
    if not isinstance(rules, list):
        raise _bad('fail must be a list of rules')
    clear = spec.get('clear', False)
    if not isinstance(clear, bool):
        raise _bad('clear must be true or false')
    return {'latency': dict(latency), 'fail': [_rule(r) for r in rules],
            'volumes_end_in_error': _names(spec, 'volumes_end_in_error'),
            'volumes_stuck_creating': _names(spec, 'volumes_stuck_creating'),
            'clear': clear}


def apply(faults, spec, initial_latency):
    """Apply a checked spec: ``clear`` first (rules, volume lists and latency back to
    the cloud's start profile), then what else the spec sets."""
    if spec['clear']:
        faults.clear()
        faults.set_latency(**initial_latency)
    if spec['latency']:
        faults.set_latency(**spec['latency'])
    for rule in spec['fail']:
        faults.fail(rule['op'], rule['nth'], rule['status'], rule['drop'], rule['times'])
    faults.volumes_end_in_error.update(spec['volumes_end_in_error'])
    faults.volumes_stuck_creating.update(spec['volumes_stuck_creating'])


class AdminHandlers:
    def _admin_call(self, request):
        """/admin needs an admin token, and a JSON body for what changes state."""
        context = self.identity.context(request.headers)
        if not context.is_admin:
            raise policy_denied('blockflow:admin')
        if request.method not in ('GET', 'HEAD', 'POST', 'DELETE'):
            raise CinderError(405, 'Method not allowed')
        if request.method == 'POST' and request.content_type != 'application/json':
            raise CinderError(415, 'The /admin endpoints take application/json bodies.')

    def admin_faults(self, request, request_id):
        self._admin_call(request)
        if request.method == 'POST':
            spec = checked_spec(self._body(request))
            apply(self.cloud.faults, spec, self.initial_latency)
        return _json(200, json.loads(json.dumps(self.cloud.faults.to_dict())), request_id)

    def admin_counters(self, request, request_id):
        self._admin_call(request)
        if request.method == 'DELETE':
            self.cloud.faults.reset_counters()
        return _json(200, self.cloud.faults.counters(), request_id)
