"""Read persisted flows and device records without TaskFlow's storage stack.

``blockflow list``, ``show`` and ``devices`` only read. Through TaskFlow's
SQLAlchemy backend they paid most of a second before the first row: SQLAlchemy,
alembic's schema check, TaskFlow's engine modules and networkx. A sqlite file
(the default) is read here with the standard library's ``sqlite3``, opened
read-only: never created, upgraded or locked for writing, so it can be read
while a boot writes it. Any other URL (MySQL, PostgreSQL, TaskFlow's dir or
zookeeper backends) goes through the persistence backend as before, and its
TaskFlow models are turned into the same plain records.

The tables read are TaskFlow's (``logbooks``, ``flowdetails``,
``atomdetails``: taskflow/persistence/backends/sqlalchemy/tables.py, whose
JSON columns are text on sqlite) and blockflow's records tables
(``blockflow/persistence/records.py``). Rows come in insertion order, the order TaskFlow's
own backend hands them out on sqlite; nothing is compiled or rebuilt.
"""

import contextlib
import dataclasses
import datetime
import json
import os
import sqlite3
import urllib.parse

from blockflow import persistence

# TaskFlow's JSONType columns (stored as text on sqlite).
_TASKFLOW_JSON_COLUMNS = frozenset({'meta', 'failure', 'results', 'revert_results',
                                    'revert_failure'})
_SQLITE_FILE_PREFIXES = ('sqlite:///', 'sqlite+pysqlite:///')
# As long as a writer may hold the file (the lean backend waits as long).
_BUSY_TIMEOUT_S = 30


class FlowNotFound(LookupError):
    """No flow, or more than one, matches the uuid (prefix) asked for."""

    def __init__(self, flow_id, matches=0):
        self.flow_id = flow_id
        self.matches = matches
        super().__init__(flow_id if not matches else
                         f'{flow_id} is ambiguous ({matches} flows)')


@dataclasses.dataclass(frozen=True)
class Book:
    uuid: str
    name: str
    created_at: datetime.datetime | None
    meta: dict


@dataclasses.dataclass(frozen=True)
class Atom:
    """One atom detail; failures in TaskFlow's ``Failure.to_dict()`` form."""

    uuid: str
    name: str
    state: str | None
    intention: str | None = None
    results: object = None
    failure: dict | None = None
    revert_failure: dict | None = None
    meta: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Flow:
    """One flow detail with its atoms (iterating it yields them, as TaskFlow's does)."""

    uuid: str
    name: str
    state: str | None
    meta: dict
    book: Book
    atoms: tuple = ()

    def __iter__(self):
        return iter(self.atoms)


def sqlite_path(url):
    """The file a plain ``sqlite:///FILE`` URL names, else None."""
    for prefix in _SQLITE_FILE_PREFIXES:
        if url.startswith(prefix):
            path = url[len(prefix):].split('?', 1)[0]
            return path if path and path != ':memory:' else None
    return None


class _SqliteFile:
    """Read-only queries on one sqlite file; a missing file or table reads as empty."""

    def __init__(self, path):
        self._path = path
        self._db = None
        self._decltypes = {}
        if os.path.isdir(path):
            raise sqlite3.OperationalError(f'{path} is a directory, not a sqlite file')
        if os.path.exists(path):
            self._db = sqlite3.connect(f'file:{urllib.parse.quote(path)}?mode=ro', uri=True,
                                       timeout=_BUSY_TIMEOUT_S)
            self._db.row_factory = sqlite3.Row

    def close(self):
        if self._db is not None:
            self._db.close()
            self._db = None

    def _types(self, table):
        # SQLAlchemy's DDL names DATETIME and BOOLEAN columns, stored as text and 0/1.
        if table not in self._decltypes:
            self._decltypes[table] = {row['name']: (row['type'] or '').upper() for row in
                                      self._db.execute(f'PRAGMA table_info("{table}")')}
        return self._decltypes[table]

    def rows(self, table, sql, args=(), json_columns=frozenset()):
        if self._db is None:
            return []
        try:
            found = self._db.execute(sql, args).fetchall()
            types = self._types(table)
        except sqlite3.OperationalError as exc:
            if 'no such table' in str(exc):
                return []       # nothing was ever written of this kind
            raise type(exc)(f'{self._path}: {exc}') from exc
        except sqlite3.DatabaseError as exc:     # not a database, corrupt
            raise type(exc)(f'{self._path}: {exc}') from exc
        return [{key: _typed(types.get(key, ''), key in json_columns, row[key])
                 for key in row.keys()} for row in found]


def _typed(decltype, is_json, value):
    if value is None:
        return None
    if is_json:
        return json.loads(value)
    if decltype.startswith('DATETIME') and isinstance(value, str):
        return datetime.datetime.fromisoformat(value)
    if decltype.startswith('BOOLEAN'):
        return bool(value)
    return value


def _atom(row):
    return Atom(uuid=row['uuid'], name=row['name'], state=row['state'],
                intention=row.get('intention'), results=row.get('results'),
                failure=row.get('failure') or None,
                revert_failure=row.get('revert_failure') or None,
                meta=row.get('meta') if isinstance(row.get('meta'), dict) else {})


def _meta(value):
    # TaskFlow replaces a stored non-dict meta by {} as it loads it.
    return value if isinstance(value, dict) else {}


def _match(flows, flow_id):
    matches = [f for f in flows if f.uuid == flow_id or f.uuid.startswith(flow_id)]
    if len(matches) != 1:
        raise FlowNotFound(flow_id, len(matches))
    return matches[0]


