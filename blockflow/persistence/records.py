"""The block_device_mapping records blockflow keeps for teardown (Nova's columns).

Stored in the same database as the flow state; connection_info only in its
stored form (secrets stripped), and masked whenever shown.
"""

import datetime
import json
import threading
import uuid

import sqlalchemy as sa

from blockflow.persistence import lean
from blockflow.request import atom_names
from blockflow import secrets

METADATA = sa.MetaData()
BDM_TABLE = sa.Table(
    'blockflow_block_device_mapping', METADATA,
    sa.Column('uuid', sa.String(36), primary_key=True),
    sa.Column('instance_uuid', sa.String(36), index=True, nullable=False),
    sa.Column('device_name', sa.String(255)),
    sa.Column('source_type', sa.String(255)),
    sa.Column('destination_type', sa.String(255)),
    sa.Column('boot_index', sa.Integer),
    sa.Column('volume_id', sa.String(36)),
    sa.Column('snapshot_id', sa.String(36)),
    sa.Column('image_id', sa.String(36)),
    sa.Column('backup_id', sa.String(36)),
    sa.Column('volume_size', sa.Integer),
    sa.Column('volume_type', sa.String(255)),
    sa.Column('attachment_id', sa.String(36)),
    sa.Column('connection_info', sa.Text),
    sa.Column('delete_on_termination', sa.Boolean),
    sa.Column('device_type', sa.String(255)),
    sa.Column('disk_bus', sa.String(255)),
    sa.Column('guest_format', sa.String(255)),
    sa.Column('tag', sa.String(255)),
    sa.Column('local_path', sa.Text),
    sa.Column('kind', sa.String(32)),
    sa.Column('created_at', sa.DateTime),
    sa.Column('deleted', sa.Boolean, default=False),
)
# One row per instance: the cloud its boot used (a reference, never a secret)
# and the boot's global request id; delete and devices read it back.
INSTANCE_TABLE = sa.Table(
    'blockflow_instance_cloud', METADATA,
    sa.Column('instance_uuid', sa.String(36), primary_key=True),
    sa.Column('cloud_ref', sa.Text, nullable=False),
    sa.Column('request_id', sa.String(64)),
    sa.Column('created_at', sa.DateTime),
)
_COPIED = ('device_name', 'source_type', 'destination_type', 'boot_index', 'volume_size',
           'snapshot_id', 'image_id', 'backup_id', 'volume_type', 'delete_on_termination',
           'device_type', 'disk_bus', 'guest_format', 'tag', 'kind')


_ENGINES = {}
_ENGINES_LOCK = threading.Lock()


def _engine(url):
    """One engine per database, its table created once (devices record in parallel)."""
    with _ENGINES_LOCK:
        if url not in _ENGINES:
            # On sqlite, the same WAL settings as the flow state beside it: a
            # record's commit must not fsync while holding the file's write lock.
            engine = (lean.sqlite_engine(url) if lean.is_sqlite_file(url)
                      else sa.create_engine(url))
            try:
                METADATA.create_all(engine)
            except sa.exc.OperationalError as exc:
                # Another process created it between the check and the CREATE.
                if 'already exists' not in str(exc):
                    raise
            _ENGINES[url] = engine
        return _ENGINES[url]


