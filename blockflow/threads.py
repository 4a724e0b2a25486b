"""blockflow runs OS threads, never green threads: keep eventlet out of its processes.

TaskFlow, futurist, oslo.utils, oslo.log and oslo.privsep each try to import
eventlet only to find out whether green threads are in use; the import alone
costs a quarter to a third of a second at every start. All of them support a
host without eventlet (an ``ImportError`` there is their documented "not
installed" path), and oslo.service, which os-brick's connectors use, has a
threading backend (cotyledon) for exactly that case. ``use_os_threads()``
selects that backend and makes eventlet unimportable in this process; it does
nothing when eventlet is already in use or the threading backend is missing.
"""

import importlib.util
import sys

THREADING_BACKEND_NEEDS = 'cotyledon'


def eventlet_blocked():
    return 'eventlet' in sys.modules and sys.modules['eventlet'] is None


def use_os_threads():
    """Call at process start, before TaskFlow is imported; True if it took effect."""
    if eventlet_blocked():
        return True
    if 'eventlet' in sys.modules or importlib.util.find_spec(THREADING_BACKEND_NEEDS) is None:
        return False
    from oslo_service import backend
    try:
        # Only a default: a program that chose a backend itself keeps it.
        backend.register_backend_default_hook(lambda: backend.BackendType.THREADING)
    except Exception:
        return False
    # A None entry makes ``import eventlet`` raise ModuleNotFoundError.
    sys.modules['eventlet'] = None
    return True
