"""Boots as jobs on TaskFlow's jobboard, run by conductors on any host.

TaskFlow's Redis board claims without expiry, so a conductor killed with -9
would hold its job forever. blockflow claims with an expiry and extends it on
every state transition and from a heartbeat while the job runs (Octavia does
the same); another conductor takes the job once the claim lapses and resumes
it from the shared persistence backend.

A conductor runs up to ``max_jobs`` boots at once (TaskFlow's non-blocking
conductor): a boot mostly waits on the cloud, so one process overlaps many,
and more conductor processes on the same board add cores.
"""

import concurrent.futures
import contextlib
import logging
import threading
import time
import urllib.parse

from redis import exceptions as redis_exceptions
from taskflow import exceptions as tf_exceptions
from taskflow.conductors.backends import impl_nonblocking
from taskflow.jobs import backends as job_backends
from taskflow.jobs.backends import impl_redis
from taskflow.listeners import base as listener_base
from taskflow.types import timing

from blockflow import exceptions
from blockflow.persistence import claims
from blockflow.runner import engine as engine_module
from blockflow.runner import resume

LOG = logging.getLogger('blockflow.jobboard')
CLAIM_EXPIRY_S = 10.0
BOARD_NAME = 'blockflow'
# Boots one conductor runs at once. A boot mostly waits on the cloud; at about
# 64 devices in flight one process's engine is CPU-bound already (README,
# "Many devices": 1 × 64), so 16 four-device boots fill a core and more
# conductor processes, not more slots, add cores.
MAX_JOBS = 16
# How often an idle conductor looks for new jobs (a slot freed by its own job
# ending is refilled at once, see _WakeableWait).
IDLE_POLL_S = 0.25


def board_conf(url):
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == 'redis':
        db = parsed.path.strip('/') or '0'
        return {'board': 'redis', 'host': parsed.hostname or '127.0.0.1',
                'port': parsed.port or 6379, 'db': int(db), 'namespace': BOARD_NAME}
    if parsed.scheme == 'zookeeper':
        return {'board': 'zookeeper', 'hosts': parsed.netloc, 'path': '/blockflow/jobs'}
    raise exceptions.UsageError(f'--jobboard: {url} is not redis://HOST:PORT[/db] '
                                'or zookeeper://HOST:PORT')


class RedisBoard(impl_redis.RedisJobBoard):
    """TaskFlow's Redis jobboard with claims that expire and a cheap claimable listing.

    The stock claim never expires; a dead conductor's job must. The stock
    listing asks Redis for each job's state in a round trip of its own, and
    a conductor then tries to claim each job, also those others hold: two
    round trips per job on the board every time a conductor looks for work,
    each waiting for the GIL behind the engines' threads. Here the jobs nobody
    owns come from two round trips whatever the board holds (the listing, and
    one pipeline asking for every job's owner key); claiming stays TaskFlow's
    atomic script, so a job another conductor just took is still refused.

    Private: ``_fetch_jobs`` and ``_client`` of TaskFlow's board (no public way to
    list jobs without their per-job state reads; checked against TaskFlow 6.5.0,
    tests/test_private_api.py).
    """

    def __init__(self, name, conf, persistence=None, claim_expiry=CLAIM_EXPIRY_S):
        super().__init__(name, conf, persistence=persistence)
        self._claim_expiry = claim_expiry

    def claim(self, job, who, expiry=None):
        return super().claim(job, who, expiry=self._claim_expiry if expiry is None else expiry)

    def iterjobs(self, only_unclaimed=False, ensure_fresh=False):
        if not only_unclaimed:
            return super().iterjobs(ensure_fresh=ensure_fresh)
        jobs = self._fetch_jobs()
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for job in jobs:
                    pipe.exists(job.owner_key)
                owned = pipe.execute()
        except redis_exceptions.RedisError as exc:
            # As the stock board's calls: the conductor backs off and looks again.
            raise tf_exceptions.JobFailure(f'reading the job owners failed: {exc}') from exc
        return iter([job for job, is_owned in zip(jobs, owned) if not is_owned])


