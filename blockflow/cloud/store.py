"""The embedded cloud's state: JSON documents in sqlite, so a restart keeps them.

Reads come from an in-memory copy (loaded at start, written through on every
change), so a list filters the documents without parsing every one of them:
the cloud stays fast as volumes pile up over a long benchmark or test run.
"""

import copy
import json
import os
import sqlite3
import collections
import datetime
import threading
import time

STATUS_LOG_LENGTH = 100_000
STAMPED_KINDS = ('volumes', 'snapshots', 'attachments')


def utc_stamp():
    """Cinder's timestamp format: UTC, microseconds, no zone suffix."""
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')


class Store:
    """kind → id → document, written through to sqlite under one lock."""

    def __init__(self, state_dir):
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        # It holds attachment connection_info (CHAP passwords, keyrings): the
        # owner's alone, also when the directory was there before.
        os.chmod(state_dir, 0o700)
        self.state_dir = state_dir
        self._lock = threading.RLock()
        self._closed = False
        # (wall time, kind, id, new status) of every status change, newest last:
        # what benchmarks measure poll lag against.
        self.status_log = collections.deque(maxlen=STATUS_LOG_LENGTH)
        path = os.path.join(state_dir, 'cloud.sqlite')
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        for suffix in ('', '-wal', '-shm'):   # sqlite gives -wal/-shm the db's mode
            if os.path.exists(path + suffix):
                os.chmod(path + suffix, 0o600)
        self._db = sqlite3.connect(path,
                                   check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute('CREATE TABLE IF NOT EXISTS objects ('
                         'kind TEXT, id TEXT, body TEXT, PRIMARY KEY (kind, id))')
        self._docs = collections.defaultdict(dict)     # kind -> id -> document
        for kind, ident, body in self._db.execute(
                'SELECT kind, id, body FROM objects ORDER BY rowid'):
            self._docs[kind][ident] = json.loads(body)

    @property
    def lock(self):
        return self._lock

    def put(self, kind, doc):
        with self._lock:
            body = json.dumps(doc)
            self._db.execute('INSERT OR REPLACE INTO objects VALUES (?, ?, ?)',
                             (kind, doc['id'], body))
            self._docs[kind][doc['id']] = json.loads(body)
        return doc

    def get(self, kind, ident):
        with self._lock:
            doc = self._docs[kind].get(ident)
            return copy.deepcopy(doc) if doc is not None else None

    def list(self, kind, where=None):
        """Copies of a kind's documents, oldest first; ``where`` filters before copying."""
        with self._lock:
            return [copy.deepcopy(doc) for doc in self._docs[kind].values()
                    if where is None or where(doc)]

    def field(self, kind, name, where=None):
        """One field of each matching document, without copying the documents."""
        with self._lock:
            return [doc.get(name) for doc in self._docs[kind].values()
                    if where is None or where(doc)]

    def delete(self, kind, ident):
        with self._lock:
            self._db.execute('DELETE FROM objects WHERE kind=? AND id=?', (kind, ident))
            self._docs[kind].pop(ident, None)

    def update(self, kind, ident, **changes):
        with self._lock:
            doc = self.get(kind, ident)
            if doc is None:
                return None
            if 'status' in changes and changes['status'] != doc.get('status'):
                self.status_log.append((time.time(), kind, ident, changes['status']))
            if kind in STAMPED_KINDS:
                # Cinder stamps updated_at on every write of a row.
                changes.setdefault('updated_at', utc_stamp())
            doc.update(changes)
            return self.put(kind, doc)

    @property
    def closed(self):
        return self._closed

    def close(self):
        with self._lock:
            self._closed = True
            self._db.close()
