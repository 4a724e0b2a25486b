"""Cinder's volume, snapshot and attachment semantics for the embedded cloud.

Volumes are sparse files under the state dir. Creation is asynchronous like
Cinder's: the volume is ``creating`` (``downloading`` while image bytes are
copied) and becomes ``available`` after the latency model's delay.
"""

import base64
import datetime
import operator
import os
import secrets as pysecrets
import subprocess
import threading
import uuid

from blockflow.cloud import statemachine
from blockflow.cloud.store import utc_stamp

GiB = 1024 ** 3
SERVICE_UUID = 'b1f0c0de-0000-4000-8000-00000000cafe'
SEED_VOLUMES = (('56494430-5460-4582-a3d0-e22cb4ef0cd2', 'existing-data', 'false'),
                ('9a53945a-b745-493e-8710-0f2c92e1fb5f', 'snapshot-parent', 'true'))
SEED_SNAPSHOT = '3c1d5f8e-7a2b-4c9d-9e0f-1a2b3c4d5e6f'
# A backup of the same volume, so backup->volume boots like every other kind.
SEED_BACKUP = '5e2f8a41-0c7d-4b3e-8f19-6a2d4c8e0b57'


class CinderError(Exception):
    """An error Cinder answers with: status + fault name + message."""

    FAULTS = {400: 'badRequest', 401: 'unauthorized', 403: 'forbidden',
              404: 'itemNotFound', 405: 'badMethod', 409: 'conflictingRequest',
              413: 'overLimit', 415: 'badMediaType', 500: 'computeFault',
              501: 'notImplemented', 503: 'serviceUnavailable'}

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self):
        fault = {'code': self.status, 'message': self.message}
        if self.status == 413:
            fault['retryAfter'] = '0'
        return {self.FAULTS.get(self.status, 'computeFault'): fault}


TIME_OPERATORS = {'gt': operator.gt, 'gte': operator.ge, 'eq': operator.eq,
                  'neq': operator.ne, 'lt': operator.lt, 'lte': operator.le}


def _as_utc(value):
    stamp = datetime.datetime.fromisoformat(value.replace('Z', '+00:00'))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=datetime.timezone.utc)


def parse_time_filter(field, raw):
    """Cinder's ``created_at``/``updated_at`` filter: ``op:time[,op:time]`` (3.60)."""
    comparisons = []
    for unit in raw.split(','):
        op, _sep, when = unit.partition(':')
        if op not in TIME_OPERATORS:
            raise CinderError(400, f'Invalid {field} operator')
        try:
            comparisons.append((TIME_OPERATORS[op], _as_utc(when)))
        except ValueError:
            raise CinderError(400, f'Invalid {field} value: {when}')
    return comparisons


def _time_matches(value, comparisons):
    if not value:
        return False        # a row never updated has no time to compare (SQL NULL)
    stamp = _as_utc(value)
    return all(compare(stamp, when) for compare, when in comparisons)


NOT_DELETABLE = ('Invalid volume: Volume status must be available or error or '
                 'error_restoring or error_extending or error_managing and must not be '
                 'migrating, attached, belong to a group, have snapshots, awaiting a '
                 'transfer, or be disassociated from snapshots after volume transfer.')


def sparse_copy(source, dest):
    """Copy a volume file keeping its holes (a 1 GiB empty volume stays small)."""
    subprocess.run(['cp', '--sparse=always', source, dest], check=True,
                   capture_output=True)


def _size_message(size):
    """Cinder's JSON-schema refusal of a volume size."""
    if size is None:
        return "Invalid input received: 'size' parameter is required"
    if isinstance(size, int) and not isinstance(size, bool):
        return (f'Invalid input for field/attribute size. Value: {size}. '
                f'{size} is less than the minimum of 1')
    return (f'Invalid input for field/attribute size. Value: {size}. '
            f"{size!r} does not match '^[0-9]+$'")


def not_found(kind, ident):
    return CinderError(404, f'{kind} {ident} could not be found.')


def policy_denied(action):
    return CinderError(403, f"Policy doesn't allow {action} to be performed.")