def get_jobboard(url, persistence, claim_expiry=CLAIM_EXPIRY_S):
    conf = board_conf(url)
    if conf['board'] == 'redis':
        board = RedisBoard(BOARD_NAME, conf, persistence=persistence,
                           claim_expiry=claim_expiry)
    else:
        board = job_backends.fetch(BOARD_NAME, conf, persistence=persistence)
    board.connect()
    return board


class _ClaimableJobs:
    """The board as a conductor sees it: iterating gives only the jobs it may claim."""

    def __init__(self, board):
        self._board = board

    def __getattr__(self, name):
        return getattr(self._board, name)

    def iterjobs(self, only_unclaimed=True, ensure_fresh=False):
        return self._board.iterjobs(only_unclaimed=True, ensure_fresh=ensure_fresh)


def post_boot(board, persistence, factory, factory_kwargs, meta):
    """Post a boot as a job; returns the job's uuid.

    The flow is saved unclaimed and marked as the jobboard's, so `resume
    --all` leaves it to the conductor that claims the job.
    """
    meta = dict(meta, **{resume.JOBBOARD_META_KEY: board.name})
    _flow, book, flow_detail = engine_module.save_new_flow(persistence, factory,
                                                      factory_kwargs, meta, claim=False)
    job = board.post(f"boot-{meta['instance_uuid']}", book=book,
                     details={'store': {}, 'flow_uuid': flow_detail.uuid})
    return job.uuid


class ExtendClaimListener(listener_base.Listener):
    """Extends the job's claim on every transition and from a heartbeat."""

    def __init__(self, engine, job, expiry):
        super().__init__(engine)
        self._job = job
        self._expiry = expiry
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, daemon=True)

    def _extend(self):
        with contextlib.suppress(Exception):
            self._job.extend_expiry(self._expiry)

    def _heartbeat(self):
        while not self._stop.wait(self._expiry / 3):
            self._extend()

    def register(self):
        super().register()
        self._beat.start()

    def deregister(self):
        self._stop.set()
        super().deregister()

    def _task_receiver(self, state, details):
        self._extend()

    def _flow_receiver(self, state, details):
        self._extend()


def _job_flow_uuid(job, persistence):
    if job.details and job.details.get('flow_uuid'):
        return job.details['flow_uuid']
    # The conductor runs the only flow of the job's book (taskflow.conductors.base).
    with contextlib.closing(persistence.get_connection()) as conn:
        flows = list(conn.get_logbook(job.book_uuid, lazy=True))
    return flows[0].uuid if len(flows) == 1 else None


def claim_job_flow(job, persistence, expiry):
    """Claim the flow of ``job`` before its engine is loaded; None if it has none.

    The job's claim keeps conductors apart; the flow's claim (the one
    `blockflow resume` takes) keeps a conductor and a resumer apart. While
    another process holds the flow, the conductor waits, keeping its job
    claimed; it loads the engine only once the flow is its own, so it never
    runs a flow state read before another owner changed it.
    """
    flow_uuid = _job_flow_uuid(job, persistence)
    if flow_uuid is None:
        return None
    while True:
        try:
            return claims.Lease.acquire(persistence, flow_uuid, expiry)
        except Exception as exc:    # held elsewhere, or the database is away
            LOG.info('job %s: flow %s not claimed (%s); waiting', job.uuid, flow_uuid, exc)
        with contextlib.suppress(Exception):
            job.extend_expiry(expiry)
        time.sleep(min(1.0, expiry / 3))


class FlowLeaseListener(listener_base.Listener):
    """Renews the flow's claim while the job's engine runs; suspends it if lost."""

    def __init__(self, engine, lease):
        super().__init__(engine)
        self._flow_engine = engine
        self._lease = lease

    def register(self):
        self._lease.keep(on_lost=self._flow_engine.suspend)
        super().register()

    def deregister(self):
        super().deregister()
        self._lease.release()


