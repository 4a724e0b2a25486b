"""Leave a finished command's process without the interpreter's teardown.

A command has flushed, closed and released everything when it returns
(flows' state per transaction, claims released, pools shut down by their
exit handlers); what the interpreter still does then is to tear down the
thousands of modules a boot imports, a tenth of a second of every command.
``leave`` runs the exit handlers, flushes the standard streams and ends the
process with ``os._exit``; when a non-daemon thread is still working it lets
the interpreter exit as usual instead, which waits for that thread.
"""

import atexit
import logging
import os
import sys
import threading


def _others_working():
    main = threading.main_thread()
    return [t for t in threading.enumerate()
            if t is not main and t.is_alive() and not t.daemon]


def leave(code):
    code = 0 if code is None else code
    # Private CPython name (3.11; tests/test_private_api.py): the only way to run the
    # exit handlers before os._exit, which skips them. They run once (then cleared).
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):    # a closed pipe: nothing more to say there
            pass
    if _others_working() or not isinstance(code, int):
        sys.exit(code)
    os._exit(code)
