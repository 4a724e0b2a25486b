"""One status poll for all the volumes a process is waiting on.

Nova asks Cinder about each volume on its own every 3 s. Here every waiting
WaitForVolume registers with a per-cloud poller whose single thread lists the
volumes blockflow manages once per interval (filtered by metadata) and wakes
each waiter whose volume left ``creating``/``downloading``. Cinder sees one
list call per interval however many devices are waiting.

The interval is short (50 ms) so a boot moves on within tens of milliseconds
of a volume becoming available; a single list per interval keeps that cheap.
Once every waiter has waited FAST_WINDOW_S (image downloads, a slow
backend) the interval doubles per poll up to MAX_INTERVAL_S.
"""

import threading
import time

MANAGED_KEY = 'blockflow_managed'
POLL_INTERVAL_S = 0.05
FAST_WINDOW_S = 30.0
MAX_INTERVAL_S = 1.0
_POLLERS = {}
_POLLERS_LOCK = threading.Lock()
WAITING_STATES = ('creating', 'downloading')


class _Waiter:
    def __init__(self):
        self.event = threading.Event()
        self.status = None


class VolumePoller:
    def __init__(self, clients, interval=POLL_INTERVAL_S):
        self.clients = clients
        self.interval = interval
        self._lock = threading.Lock()
        self._waiters = {}
        self._since = {}        # volume id -> when its first waiter arrived
        self._thread = None
        self.polls = 0

    def wait(self, volume_id, timeout):
        """Block until the volume is no longer being created; return its status."""
        waiter = _Waiter()
        with self._lock:
            self._waiters.setdefault(volume_id, []).append(waiter)
            self._since.setdefault(volume_id, time.monotonic())
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name='blockflow-volume-poller')
                self._thread.start()
        if not waiter.event.wait(timeout):
            with self._lock:
                waiters = self._waiters.get(volume_id, [])
                if waiter in waiters:
                    waiters.remove(waiter)
                    if not waiters:
                        self._waiters.pop(volume_id, None)
                        self._since.pop(volume_id, None)
            return waiter.status
        return waiter.status

    def next_interval(self, current):
        """The sleep before the next poll: short, unless every waiter is slow."""
        with self._lock:
            newest = max(self._since.values(), default=None)
        if newest is None or time.monotonic() - newest < FAST_WINDOW_S:
            return self.interval
        return min(MAX_INTERVAL_S, current * 2)

    def _run(self):
        interval = self.interval
        while True:
            with self._lock:
                if not self._waiters:
                    self._thread = None
                    return
                wanted = set(self._waiters)
            try:
                volumes = self.clients.cinder().volumes.list(
                    search_opts={'metadata': {MANAGED_KEY: 'true'}})
                statuses = {v.id: v.status for v in volumes if v.id in wanted}
                self.polls += 1
            except Exception:       # a failed poll is retried next interval
                statuses = {}
            for volume_id in wanted - set(statuses):
                # Not in the list (deleted, or not ours): ask for it directly.
                try:
                    statuses[volume_id] = self.clients.cinder().volumes.get(volume_id).status
                except Exception:
                    statuses[volume_id] = 'missing'
            with self._lock:
                for volume_id, status in statuses.items():
                    if status in WAITING_STATES:
                        continue
                    self._since.pop(volume_id, None)
                    for waiter in self._waiters.pop(volume_id, []):
                        waiter.status = status
                        waiter.event.set()
            interval = self.next_interval(interval)
            time.sleep(interval)


def poller_for(clients):
    key = repr(sorted(clients.ref.items()))
    with _POLLERS_LOCK:
        if key not in _POLLERS:
            _POLLERS[key] = VolumePoller(clients)
        return _POLLERS[key]
