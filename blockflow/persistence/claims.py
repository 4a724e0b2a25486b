"""One owner per flow: claim rows beside the flow state, with an expiry.

A process claims a flow before it runs it and renews the claim while it
runs (``Lease``); the row lives in the same database as the flow's state
(table ``blockflow_flow_claims``, created with TaskFlow's tables by the lean
backend's ``upgrade``), so every process that can resume the flow sees it.

A claim can be taken over when it has expired (its owner hung, died on
another host or lost the database), or at once when its owner is a process
of this host that no longer exists (kill -9, OOM): the owner row names the
host, the pid and the process's start time, so a reused pid is not taken
for the dead owner. Every takeover is a compare-and-swap on the row it saw,
so of two processes racing for one flow exactly one wins.

Backends without SQL (memory, dir, zookeeper) get ``LocalClaims``: claims
that hold between the threads of one process only.
"""

import dataclasses
import datetime
import logging
import os
import socket
import threading
import time
import uuid

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

LOG = logging.getLogger('blockflow.claims')
TABLE = 'blockflow_flow_claims'
EXPIRY_ENV = 'BLOCKFLOW_CLAIM_EXPIRY'
DEFAULT_EXPIRY_S = 30.0
_RACE_ATTEMPTS = 5

_metadata = sa.MetaData()
claims_table = sa.Table(
    TABLE, _metadata,
    sa.Column('flow_uuid', sa.String(64), primary_key=True),
    sa.Column('owner', sa.String(255), nullable=False),
    sa.Column('token', sa.String(36), nullable=False),
    sa.Column('host', sa.String(255), nullable=False),
    sa.Column('pid', sa.Integer, nullable=False),
    sa.Column('process_started', sa.String(32), nullable=False),
    # Milliseconds since the epoch: integers compare exactly in every database.
    sa.Column('claimed_at', sa.BigInteger, nullable=False),
    sa.Column('expires_at', sa.BigInteger, nullable=False),
)


def default_expiry():
    """Seconds a claim lasts without renewal (``BLOCKFLOW_CLAIM_EXPIRY``)."""
    value = os.environ.get(EXPIRY_ENV)
    if not value:
        return DEFAULT_EXPIRY_S
    try:
        expiry = float(value)
    except ValueError:
        expiry = 0
    if expiry <= 0:
        from blockflow import exceptions
        raise exceptions.UsageError(f'{EXPIRY_ENV}: {value!r} is not a positive number '
                                    'of seconds')
    return expiry


def _now_ms():
    return int(time.time() * 1000)


def _process_started(pid):
    """The kernel's start time of ``pid`` (clock ticks since boot), or None."""
    try:
        with open(f'/proc/{pid}/stat', encoding='ascii', errors='replace') as stream:
            stat = stream.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; fields after it are plain.
    return stat.rpartition(')')[2].split()[19]


@dataclasses.dataclass(frozen=True)
class Owner:
    """Who holds a claim: a process (host, pid, start time) and one claim of it.

    The token tells two claims of one process apart, so a flow claimed twice
    in one process is refused like any other held flow.
    """
    host: str
    pid: int
    process_started: str
    token: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def name(self):
        return f'{self.host}:{self.pid}'

    @classmethod
    def this_process(cls):
        return cls(socket.gethostname(), os.getpid(), _process_started(os.getpid()) or '?')

    def is_gone(self):
        """True only when this host can tell the owner process no longer exists."""
        if self.host != socket.gethostname() or self.process_started == '?':
            return False
        return _process_started(self.pid) != self.process_started


@dataclasses.dataclass(frozen=True)
class Claim:
    flow_uuid: str
    owner: Owner
    expires_at: int     # ms since the epoch

    @property
    def until(self):
        return datetime.datetime.fromtimestamp(self.expires_at / 1000, datetime.timezone.utc) \
            .isoformat(timespec='seconds').replace('+00:00', 'Z')

    def describe(self):
        return f'claimed by {self.owner.name} until {self.until}'

    def expired(self, now=None):
        return self.expires_at <= (_now_ms() if now is None else now)


class FlowClaimed(Exception):
    """Another live process owns the flow."""

    def __init__(self, claim):
        super().__init__(claim.describe())
        self.claim = claim


def _row_claim(row):
    return Claim(row.flow_uuid, Owner(row.host, row.pid, row.process_started, row.token),
                 row.expires_at)


