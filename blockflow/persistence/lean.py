"""TaskFlow's SQLAlchemy backend, made cheap enough to persist every task.

Stock ``impl_sqlalchemy`` costs tens of milliseconds per task here because,
for every save, it builds a new ``Connection`` (fresh ``MetaData`` and table
objects, so no statement cache hits), opens the sqlite file anew (``NullPool``),
reads the row back before updating it, commits with a full fsync in rollback
journal mode, and rewrites every atom of the flow on each flow-state save.

``LeanBackend`` keeps TaskFlow's backend interface and tables (so stock TaskFlow
tools and ``blockflow`` read each other's databases) and changes only how rows
are written:

- one ``Connection`` object per backend, so statements compile once;
- sqlite in WAL mode with ``synchronous=NORMAL`` and a kept connection pool:
  a commit survives a killed process (the crash model blockflow tests), only
  a power loss can take back the last commits;
- an atom update is one ``UPDATE`` (no read-back);
- a flow-state save writes the flow row and only the atoms that changed since
  this process last wrote them;
- an update that changes nothing but an atom's ``meta`` (progress ticks,
  timing) is written with the next state change of any atom or flow, in the
  same transaction, never on its own;
- group commit: inside ``grouped()`` (the engine's thread while it runs, see
  ``blockflow.persistence.group_commit``) state changes are held too, and
  everything held is committed in one transaction by ``flush()``, which the
  engine calls once per iteration, before it starts any atom. So the state
  is durable at every task boundary: no task starts, and no side effect
  happens, before every state change that precedes it is committed. Outside
  ``grouped()`` states, results and failures are written at once;
- rows held together are written with one ``executemany`` per column set.

TaskFlow's sqlalchemy backend imports its alembic migrations at module
level; sqlite never migrates (tables are created directly), so that module
is replaced by a stand-in that imports it on first use (``_MigrationOnDemand``):
alembic stays off the import path of every sqlite boot.

Its ``upgrade`` also creates the flow claims table (``claims.py``), so a
flow's owner is recorded in the same database as the flow's state.
"""

import collections
import contextlib
import importlib
import sys
import threading
import types

_MIGRATION_MODULE = 'taskflow.persistence.backends.sqlalchemy.migration'
_MIGRATION_LOCK = threading.Lock()


class _MigrationOnDemand(types.ModuleType):
    """TaskFlow's migration module, imported (with alembic) on first attribute use."""

    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        return getattr(_real_migration(), name)


def _real_migration():
    with _MIGRATION_LOCK:
        module = sys.modules.get(_MIGRATION_MODULE)
        if isinstance(module, _MigrationOnDemand):
            del sys.modules[_MIGRATION_MODULE]
        module = importlib.import_module(_MIGRATION_MODULE)
        if 'taskflow.persistence.backends.impl_sqlalchemy' in sys.modules:
            sys.modules['taskflow.persistence.backends.impl_sqlalchemy'].migration = module
        return module


if _MIGRATION_MODULE not in sys.modules:
    sys.modules[_MIGRATION_MODULE] = _MigrationOnDemand(_MIGRATION_MODULE)

# These imports must follow the stand-in above (impl_sqlalchemy imports migration).
import sqlalchemy as sa  # noqa: E402
from sqlalchemy import exc as sa_exc  # noqa: E402
from sqlalchemy import pool as sa_pool  # noqa: E402
from taskflow import exceptions as tf_exc  # noqa: E402
from taskflow.persistence import models  # noqa: E402
from taskflow.persistence.backends import impl_sqlalchemy  # noqa: E402

from blockflow.persistence import claims  # noqa: E402

SQLITE_BUSY_TIMEOUT_S = 30


def is_sqlite_file(url):
    parsed = sa.engine.url.make_url(url)
    return parsed.drivername.startswith('sqlite') and parsed.database not in (
        None, '', ':memory:')


def sqlite_engine(url):
    engine = sa.create_engine(
        url, poolclass=sa_pool.QueuePool, pool_size=4, max_overflow=16,
        connect_args={'timeout': SQLITE_BUSY_TIMEOUT_S, 'check_same_thread': False})

    @sa.event.listens_for(engine, 'connect')
    def _pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute('PRAGMA journal_mode=WAL')
        cursor.execute('PRAGMA synchronous=NORMAL')
        cursor.close()

    return engine


def _state_part(values):
    # Everything of an atom row but its meta: what must be durable at once.
    return {k: v for k, v in values.items() if k != 'meta'}


