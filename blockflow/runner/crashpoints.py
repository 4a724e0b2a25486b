"""Named points where the process can be made to die, for crash-safety tests.

``BLOCKFLOW_CRASH_AT=<where>:<atom name suffix>`` makes the process
``os._exit(CRASH_EXIT_CODE)`` at that point, as a kill -9 or an OOM would:

- ``before:<atom>``  — as the atom starts, before any side effect;
- ``inside:<atom>``  — after the atom's side effect, before its result is saved;
- ``after:<atom>``   — after its result is saved;
- ``revert:<atom>``  — inside the atom's revert, after its undo;
- ``save:claimed``   — saving a new flow: its claim written, the flow not yet;
- ``save:saved``     — saving a new flow: flow and factory details written,
  no atom yet (the engine writes the atoms as it starts).

The atom part may hold shell wildcards (``inside:*-create-volume``). With
``BLOCKFLOW_CRASH_ONCE_FILE`` set, each matching atom crashes the process
only once: its name is appended to that file before dying, so running the
same command again dies at the next matching atom — one crash per device.
"""

import fnmatch
import os
import threading

ENV = 'BLOCKFLOW_CRASH_AT'
ONCE_ENV = 'BLOCKFLOW_CRASH_ONCE_FILE'
CRASH_EXIT_CODE = 97
WHERE = ('before', 'inside', 'after', 'revert', 'save')
# Held from the decision to die until the process is gone: parallel devices
# reaching the point together must not both record a crash.
_DYING = threading.Lock()


def _armed():
    spec = os.environ.get(ENV, '')
    where, _sep, suffix = spec.partition(':')
    return (where, suffix) if where in WHERE and suffix else (None, None)


def _already_crashed(once_file, atom_name):
    try:
        with open(once_file, encoding='utf-8') as stream:
            return atom_name in stream.read().splitlines()
    except FileNotFoundError:
        return False


def maybe_crash(where, atom_name):
    armed_where, pattern = _armed()
    if armed_where != where or not fnmatch.fnmatchcase(atom_name, '*' + pattern):
        return
    once_file = os.environ.get(ONCE_ENV)
    with _DYING:
        if once_file:
            if _already_crashed(once_file, atom_name):
                return
            with open(once_file, 'a', encoding='utf-8') as stream:
                stream.write(atom_name + '\n')
                stream.flush()
                os.fsync(stream.fileno())
        os._exit(CRASH_EXIT_CODE)


def crash_after_saved(state, details):
    """Atom-notifier callback: SUCCESS is announced once the result is stored."""
    if state == 'SUCCESS':
        maybe_crash('after', details.get('task_name') or '')
