"""The host's connector, from os-brick, as Nova sends it to Cinder."""

import functools
import os
import platform
import socket
import threading

_PROBE_LOCK = threading.Lock()


def connector_properties():
    """os-brick's get_connector_properties, probed once per process.

    The probe runs external commands (iscsi, nvme, ...) for about half a
    second; parallel devices asking at once must not each run it.
    """
    with _PROBE_LOCK:
        return dict(_probe())


def prefetch():
    """Probe in the background, so a later connector_properties() finds it done."""
    threading.Thread(target=connector_properties, daemon=True,
                     name='blockflow-connector-probe').start()


@functools.lru_cache(maxsize=1)
def _probe():
    try:
        from os_brick.initiator import connector
        from os_brick import privileged
        if os.geteuid() == 0:
            # No sudo/privsep-helper needed when already root (platform-facts.md).
            privileged.default.set_client_mode(False)
        props = connector.get_connector_properties(
            root_helper=None, my_ip='127.0.0.1', multipath=False,
            enforce_multipath=False, host=socket.gethostname())
    except Exception:  # os-brick cannot probe this host: the minimal connector
        props = {'platform': platform.machine(), 'os_type': 'linux', 'ip': '127.0.0.1',
                 'host': socket.gethostname(), 'multipath': False,
                 'do_local_attach': False}
    return dict(props)