class LeanConnection(impl_sqlalchemy.Connection):
    def __init__(self, backend, upgrade_lock):
        super().__init__(backend, upgrade_lock)
        self._write_lock = threading.RLock()
        self._written = {}      # atom uuid -> state part last written by us
        self._deferred = {}     # atom uuid -> full row values not yet written
        self._atom_updates = {}
        self._grouping = threading.local()
        self.commits = 0        # write transactions so far (for tests and benchmarks)

    def _atom_update_statement(self, columns):
        # Built once per column set: building a statement costs ten times its run.
        statement = self._atom_updates.get(columns)
        if statement is None:
            atoms = self._tables.atomdetails
            statement = (sa.update(atoms).where(atoms.c.uuid == sa.bindparam('match_uuid'))
                         .values({column: sa.bindparam(column) for column in columns}))
            self._atom_updates[columns] = statement
        return statement

    @contextlib.contextmanager
    def _transaction(self, failure_message):
        """One write transaction; an SQL error becomes TaskFlow's StorageFailure."""
        try:
            with self._engine.begin() as conn:
                yield conn
        except sa_exc.SQLAlchemyError:
            tf_exc.raise_with_cause(tf_exc.StorageFailure, failure_message)
        self.commits += 1

    def _update_atom_rows(self, conn, rows):
        """Write {uuid: full row values}: one executemany per column set."""
        by_columns = collections.defaultdict(list)
        for uuid, values in rows.items():
            by_columns[tuple(sorted(values))].append(dict(values, match_uuid=uuid))
        for columns, params in by_columns.items():
            result = conn.execute(self._atom_update_statement(columns), params)
            if result.rowcount not in (-1, len(params)):
                missing = ', '.join(p['match_uuid'] for p in params)
                raise tf_exc.NotFound(f"No atom details found among uuids {missing}")
        for uuid, values in rows.items():
            self._written[uuid] = _state_part(values)
            self._deferred.pop(uuid, None)

    def _insert_atom_rows(self, conn, atom_details, parent_uuid):
        by_columns = collections.defaultdict(list)
        for atom_detail in atom_details:
            values = atom_detail.to_dict()
            self._written[atom_detail.uuid] = _state_part(values)
            self._deferred.pop(atom_detail.uuid, None)
            values.update(parent_uuid=parent_uuid,
                          atom_type=models.atom_detail_type(atom_detail))
            by_columns[tuple(sorted(values))].append(values)
        for params in by_columns.values():
            conn.execute(sa.insert(self._tables.atomdetails), params)

    @contextlib.contextmanager
    def grouped(self):
        """Hold this thread's atom state changes until ``flush`` (or the end)."""
        depth = getattr(self._grouping, 'depth', 0)
        self._grouping.depth = depth + 1
        try:
            yield self
        finally:
            self._grouping.depth = depth
            if depth == 0:
                self.flush()

    def is_grouping(self):
        """True in a thread inside ``grouped()``."""
        return getattr(self._grouping, 'depth', 0) > 0

    def flush(self):
        """Commit every held row in one transaction (nothing held: no transaction)."""
        with self._write_lock:
            if not self._deferred:
                return
            with self._transaction('Failed writing held atom details') as conn:
                self._update_atom_rows(conn, dict(self._deferred))

    def update_atom_details(self, atom_detail):
        values = atom_detail.to_dict()
        with self._write_lock:
            if (self.is_grouping()
                    or self._written.get(atom_detail.uuid) == _state_part(values)):
                self._deferred[atom_detail.uuid] = values
                return atom_detail
            self._deferred[atom_detail.uuid] = values
            with self._transaction(
                    f"Failed updating atom details with uuid '{atom_detail.uuid}'") as conn:
                self._update_atom_rows(conn, dict(self._deferred))
        return atom_detail

    def update_flow_details(self, flow_detail):
        flows = self._tables.flowdetails
        atoms = self._tables.atomdetails
        with self._write_lock, self._transaction(
                f"Failed updating flow details with uuid '{flow_detail.uuid}'") as conn:
            result = conn.execute(sa.update(flows).where(flows.c.uuid == flow_detail.uuid)
                                  .values(flow_detail.to_dict()))
            if result.rowcount == 0:
                raise tf_exc.NotFound(f"No flow details found with uuid '{flow_detail.uuid}'")
            stored = {row.uuid for row in conn.execute(
                sa.select(atoms.c.uuid).where(atoms.c.parent_uuid == flow_detail.uuid))}
            new = []
            for atom_detail in flow_detail:
                if atom_detail.uuid not in stored:
                    new.append(atom_detail)
                    continue
                values = atom_detail.to_dict()
                if self._written.get(atom_detail.uuid) != _state_part(values):
                    self._deferred[atom_detail.uuid] = values
            self._insert_atom_rows(conn, new, flow_detail.uuid)
            self._update_atom_rows(conn, dict(self._deferred))
        return flow_detail

    def upgrade(self):
        super().upgrade()
        # Flow claims live beside the flows they guard (one owner per flow).
        try:
            claims.SqlClaims.create_table(self.backend.engine)
        except sa_exc.SQLAlchemyError:
            tf_exc.raise_with_cause(tf_exc.StorageFailure, 'Failed creating the claims table')

    def save_logbook(self, book):
        """The book, its flows and their atoms in one transaction (TaskFlow's)."""
        with self._write_lock:
            self.flush()
            saved = super().save_logbook(book)
            for flow_detail in book:
                for atom_detail in flow_detail:
                    self._written[atom_detail.uuid] = _state_part(atom_detail.to_dict())
            return saved


class LeanBackend(impl_sqlalchemy.SQLAlchemyBackend):
    """TaskFlow's SQLAlchemy backend with one kept connection and lean writes."""

    # Its connection can hold writes and commit them together (group_commit.py).
    groups_commits = True

    def __init__(self, conf, engine=None):
        conf = dict(conf)
        own_engine = engine is None and is_sqlite_file(conf['connection'])
        if own_engine:
            engine = sqlite_engine(conf['connection'])
        super().__init__(conf, engine=engine)
        if own_engine:
            self._owns_engine = True
        self._connection = None
        self._connection_lock = threading.Lock()

    def get_connection(self):
        with self._connection_lock:
            if self._connection is None:
                connection = LeanConnection(self, upgrade_lock=self._upgrade_lock)
                connection.validate(max_retries=self._max_retries)
                self._connection = connection
            return self._connection

    def close(self):
        with self._connection_lock:
            if self._connection is not None:
                self._connection.flush()
                self._connection = None
        super().close()
