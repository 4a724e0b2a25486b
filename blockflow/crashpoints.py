"""Named points where the process can be made to die, for crash-safety tests.

``BLOCKFLOW_CRASH_AT=<where>:<atom name suffix>`` makes the process
``os._exit(CRASH_EXIT_CODE)`` at that point, as a kill -9 or an OOM would:

- ``before:<atom>``  — as the atom starts, before any side effect;
- ``inside:<atom>``  — after the atom's side effect, before its result is saved;
- ``after:<atom>``   — after its result is saved;
- ``revert:<atom>``  — inside the atom's revert, after its undo.
"""

import os

ENV = 'BLOCKFLOW_CRASH_AT'
CRASH_EXIT_CODE = 97
WHERE = ('before', 'inside', 'after', 'revert')


def _armed():
    spec = os.environ.get(ENV, '')
    where, _sep, suffix = spec.partition(':')
    return (where, suffix) if where in WHERE and suffix else (None, None)


def maybe_crash(where, atom_name):
    armed_where, suffix = _armed()
    if armed_where == where and atom_name.endswith(suffix):
        os._exit(CRASH_EXIT_CODE)


def crash_after_saved(state, details):
    """Atom-notifier callback: SUCCESS is announced once the result is stored."""
    if state == 'SUCCESS':
        maybe_crash('after', details.get('task_name') or '')