class _WakeableWait(timing.Timeout):
    """The conductor's idle wait, cut short when one of its jobs ends.

    TaskFlow's conductor polls the board every ``wait_timeout`` while it has
    nothing to claim, also while all its job slots are busy: a freed slot
    would sit idle for up to a whole poll. ``interrupt`` still stops it.
    """

    def __init__(self, value):
        super().__init__(value)
        self._woken = threading.Event()

    def interrupt(self):
        super().interrupt()
        self._woken.set()

    def wake(self):
        self._woken.set()

    def wait(self):
        self._woken.wait(self.value)
        self._woken.clear()


class BootConductor(impl_nonblocking.NonBlockingConductor):
    """TaskFlow's non-blocking conductor running up to ``max_jobs`` boots at once.

    Each job's flow is claimed before its engine loads (claim_job_flow) and
    its engine's listeners extend both claims while it runs. Boots are mostly
    waiting on the cloud, so one conductor overlaps many; processes add cores.
    """

    def __init__(self, name, board, persistence, claim_expiry=CLAIM_EXPIRY_S,
                 max_jobs=MAX_JOBS):
        super().__init__(
            name, board, persistence=persistence, engine='parallel',
            engine_options={'executor': engine_module.executor()},
            wait_timeout=_WakeableWait(IDLE_POLL_S), max_simultaneous_jobs=max_jobs,
            # The standard library's pool: futurist's idle workers each sleep
            # out a 1 s queue timeout when the conductor stops.
            executor_factory=lambda: concurrent.futures.ThreadPoolExecutor(
                max_workers=max_jobs, thread_name_prefix='blockflow-job'))
        self._jobboard = _ClaimableJobs(board)
        self._claim_expiry = claim_expiry
        self._leases = {}

    def _engine_from_job(self, job):
        lease = claim_job_flow(job, self._persistence, self._claim_expiry)
        try:
            engine = super()._engine_from_job(job)
        except Exception:
            if lease is not None:
                lease.release()
            raise
        if lease is not None:
            self._leases[job.uuid] = lease
        engine_module.keep_revert_inputs(engine)
        return engine

    def _listeners_from_job(self, job, engine):
        extra = [ExtendClaimListener(engine, job, self._claim_expiry)]
        if (lease := self._leases.pop(job.uuid, None)) is not None:
            extra.append(FlowLeaseListener(engine, lease))
        return list(super()._listeners_from_job(job, engine)) + extra

    # Private (TaskFlow 6.5.0, tests/test_private_api.py): the executor conductor's
    # per-job hooks are the only place to add per-job listeners, claims and wake-ups.
    def _on_job_done(self, job, fut):
        try:
            super()._on_job_done(job, fut)
        finally:
            self._wait_timeout.wake()


def warm_up():
    """Load what every boot runs before the first job is claimed.

    A conductor is a long-lived service: the boot flow's modules (flows,
    tasks, cinderclient, libvirt, os-brick: about a second and a half of
    imports on a loaded machine) and os-brick's connector probe belong to its
    start, not to the first boots it claims, which would wait on them.
    """
    from blockflow.runner import boot as boot_module
    from blockflow.clients.hypervisor import connectors
    engine_module.reflection_import(boot_module.FACTORY)
    connectors.prefetch()


def make_conductor(name, board, persistence, claim_expiry=CLAIM_EXPIRY_S, max_jobs=MAX_JOBS):
    warm_up()
    return BootConductor(name, board, persistence, claim_expiry, max_jobs)


def list_jobs(board):
    rows = []
    for job in board.iterjobs(ensure_fresh=True):
        rows.append({'job_id': job.uuid, 'name': job.name, 'state': job.state,
                     'owner': board.find_owner(job) if job.state == 'CLAIMED' else None,
                     'created_on': str(job.created_on)})
    return rows