class SqlClaims:
    """Claims as rows of ``blockflow_flow_claims`` in the flows' database."""

    def __init__(self, engine):
        self._engine = engine

    @staticmethod
    def create_table(engine):
        _metadata.create_all(engine, tables=[claims_table], checkfirst=True)

    def _values(self, flow_uuid, owner, expiry):
        now = _now_ms()
        return {'flow_uuid': flow_uuid, 'owner': owner.name, 'token': owner.token,
                'host': owner.host,
                'pid': owner.pid, 'process_started': owner.process_started,
                'claimed_at': now, 'expires_at': now + int(expiry * 1000)}

    def get(self, flow_uuid):
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(claims_table).where(
                claims_table.c.flow_uuid == flow_uuid)).first()
        return _row_claim(row) if row else None

    def claim(self, flow_uuid, owner, expiry):
        """Claim the flow for ``owner``; raise FlowClaimed if a live owner holds it."""
        for _attempt in range(_RACE_ATTEMPTS):
            values = self._values(flow_uuid, owner, expiry)
            try:
                with self._engine.begin() as conn:
                    conn.execute(sa.insert(claims_table).values(values))
                return Claim(flow_uuid, owner, values['expires_at'])
            except sa_exc.IntegrityError:
                pass
            held = self.get(flow_uuid)
            if held is None:
                continue            # released between our insert and our read
            if held.owner != owner and not held.expired() and not held.owner.is_gone():
                raise FlowClaimed(held)
            # Ours already, expired, or its owner is dead: swap only the row we saw.
            c = claims_table.c
            with self._engine.begin() as conn:
                taken = conn.execute(sa.update(claims_table).where(
                    c.flow_uuid == flow_uuid, c.token == held.owner.token,
                    c.expires_at == held.expires_at).values(values)).rowcount
            if taken:
                if held.owner != owner:
                    LOG.info('flow %s: took over the claim of %s (%s)', flow_uuid,
                             held.owner.name, 'expired' if held.expired() else 'process gone')
                return Claim(flow_uuid, owner, values['expires_at'])
        held = self.get(flow_uuid)
        raise FlowClaimed(held or Claim(flow_uuid, Owner('?', 0, '?', '?'), _now_ms()))

    def renew(self, flow_uuid, owner, expiry):
        """Extend our claim; False if it is no longer ours."""
        c = claims_table.c
        with self._engine.begin() as conn:
            return conn.execute(sa.update(claims_table).where(
                c.flow_uuid == flow_uuid, c.token == owner.token).values(
                    expires_at=_now_ms() + int(expiry * 1000))).rowcount == 1

    def release(self, flow_uuid, owner):
        c = claims_table.c
        with self._engine.begin() as conn:
            conn.execute(sa.delete(claims_table).where(
                c.flow_uuid == flow_uuid, c.token == owner.token))


class LocalClaims:
    """Claims within one process, for backends that hold no claim table."""

    _held = {}
    _lock = threading.Lock()

    def get(self, flow_uuid):
        with self._lock:
            return self._held.get(flow_uuid)

    def claim(self, flow_uuid, owner, expiry):
        with self._lock:
            held = self._held.get(flow_uuid)
            if held is not None and held.owner != owner and not held.expired():
                raise FlowClaimed(held)
            claim = Claim(flow_uuid, owner, _now_ms() + int(expiry * 1000))
            self._held[flow_uuid] = claim
            return claim

    def renew(self, flow_uuid, owner, expiry):
        with self._lock:
            held = self._held.get(flow_uuid)
            if held is None or held.owner != owner:
                return False
            self._held[flow_uuid] = Claim(flow_uuid, owner, _now_ms() + int(expiry * 1000))
            return True

    def release(self, flow_uuid, owner):
        with self._lock:
            if (held := self._held.get(flow_uuid)) is not None and held.owner == owner:
                del self._held[flow_uuid]


def claims_for(backend):
    engine = getattr(backend, 'engine', None)
    if isinstance(engine, sa.engine.Engine):
        return SqlClaims(engine)
    return LocalClaims()


class Lease:
    """A held claim, renewed from a heartbeat thread until released.

    ``on_lost`` is called (once, from the heartbeat) when the claim turns out
    to be someone else's: the holder must stop touching the flow.
    """

    def __init__(self, store, claim, expiry):
        self._store = store
        self.claim = claim
        self._expiry = expiry
        self._stop = threading.Event()
        self._beat = None
        self.on_lost = None
        self.lost = False

    @property
    def flow_uuid(self):
        return self.claim.flow_uuid

    @classmethod
    def acquire(cls, backend, flow_uuid, expiry=None, owner=None):
        """Claim ``flow_uuid``; raises FlowClaimed when a live owner has it."""
        expiry = expiry or default_expiry()
        store = claims_for(backend)
        claim = store.claim(flow_uuid, owner or Owner.this_process(), expiry)
        return cls(store, claim, expiry)

    def keep(self, on_lost=None):
        """Start renewing every third of the expiry."""
        self.on_lost = on_lost
        if self._beat is None:
            self._beat = threading.Thread(target=self._heartbeat, daemon=True,
                                          name=f'claim-{self.flow_uuid[:8]}')
            self._beat.start()
        return self

    def _heartbeat(self):
        while not self._stop.wait(self._expiry / 3):
            try:
                still_ours = self._store.renew(self.flow_uuid, self.claim.owner, self._expiry)
            except Exception as exc:    # the database may come back before expiry
                LOG.warning('flow %s: could not renew its claim: %s', self.flow_uuid, exc)
                continue
            if not still_ours:
                self.lost = True
                LOG.error('flow %s: claim lost to another process; stopping',
                          self.flow_uuid)
                if self.on_lost:
                    self.on_lost()
                return

    def release(self):
        self._stop.set()
        if self._beat is not None and self._beat is not threading.current_thread():
            self._beat.join()
        try:
            self._store.release(self.flow_uuid, self.claim.owner)
        except Exception as exc:    # it expires on its own
            LOG.warning('flow %s: could not release its claim: %s', self.flow_uuid, exc)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.release()
