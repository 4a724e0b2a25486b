"""Boots as jobs on TaskFlow's jobboard, run by conductors on any host.

TaskFlow's Redis board claims without expiry, so a conductor killed with -9
would hold its job forever. blockflow claims with an expiry and extends it on
every state transition and from a heartbeat while the job runs (Octavia does
the same); another conductor takes the job once the claim lapses and resumes
it from the shared persistence backend.
"""

import contextlib
import functools
import logging
import threading
import time
import urllib.parse

from taskflow.conductors import backends as conductor_backends
from taskflow.jobs import backends as job_backends
from taskflow.listeners import base as listener_base

from blockflow import exceptions
from blockflow.persistence import claims
from blockflow.runner import engine as engine_module
from blockflow.runner import resume

LOG = logging.getLogger('blockflow.jobboard')
CLAIM_EXPIRY_S = 10.0
BOARD_NAME = 'blockflow'


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


def get_jobboard(url, persistence, claim_expiry=CLAIM_EXPIRY_S):
    board = job_backends.fetch(BOARD_NAME, board_conf(url), persistence=persistence)
    board.connect()
    if board_conf(url)['board'] == 'redis':
        # The stock Redis claim never expires; a dead conductor's job must.
        # (claim's public ``expiry`` argument; TaskFlow 6.5.0, tests/test_private_api.py)
        board.claim = functools.partial(board.claim, expiry=claim_expiry)
    return board


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


def make_conductor(name, board, persistence, claim_expiry=CLAIM_EXPIRY_S):
    conductor = conductor_backends.fetch(
        'blocking', name, board, persistence=persistence, engine='parallel',
        engine_options={'executor': engine_module.executor()}, wait_timeout=0.5)
    # Private: TaskFlow offers no public hook for per-job listeners or engine
    # set-up except overriding these two conductor methods (documented as such
    # in impl_executor; checked against TaskFlow 6.5.0; tests/test_private_api.py).
    original = conductor._listeners_from_job
    original_engine = conductor._engine_from_job
    leases = {}

    def engine_from_job(job):
        lease = claim_job_flow(job, persistence, claim_expiry)
        try:
            engine = original_engine(job)
        except Exception:
            if lease is not None:
                lease.release()
            raise
        if lease is not None:
            leases[job.uuid] = lease
        engine_module.keep_revert_inputs(engine)
        return engine
    conductor._engine_from_job = engine_from_job

    def listeners(job, engine):
        extra = [ExtendClaimListener(engine, job, claim_expiry)]
        if (lease := leases.pop(job.uuid, None)) is not None:
            extra.append(FlowLeaseListener(engine, lease))
        return list(original(job, engine)) + extra
    conductor._listeners_from_job = listeners
    return conductor


def list_jobs(board):
    rows = []
    for job in board.iterjobs(ensure_fresh=True):
        rows.append({'job_id': job.uuid, 'name': job.name, 'state': job.state,
                     'owner': board.find_owner(job) if job.state == 'CLAIMED' else None,
                     'created_on': str(job.created_on)})
    return rows