class Records:
    def __init__(self, url):
        self.engine = _engine(url)

    def upsert(self, instance_uuid, device, volume_id=None, attachment_id=None,
               connection_info=None, local_path=None):
        row = {k: device.get(k) for k in _COPIED}
        row.update(instance_uuid=instance_uuid, volume_id=volume_id,
                   attachment_id=attachment_id, local_path=local_path, deleted=False,
                   connection_info=json.dumps(secrets.for_storage(connection_info))
                   if connection_info else None,
                   created_at=datetime.datetime.now(datetime.timezone.utc))
        key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{instance_uuid}/{device['device_name']}"))
        with self.engine.begin() as conn:
            conn.execute(BDM_TABLE.delete().where(BDM_TABLE.c.uuid == key))
            conn.execute(BDM_TABLE.insert().values(uuid=key, **row))
        return key

    def save_instance(self, instance_uuid, cloud_ref, request_id=None):
        ref = {k: v for k, v in (cloud_ref or {}).items() if k != 'request_id'}
        with self.engine.begin() as conn:
            conn.execute(INSTANCE_TABLE.delete().where(
                INSTANCE_TABLE.c.instance_uuid == instance_uuid))
            conn.execute(INSTANCE_TABLE.insert().values(
                instance_uuid=instance_uuid,
                cloud_ref=json.dumps(secrets.for_storage(ref), sort_keys=True),
                request_id=request_id,
                created_at=datetime.datetime.now(datetime.timezone.utc)))

    def instance(self, instance_uuid):
        """``{'cloud_ref': ..., 'request_id': ...}`` of an instance's boot, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(INSTANCE_TABLE.select().where(
                INSTANCE_TABLE.c.instance_uuid == instance_uuid)).first()
        if row is None:
            return None
        return {'cloud_ref': json.loads(row.cloud_ref), 'request_id': row.request_id}

    def mark_deleted(self, key):
        with self.engine.begin() as conn:
            conn.execute(BDM_TABLE.update().where(BDM_TABLE.c.uuid == key)
                         .values(deleted=True))

    def for_instance(self, instance_uuid, include_deleted=False):
        query = BDM_TABLE.select().where(BDM_TABLE.c.instance_uuid == instance_uuid)
        if not include_deleted:
            query = query.where(BDM_TABLE.c.deleted == sa.false())
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query.order_by(
                BDM_TABLE.c.device_name))]
        for row in rows:
            row['connection_info'] = json.loads(row['connection_info']) \
                if row['connection_info'] else None
            row['created_at'] = row['created_at'].isoformat() if row['created_at'] else None
        return secrets.mask(rows)


# What a revert could not undo after its retries: enough to name it to the
# user (device, resource, call, error) and for a later revert or `delete` to
# try again (``undo`` names a function of tasks.undo, ``undo_args`` its JSON
# arguments). A row stays until that undo succeeds.
LEFTOVER_TABLE = sa.Table(
    'blockflow_leftover', METADATA,
    sa.Column('uuid', sa.String(36), primary_key=True),
    sa.Column('instance_uuid', sa.String(36), index=True, nullable=False),
    sa.Column('device_name', sa.String(255)),
    sa.Column('resource', sa.String(64)),
    sa.Column('resource_id', sa.String(255)),
    sa.Column('call', sa.String(255)),
    sa.Column('error', sa.Text),
    sa.Column('undo', sa.String(255)),
    sa.Column('undo_args', sa.Text),
    sa.Column('created_at', sa.DateTime),
    sa.Column('resolved', sa.Boolean, default=False),
)


class Leftovers:
    """The leftover rows of an instance (same database as the records)."""

    def __init__(self, url):
        self.engine = _engine(url)

    def add(self, instance_uuid, device_name, resource, resource_id, call, error,
            undo=None, undo_args=None):
        """Record (or refresh) one leftover; keyed by what would undo it."""
        args = json.dumps(undo_args or {}, sort_keys=True)
        key = str(uuid.uuid5(uuid.NAMESPACE_URL,
                             f'{instance_uuid}/{device_name}/{resource}/{resource_id}/'
                             f'{undo}/{args}'))
        row = dict(uuid=key, instance_uuid=instance_uuid, device_name=device_name,
                   resource=resource, resource_id=resource_id, call=call,
                   error=secrets.mask_text(error or ''), undo=undo, undo_args=args,
                   created_at=datetime.datetime.now(datetime.timezone.utc),
                   resolved=False)
        with self.engine.begin() as conn:
            conn.execute(LEFTOVER_TABLE.delete().where(LEFTOVER_TABLE.c.uuid == key))
            conn.execute(LEFTOVER_TABLE.insert().values(**row))
        return key

    def resolve(self, key):
        with self.engine.begin() as conn:
            conn.execute(LEFTOVER_TABLE.update().where(LEFTOVER_TABLE.c.uuid == key)
                         .values(resolved=True))

    def open_for(self, instance_uuid):
        """Unresolved leftovers, oldest first (the order their reverts ran in)."""
        query = (LEFTOVER_TABLE.select()
                 .where(LEFTOVER_TABLE.c.instance_uuid == instance_uuid)
                 .where(LEFTOVER_TABLE.c.resolved == sa.false())
                 .order_by(LEFTOVER_TABLE.c.created_at))
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row['undo_args'] = json.loads(row['undo_args']) if row['undo_args'] else {}
            row['created_at'] = row['created_at'].isoformat() if row['created_at'] else None
        return rows


def describe_leftover(row):
    """One line naming a leftover: device, resource and id, the call, the error."""
    device = atom_names.strip_dev(row.get('device_name') or '-')
    return (f"{device}: {row.get('resource')} {row.get('resource_id') or '?'} "
            f"not undone ({row.get('call')}: {row.get('error')})")
