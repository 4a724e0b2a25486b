"""One status poll for all the volumes a process is waiting on.

Nova asks Cinder about each volume on its own every 3 s. Here every waiting
WaitForVolume registers with a per-cloud poller whose single thread asks
Cinder once per interval, for all waiters together, which of blockflow's
volumes changed since the last answer: a detailed list filtered by metadata
and ``updated_at=gte:<time>`` (Cinder's time-comparison filter, microversion
3.60). The answer holds only recent transitions, so neither the number of
calls nor their size grows with the number of devices or with the volumes
blockflow made earlier. The cursor is Cinder's own ``updated_at``, so the
client's clock only matters for the first look-back.

A waiter its list never mentions (a volume that changed long before, say
after a resume) is asked about with one GET after UNSEEN_GET_AFTER_S, and
again at that pace. Clouds older than 3.60 get the metadata-filtered list.

The interval (``[cinder] volume_poll_interval``, 30 ms from the answer to one
poll to the start of the next, so a slow cloud is not asked faster than it
answers) is short so a boot moves on within tens of milliseconds of a volume
becoming available. Once every waiter has waited FAST_WINDOW_S
(image downloads, a slow backend) the interval doubles per poll up to
MAX_INTERVAL_S.
"""

import datetime
import threading
import time

from cinderclient import exceptions as cinder_exc

MANAGED_KEY = 'blockflow_managed'
POLL_INTERVAL_S = 0.03
FAST_WINDOW_S = 30.0
MAX_INTERVAL_S = 1.0
UNSEEN_GET_AFTER_S = 5.0
TIME_FILTER_VERSION = '3.60'
# Rows are stamped before they commit, so a later commit can carry an earlier
# time: the next poll looks back this far behind the newest stamp it saw.
CURSOR_MARGIN = datetime.timedelta(seconds=1)
FIRST_LOOK_BACK = datetime.timedelta(seconds=30)
WAITING_STATES = ('creating', 'downloading')
_POLLERS = {}
_POLLERS_LOCK = threading.Lock()


def _parse_time(value):
    if not value:
        return None
    stamp = datetime.datetime.fromisoformat(value.replace('Z', '+00:00'))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=datetime.timezone.utc)


def volume_facts(volume):
    """What the attach steps need to know of a volume, read from any answer
    that carries it (a list, a GET): no step asks Cinder for it again."""
    return {'multiattach': bool(getattr(volume, 'multiattach', False)),
            'shared_targets': getattr(volume, 'shared_targets', False),
            'service_uuid': getattr(volume, 'service_uuid', None),
            'availability_zone': getattr(volume, 'availability_zone', None)}


class _Waiter:
    def __init__(self):
        self.event = threading.Event()
        self.status = None
        self.facts = None


class VolumePoller:
    def __init__(self, clients, interval=POLL_INTERVAL_S):
        self.clients = clients
        self.interval = interval
        self._lock = threading.Lock()
        self._waiters = {}
        self._since = {}        # volume id -> when its first waiter arrived
        self._asked = {}        # volume id -> when it was last GET on its own
        self._thread = None
        self._cursor = None     # newest updated_at Cinder has shown us
        self._time_filter = True
        self._facts = {}        # volume id -> volume_facts of its last answer
        self.polls = 0

    def wait(self, volume_id, timeout):
        """Block until the volume is no longer being created; return its status."""
        return self.wait_volume(volume_id, timeout)[0]

    def wait_volume(self, volume_id, timeout):
        """``wait``, and the volume's ``volume_facts`` from the answer that ended it."""
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
                        self._asked.pop(volume_id, None)
                        self._facts.pop(volume_id, None)
        return waiter.status, waiter.facts

    def next_interval(self, current):
        """The sleep before the next poll: short, unless every waiter is slow."""
        with self._lock:
            newest = max(self._since.values(), default=None)
        if newest is None or time.monotonic() - newest < FAST_WINDOW_S:
            return self.interval
        return min(MAX_INTERVAL_S, current * 2)

    def changed_volumes(self):
        """One list call: blockflow's volumes that changed lately, as {id: status}."""
        search = {'metadata': {MANAGED_KEY: 'true'}}
        if self._time_filter:
            look_from = (self._cursor - CURSOR_MARGIN if self._cursor else
                         datetime.datetime.now(datetime.timezone.utc) - FIRST_LOOK_BACK)
            search['updated_at'] = 'gte:' + look_from.strftime('%Y-%m-%dT%H:%M:%S.%f')
            try:
                volumes = self.clients.cinder(TIME_FILTER_VERSION).volumes.list(
                    search_opts=search)
            except (cinder_exc.BadRequest, cinder_exc.UnsupportedVersion):
                self._time_filter = False       # an older cloud: plain metadata filter
                return self.changed_volumes()
            stamps = [_parse_time(getattr(v, 'updated_at', None)) for v in volumes]
            newest = max((s for s in stamps if s), default=None)
            if newest and (self._cursor is None or newest > self._cursor):
                self._cursor = newest
        else:
            volumes = self.clients.cinder().volumes.list(search_opts=search)
        self.polls += 1
        self._remember(volumes)
        return {v.id: v.status for v in volumes}

    def _remember(self, volumes):
        with self._lock:
            for volume in volumes:
                if volume.id in self._waiters:
                    self._facts[volume.id] = volume_facts(volume)

    def _unseen_statuses(self, wanted, seen):
        """One GET per waiter the lists have not mentioned for a while."""
        now = time.monotonic()
        statuses = {}
        for volume_id in wanted - set(seen):
            with self._lock:
                last = self._asked.get(volume_id) or self._since.get(volume_id, now)
            if now - last < UNSEEN_GET_AFTER_S:
                continue
            with self._lock:
                self._asked[volume_id] = now
            try:
                volume = self.clients.cinder().volumes.get(volume_id)
                self._remember([volume])
                statuses[volume_id] = volume.status
            except cinder_exc.NotFound:
                statuses[volume_id] = 'missing'
            except Exception:       # asked again at the next pace
                pass
        return statuses

    def _run(self):
        interval = self.interval
        while True:
            with self._lock:
                if not self._waiters:
                    self._thread = None
                    return
                wanted = set(self._waiters)
            try:
                statuses = {k: v for k, v in self.changed_volumes().items() if k in wanted}
            except Exception:       # a failed poll is retried next interval
                statuses = {}
            statuses.update(self._unseen_statuses(wanted, statuses))
            with self._lock:
                for volume_id, status in statuses.items():
                    if status in WAITING_STATES:
                        continue
                    self._since.pop(volume_id, None)
                    self._asked.pop(volume_id, None)
                    facts = self._facts.pop(volume_id, None)
                    for waiter in self._waiters.pop(volume_id, []):
                        waiter.status, waiter.facts = status, facts
                        waiter.event.set()
            interval = self.next_interval(interval)
            time.sleep(interval)


def poller_for(clients):
    from blockflow import conf
    key = repr(sorted(clients.ref.items()))
    with _POLLERS_LOCK:
        if key not in _POLLERS:
            _POLLERS[key] = VolumePoller(clients, conf.CONF.cinder.volume_poll_interval)
        return _POLLERS[key]