class Cinder:
    def __init__(self, store, faults, glance):
        self.store = store
        self.faults = faults
        self.glance = glance
        self.volume_dir = os.path.join(store.state_dir, 'volumes')
        os.makedirs(self.volume_dir, mode=0o700, exist_ok=True)
        self._timers = []
        self._seed()

    def stop(self):
        """Cancel pending state changes: the cloud is going away."""
        for timer in self._timers:
            timer.cancel()

    # --- catalog data -------------------------------------------------------
    def _seed(self):
        if self.store.list('types'):
            return
        for name, backend in (('local', 'local'), ('rbd', 'rbd'), ('iscsi', 'iscsi'),
                              ('multiattach', 'local'), ('SAS-public', 'local')):
            specs = {'blockflow:backend': backend}
            if name == 'multiattach':
                specs['multiattach'] = '<is> True'
            self.store.put('types', {'id': str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                                     'name': name, 'extra_specs': specs,
                                     'is_public': True, 'description': None})
        self.store.put('quotas', {'id': 'default', 'volumes': 1000,
                                  'gigabytes': 100000, 'snapshots': 1000})

    def seed_examples(self, project_id):
        """The volumes and snapshot the shipped examples name (the seed's ids)."""
        for volume_id, name, bootable in SEED_VOLUMES:
            if self.store.get('volumes', volume_id):
                continue
            volume = self.create_volume(project_id, {'size': 1, 'name': name})
            self.store.delete('volumes', volume['id'])
            volume.update(id=volume_id, status='available', bootable=bootable)
            self.store.put('volumes', volume)
            with open(self._path(volume_id), 'ab') as stream:
                stream.truncate(GiB)
        if not self.store.get('snapshots', SEED_SNAPSHOT):
            snap = self.create_snapshot(project_id, {'volume_id': SEED_VOLUMES[1][0],
                                                     'name': 'data-snapshot'})
            self.store.delete('snapshots', snap['id'])
            snap['id'] = SEED_SNAPSHOT
            self.store.put('snapshots', snap)
            sparse_copy(self._path(SEED_VOLUMES[1][0]),
                            os.path.join(self.volume_dir, f'snapshot-{SEED_SNAPSHOT}'))
        if not self.store.get('backups', SEED_BACKUP):
            backup = self.create_backup(project_id, {'volume_id': SEED_VOLUMES[1][0],
                                                     'name': 'data-backup'})
            self.store.delete('backups', backup['id'])
            made = os.path.join(self.volume_dir, f"backup-{backup['id']}")
            if os.path.exists(made):
                os.replace(made, os.path.join(self.volume_dir, f'backup-{SEED_BACKUP}'))
            backup['id'] = SEED_BACKUP
            self.store.put('backups', backup)

    def volume_type(self, id_or_name):
        for vtype in self.store.list('types'):
            if id_or_name in (vtype['id'], vtype['name']):
                return vtype
        return None

    # --- volumes ------------------------------------------------------------
    def get_volume(self, project_id, volume_id):
        volume = self.store.get('volumes', volume_id)
        if volume is None or volume['project_id'] != project_id:
            raise not_found('Volume', volume_id)
        return volume

    def list_volumes(self, project_id, filters):
        ids = filters.get('id')
        wanted_meta = filters.get('metadata') or {}
        times = filters.get('times', {})

        def matches(volume):
            return (volume['project_id'] == project_id
                    and (not filters.get('name') or volume['name'] == filters['name'])
                    and (not filters.get('status') or volume['status'] == filters['status'])
                    and (not ids or volume['id'] in ids)
                    and all(volume['metadata'].get(k) == v for k, v in wanted_meta.items())
                    and all(_time_matches(volume.get(field), comparisons)
                            for field, comparisons in times.items()))
        return self.store.list('volumes', where=matches)

    def quota(self, project_id):
        return self.store.get('quotas', project_id) or \
            dict(self.store.get('quotas', 'default'), id=project_id)

    def set_quota(self, project_id, **limits):
        with self.store.lock:
            return self.store.put('quotas', dict(self.quota(project_id), **limits))

    def _check_quota(self, project_id, size):
        quota = self.quota(project_id)
        sizes = self.store.field('volumes', 'size',
                                 where=lambda v: v['project_id'] == project_id)
        if quota['volumes'] >= 0 and len(sizes) + 1 > quota['volumes']:
            raise CinderError(413, 'VolumeLimitExceeded: Maximum number of volumes '
                              f"allowed ({quota['volumes']}) exceeded for quota 'volumes'.")
        used = sum(sizes)
        if quota['gigabytes'] >= 0 and used + size > quota['gigabytes']:
            raise CinderError(413, 'VolumeSizeExceedsAvailableQuota: Requested volume or '
                              f'snapshot exceeds allowed gigabytes quota. Requested {size}G, '
                              f"quota is {quota['gigabytes']}G and {used}G has been consumed.")

    def create_volume(self, project_id, spec):
        if not isinstance(spec, dict):
            raise CinderError(400, 'Missing required element volume in request body.')
        size = spec.get('size')
        source = [k for k in ('snapshot_id', 'imageRef', 'source_volid', 'backup_id')
                  if spec.get(k)]
        snapshot = image = source_volume = backup = None
        if spec.get('snapshot_id'):
            snapshot = self.store.get('snapshots', spec['snapshot_id'])
            if snapshot is None:
                raise not_found('Snapshot', spec['snapshot_id'])
            size = size or snapshot['size']
        if spec.get('source_volid'):
            source_volume = self.get_volume(project_id, spec['source_volid'])
            size = size or source_volume['size']
        if spec.get('backup_id'):
            backup = self.store.get('backups', spec['backup_id'])
            if backup is None:
                raise not_found('Backup', spec['backup_id'])
            size = size or backup['size']
        if spec.get('imageRef'):
            image = self.glance.get(spec['imageRef'])
            if image is None:
                raise CinderError(400, 'Invalid image identifier or unable to access '
                                  'requested image.')
            if image['status'] != 'active':
                raise CinderError(400, f"Invalid input received: Image {image['id']} "
                                  'is not active.')
        try:
            size = int(size)
            if isinstance(spec.get('size'), bool) or size <= 0:
                raise ValueError
        except (TypeError, ValueError):
            raise CinderError(400, _size_message(size))
        if image is not None:
            image_gb = -(-int(image.get('size') or 0) // GiB)
            if image_gb > size:
                raise CinderError(400, f'Invalid input received: Size of specified image '
                                  f'{image_gb}GB is larger than volume size {size}GB.')
            if int(image.get('min_disk') or 0) > size:
                raise CinderError(400, f'Invalid input received: Volume size {size}GB '
                                  'cannot be smaller than the image minDisk size '
                                  f"{image['min_disk']}GB.")
        vtype = self.volume_type(spec.get('volume_type') or 'local')
        if vtype is None:
            raise CinderError(404, f"Volume type with name {spec['volume_type']} could "
                              'not be found.')
        metadata = spec.get('metadata') or {}
        if not isinstance(metadata, dict):
            raise CinderError(400, 'Invalid input received: metadata must be a dict')
        with self.store.lock:
            self._check_quota(project_id, size)
            volume_id = str(uuid.uuid4())
            volume = {
                'id': volume_id, 'name': spec.get('name') or '',
                'description': spec.get('description'), 'size': size,
                'status': 'creating', 'attach_status': 'detached',
                'availability_zone': spec.get('availability_zone') or 'nova',
                'volume_type': vtype['name'], 'volume_type_id': vtype['id'],
                'metadata': {str(k): str(v) for k, v in metadata.items()},
                'bootable': 'false', 'multiattach': bool(
                    spec.get('multiattach') or
                    vtype['extra_specs'].get('multiattach') == '<is> True'),
                'snapshot_id': spec.get('snapshot_id'), 'source_volid': spec.get('source_volid'),
                'backup_id': spec.get('backup_id'), 'image_id': spec.get('imageRef'),
                'project_id': project_id, 'user_id': 'blockflow', 'attachments': [],
                'created_at': utc_stamp(), 'updated_at': None, 'encrypted': False,
                'shared_targets': False, 'service_uuid': SERVICE_UUID,
                'os-vol-host-attr:host': 'blockflow@embedded#pool', 'replication_status': None,
                'consistencygroup_id': None, 'group_id': None, 'links': [],
                'migration_status': None, 'volume_image_metadata': None,
                'backend': vtype['extra_specs'].get('blockflow:backend', 'local'),
            }
            self.store.put('volumes', volume)
        self._schedule_creation(volume_id, source and source[0], snapshot, image,
                                source_volume, backup)
        return volume

    def _path(self, volume_id):
        return os.path.join(self.volume_dir, f'volume-{volume_id}')

    def _schedule_creation(self, volume_id, source_kind, snapshot, image, source_volume,
                           backup):
        volume = self.store.get('volumes', volume_id)
        if volume['name'] in self.faults.volumes_stuck_creating:
            return
        delay = self.faults.creation_delay(volume['size'])

        def finish():
            if self.store.closed:
                return
            try:
                self._materialise(volume_id, snapshot, image, source_volume, backup)
                failed = volume['name'] in self.faults.volumes_end_in_error
                changes = {'status': 'error' if failed else 'available',
                           'updated_at': utc_stamp()}
                if image is not None and not failed:
                    changes['bootable'] = 'true'
                    changes['volume_image_metadata'] = {
                        k: str(image.get(k)) for k in
                        ('checksum', 'container_format', 'disk_format', 'min_disk',
                         'min_ram', 'size')} | {'image_id': image['id'],
                                                'image_name': image.get('name', ''),
                                                'signature_verified': 'False'}
                with self.store.lock:
                    current = self.store.get('volumes', volume_id)
                    if current and current['status'] in ('creating', 'downloading'):
                        self.store.update('volumes', volume_id, **changes)
            except Exception:  # the volume ends in error, as Cinder's would
                if not self.store.closed:   # not when the cloud was stopped meanwhile
                    self.store.update('volumes', volume_id, status='error')

        if image is not None:
            self.store.update('volumes', volume_id, status='creating')
        timer = threading.Timer(delay, finish)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _materialise(self, volume_id, snapshot, image, source_volume, backup):
        path = self._path(volume_id)
        size = self.store.get('volumes', volume_id)['size']
        template = None
        if snapshot is not None:
            template = os.path.join(self.volume_dir, f"snapshot-{snapshot['id']}")
        elif source_volume is not None:
            template = self._path(source_volume['id'])
        elif backup is not None:
            template = os.path.join(self.volume_dir, f"backup-{backup['id']}")
        if image is not None:
            self.store.update('volumes', volume_id, status='downloading')
            source = self.glance.file_path(image['id'])
            subprocess.run(['qemu-img', 'convert', '-O', 'raw', source, path],
                           check=True, capture_output=True)
        elif template and os.path.exists(template):
            sparse_copy(template, path)
        with open(path, 'ab') as stream:
            stream.truncate(size * GiB)

    def delete_volume(self, project_id, volume_id):
        volume = self.get_volume(project_id, volume_id)
        has_snapshots = volume_id in self.store.field('snapshots', 'volume_id')
        if volume['status'] not in statemachine.DELETABLE or volume['attachments'] or \
                has_snapshots:
            raise CinderError(400, NOT_DELETABLE)
        self.store.update('volumes', volume_id, status='deleting')

        def finish():
            if not self.store.closed:   # a stopped cloud resumes the delete at start
                self.purge_volume(volume_id)
        delay = self.faults.latency.get('delete_s', 0.0)
        if delay:
            timer = threading.Timer(delay, finish)
            timer.daemon = True
            self._timers.append(timer)
            timer.start()
        else:
            finish()

    def purge_volume(self, volume_id):
        """The end of a delete: the row and the file go."""
        self.store.delete('volumes', volume_id)
        try:
            os.unlink(self._path(volume_id))
        except FileNotFoundError:
            pass

    def set_status(self, volume_id, status, **extra):
        with self.store.lock:
            volume = self.store.get('volumes', volume_id)
            try:
                statemachine.check(volume['status'], status)
            except statemachine.IllegalTransition as exc:
                raise CinderError(400, f'Invalid volume: Volume {volume_id} status must be '
                                  f'one that allows {exc.wanted}, but the current status '
                                  f'is {exc.current}.')
            return self.store.update('volumes', volume_id, status=status, **extra)

    # --- snapshots and backups ----------------------------------------------
    def create_snapshot(self, project_id, spec):
        volume = self.get_volume(project_id, spec.get('volume_id'))
        if volume['status'] not in ('available', 'in-use'):
            raise CinderError(400, 'Invalid volume: Volume status must be available or '
                              'in-use.')
        snap = {'id': str(uuid.uuid4()), 'volume_id': volume['id'], 'size': volume['size'],
                'status': 'available', 'name': spec.get('name'), 'metadata': {},
                'description': spec.get('description'), 'created_at': utc_stamp(),
                'project_id': project_id}
        source = self._path(volume['id'])
        if os.path.exists(source):
            sparse_copy(source, os.path.join(self.volume_dir, f"snapshot-{snap['id']}"))
        return self.store.put('snapshots', snap)

    def create_backup(self, project_id, spec):
        volume = self.get_volume(project_id, spec.get('volume_id'))
        backup = {'id': str(uuid.uuid4()), 'volume_id': volume['id'], 'size': volume['size'],
                  'status': 'available', 'name': spec.get('name'), 'created_at': utc_stamp(),
                  'project_id': project_id, 'availability_zone': 'nova',
                  'container': None, 'description': spec.get('description')}
        source = self._path(volume['id'])
        if os.path.exists(source):
            sparse_copy(source, os.path.join(self.volume_dir, f"backup-{backup['id']}"))
        return self.store.put('backups', backup)

    # --- connections -----------------------------------------------------------
    def connection_info(self, volume, connector):
        data = {'volume_id': volume['id'], 'access_mode': 'rw', 'encrypted': False,
                'discard': True, 'qos_specs': None}
        backend = volume.get('backend', 'local')
        if backend == 'rbd':
            key = base64.b64encode(pysecrets.token_bytes(28)).decode()
            data.update(name=f"volumes/volume-{volume['id']}", hosts=['127.0.0.1'],
                        ports=['6789'], cluster_name='ceph', auth_enabled=True,
                        auth_username='cinder', secret_type='ceph',
                        secret_uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, 'ceph-secret')),
                        keyring=f'[client.cinder]\n\tkey = {key}\n')
        elif backend == 'iscsi':
            data.update(target_portal='127.0.0.1:3260', target_lun=0,
                        target_iqn=f"iqn.2010-10.org.openstack:volume-{volume['id']}",
                        target_discovered=False, auth_method='CHAP',
                        auth_username='blockflow', auth_password=pysecrets.token_hex(8))
        else:
            data['device_path'] = self._path(volume['id'])
        return {'driver_volume_type': backend, 'data': data, 'connector': connector}