class SqliteReader:
    """Flows of a sqlite file, read with sqlite3."""

    def __init__(self, path):
        self._file = _SqliteFile(path)

    def close(self):
        self._file.close()

    def _flows(self):
        books = {row['uuid']: Book(row['uuid'], row['name'], row['created_at'],
                                   _meta(row['meta']))
                 for row in self._file.rows(
                     'logbooks', 'SELECT uuid, name, created_at, meta FROM logbooks',
                     json_columns=_TASKFLOW_JSON_COLUMNS)}
        rows = self._file.rows(
            'flowdetails',
            'SELECT f.uuid, f.parent_uuid, f.name, f.state, f.meta FROM flowdetails f '
            'JOIN logbooks b ON f.parent_uuid = b.uuid ORDER BY b.rowid, f.rowid',
            json_columns=_TASKFLOW_JSON_COLUMNS)
        return [Flow(row['uuid'], row['name'], row['state'], _meta(row['meta']),
                     books[row['parent_uuid']]) for row in rows]

    def flows(self):
        """Every flow with its atoms' names and states, book by book."""
        atoms = {}
        for row in self._file.rows('atomdetails', 'SELECT uuid, parent_uuid, name, state '
                                   'FROM atomdetails ORDER BY rowid'):
            atoms.setdefault(row['parent_uuid'], []).append(_atom(row))
        return [dataclasses.replace(flow, atoms=tuple(atoms.get(flow.uuid, ())))
                for flow in self._flows()]

    def find_flow(self, flow_id):
        """The one flow whose uuid is or starts with ``flow_id``, with whole atoms."""
        flow = _match(self._flows(), flow_id)
        rows = self._file.rows('atomdetails', 'SELECT * FROM atomdetails WHERE parent_uuid = ? '
                               'ORDER BY rowid', (flow.uuid,),
                               json_columns=_TASKFLOW_JSON_COLUMNS)
        return dataclasses.replace(flow, atoms=tuple(_atom(row) for row in rows))


class ConnectionReader:
    """The same records from a TaskFlow persistence connection (any backend)."""

    def __init__(self, connection):
        self._connection = connection

    def close(self):
        pass

    def flows(self):
        return [_from_models(book, flow_detail)
                for book in self._connection.get_logbooks() for flow_detail in book]

    def find_flow(self, flow_id):
        return _match(self.flows(), flow_id)


def _from_models(book, flow_detail):
    return Flow(
        flow_detail.uuid, flow_detail.name, flow_detail.state, _meta(flow_detail.meta),
        Book(book.uuid, book.name, book.created_at, _meta(book.meta)),
        tuple(Atom(uuid=ad.uuid, name=ad.name, state=ad.state, intention=ad.intention,
                   results=ad.results,
                   failure=ad.failure.to_dict() if ad.failure else None,
                   revert_failure=ad.revert_failure.to_dict() if ad.revert_failure else None,
                   meta=_meta(ad.meta))
              for ad in flow_detail))


def of(source):
    """A reader over ``source``: a reader already, or a TaskFlow connection."""
    return source if hasattr(source, 'find_flow') else ConnectionReader(source)


@contextlib.contextmanager
def opened(url=None):
    """A reader of the flows at ``url`` (default: the user's sqlite file)."""
    url = persistence.resolve_url(url)
    path = sqlite_path(url)
    if path is not None:
        reader = SqliteReader(path)
        try:
            yield reader
        finally:
            reader.close()
        return
    backend = persistence.get_backend(url)
    try:
        with contextlib.closing(backend.get_connection()) as connection:
            yield ConnectionReader(connection)
    finally:
        backend.close()


# blockflow's own records (records.py), read the same way.

def device_records(url, instance_uuid):
    """An instance's device rows not deleted, by device name, as
    ``records.Records.for_instance`` gives them (secrets masked)."""
    path = sqlite_path(url)
    if path is None:
        from blockflow.persistence import records
        return records.Records(url).for_instance(instance_uuid)
    with contextlib.closing(_SqliteFile(path)) as db:
        rows = db.rows('blockflow_block_device_mapping',
                       'SELECT * FROM blockflow_block_device_mapping WHERE instance_uuid = ? '
                       'AND deleted = 0 ORDER BY device_name', (instance_uuid,))
    for row in rows:
        row['connection_info'] = json.loads(row['connection_info']) \
            if row['connection_info'] else None
        row['created_at'] = row['created_at'].isoformat() if row['created_at'] else None
    from blockflow import secrets
    return secrets.mask(rows)


def instance_boot(url, instance_uuid):
    """``{'cloud_ref', 'request_id'}`` of an instance's boot, or None."""
    path = sqlite_path(url)
    if path is None:
        from blockflow.persistence import records
        return records.Records(url).instance(instance_uuid)
    with contextlib.closing(_SqliteFile(path)) as db:
        rows = db.rows('blockflow_instance_cloud',
                       'SELECT cloud_ref, request_id FROM blockflow_instance_cloud '
                       'WHERE instance_uuid = ?', (instance_uuid,))
    if not rows:
        return None
    return {'cloud_ref': json.loads(rows[0]['cloud_ref']), 'request_id': rows[0]['request_id']}


def open_leftovers(url, instance_uuid):
    """Unresolved leftover rows of an instance, oldest first
    (``records.Leftovers.open_for``)."""
    path = sqlite_path(url)
    if path is None:
        from blockflow.persistence import records
        return records.Leftovers(url).open_for(instance_uuid)
    with contextlib.closing(_SqliteFile(path)) as db:
        rows = db.rows('blockflow_leftover',
                       'SELECT * FROM blockflow_leftover WHERE instance_uuid = ? '
                       'AND resolved = 0 ORDER BY created_at', (instance_uuid,))
    for row in rows:
        row['undo_args'] = json.loads(row['undo_args']) if row['undo_args'] else {}
        row['created_at'] = row['created_at'].isoformat() if row['created_at'] else None
    return rows
