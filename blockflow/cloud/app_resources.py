"""Cinder's snapshot, backup, zone, limit, quota and service/pool handlers.

A mixin of ``app.CloudApp``. A project sees and touches only its own
snapshots, backups and quotas; an admin may cross projects (``all_tenants``).
"""

from blockflow.cloud.app_volumes import AVAILABILITY_ZONES
from blockflow.cloud import listing
from blockflow.cloud import validation
from blockflow.cloud.volumes import CinderError
from blockflow.cloud.volumes import not_found
from blockflow.cloud.volumes import policy_denied

HOST = 'blockflow@embedded'
# Limits kept beside the volumes/snapshots/gigabytes ones (what real Cinder defaults to).
QUOTA_DEFAULTS = {'volumes': 10, 'snapshots': 10, 'gigabytes': 1000,
                  'per_volume_gigabytes': -1, 'backups': 10, 'backup_gigabytes': 1000,
                  'groups': 10}
SNAPSHOT_FIELDS = ('id', 'created_at', 'updated_at', 'name', 'description', 'volume_id',
                   'status', 'size', 'metadata')
SNAPSHOT_FILTERS = ('name', 'status', 'volume_id')
SNAPSHOT_IN_USE_SINCE = (3, 66)
SNAPSHOT_IN_USE_FLAG_MSG = (
    "Since microversion 3.66 the 'force' flag is invalid for this request.  For backward "
    "compatability, however, when the 'force' flag is passed with a value evaluating to "
    "True, it is silently ignored.")


def public_snapshot(snapshot, version):
    view = {k: snapshot.get(k) for k in SNAPSHOT_FIELDS}
    view['metadata'] = snapshot.get('metadata') or {}
    view['os-extended-snapshot-attributes:project_id'] = snapshot.get('project_id')
    view['os-extended-snapshot-attributes:progress'] = '100%'
    if version >= (3, 14):
        view['group_snapshot_id'] = None
    if version >= (3, 41):
        view['user_id'] = snapshot.get('user_id', 'blockflow')
    if version >= (3, 65):
        view['consumes_quota'] = True
    return view


def _links(base, project_id, kind, ident):
    return [{'rel': 'self', 'href': f'{base}/volume/v3/{project_id}/{kind}/{ident}'},
            {'rel': 'bookmark', 'href': f'{base}/volume/{project_id}/{kind}/{ident}'}]


def public_backup(backup, version, base):
    """Cinder's backup detail view at ``version``."""
    view = {k: backup.get(k) for k in ('id', 'status', 'size', 'availability_zone',
                                       'container', 'created_at', 'name', 'description',
                                       'volume_id', 'snapshot_id', 'fail_reason')}
    view.update(object_count=backup.get('object_count', 0),
                updated_at=backup.get('updated_at', backup.get('created_at')),
                links=_links(base, backup['project_id'], 'backups', backup['id']),
                is_incremental=False, has_dependent_backups=False,
                data_timestamp=backup.get('created_at'))
    if version >= (3, 18):
        view['os-backup-project-attr:project_id'] = backup['project_id']
    if version >= (3, 43):
        view['metadata'] = backup.get('metadata') or {}
    if version >= (3, 56):
        view['user_id'] = backup.get('user_id', 'blockflow')
    return view


class ResourceHandlers:
    def _of_volume(self, request, context, element):
        """A snapshot's or backup's create body: (spec, volume id, project to act in)."""
        spec = self._element(request, element)
        for key in ('name', 'description'):
            validation.optional_string(spec, key)
        volume_id = validation.volume_id_field(spec, 'volume_id')
        return spec, volume_id, self._scope(context, 'volumes', volume_id)

    # --- snapshots ----------------------------------------------------------------
    def snapshot_create(self, request, request_id, project_id):
        context, version = self._cinder(request, request_id, project_id, 'snapshot.create')
        spec, volume_id, scope = self._of_volume(request, context, 'snapshot')
        self._check_snapshot_force(spec, scope, volume_id, version)
        snapshot = self.cloud.cinder.create_snapshot(scope, dict(spec, volume_id=volume_id))
        return self._ok(request, request_id,
                        {'snapshot': public_snapshot(snapshot, version)}, 202)

    def _check_snapshot_force(self, spec, project_id, volume_id, version):
        """An in-use volume's snapshot needs ``force`` before 3.66; from 3.66 a
        false ``force`` is refused (a true one is ignored)."""
        force = None if spec.get('force') is None else \
            validation.strict_bool('force', spec['force'])
        if version >= SNAPSHOT_IN_USE_SINCE:
            if force is False:
                raise CinderError(400, SNAPSHOT_IN_USE_FLAG_MSG)
            return
        volume = self.cloud.cinder.get_volume(project_id, volume_id)
        if volume['status'] == 'in-use' and not force:
            raise CinderError(400, f'Invalid volume: Volume {volume_id} status must be '
                              "available, but current status is: in-use.")

    def snapshots_list(self, request, request_id, project_id, view='summary'):
        context, version = self._cinder(request, request_id, project_id, 'snapshot.list')
        query = request.GET
        wanted = {k: query.get(k) for k in SNAPSHOT_FILTERS if query.get(k)}
        every = context.is_admin and listing.all_tenants(query)
        found = self.cloud.store.list('snapshots', where=lambda s: (
            (every or s.get('project_id') == context.project_id)
            and all(s.get(k) == v for k, v in wanted.items())))
        return self._listed(request, request_id, version, 'snapshots', found,
                            lambda s: public_snapshot(s, version))

    def snapshot_show(self, request, request_id, project_id, snapshot_id):
        context, version = self._cinder(request, request_id, project_id, 'snapshot.get')
        snapshot = self._visible(context, 'snapshots', snapshot_id)
        if snapshot is None:
            raise not_found('Snapshot', snapshot_id)
        return self._ok(request, request_id, {'snapshot': public_snapshot(snapshot, version)})

    def snapshot_update(self, request, request_id, project_id, snapshot_id):
        context, version = self._cinder(request, request_id, project_id, 'snapshot.update')
        if self._visible(context, 'snapshots', snapshot_id) is None:
            raise not_found('Snapshot', snapshot_id)
        spec = self._element(request, 'snapshot')
        allowed = ('name', 'description', 'display_name', 'display_description')
        unexpected = sorted(str(k)[:64] for k in spec if k not in allowed)
        if unexpected:
            raise CinderError(400, 'Invalid input for field/attribute snapshot. Value: '
                              f'{str(spec)[:256]}. Additional properties are not allowed '
                              f"({', '.join(repr(k) for k in unexpected)} unexpected)")
        if not spec:
            raise CinderError(400, 'Invalid input for field/attribute snapshot. Value: {}. '
                              '{} does not have enough properties')
        changes = {}
        for key in allowed:
            if key in spec:
                changes[key.replace('display_', '')] = validation.optional_string(spec, key)
        snapshot = self.cloud.store.update('snapshots', snapshot_id, **changes)
        return self._ok(request, request_id, {'snapshot': public_snapshot(snapshot, version)})

    def snapshot_delete(self, request, request_id, project_id, snapshot_id):
        context, _version = self._cinder(request, request_id, project_id, 'snapshot.delete')
        if self._visible(context, 'snapshots', snapshot_id) is None:
            raise not_found('Snapshot', snapshot_id)
        self.cloud.store.delete('snapshots', snapshot_id)
        return self._ok(request, request_id, None, 202)

    # --- backups ----------------------------------------------------------------------
    def backup_create(self, request, request_id, project_id):
        context, _version = self._cinder(request, request_id, project_id, 'backup.create')
        spec, volume_id, scope = self._of_volume(request, context, 'backup')
        backup = self.cloud.cinder.create_backup(scope, dict(spec, volume_id=volume_id))
        return self._ok(request, request_id, {'backup': {
            'id': backup['id'], 'name': backup['name'],
            'links': _links(self.public_url, backup['project_id'], 'backups',
                            backup['id'])}}, 202)

    def backups_list(self, request, request_id, project_id, view='summary'):
        context, version = self._cinder(request, request_id, project_id, 'backup.list')
        every = context.is_admin and listing.all_tenants(request.GET)
        found = self.cloud.store.list('backups', where=lambda b: (
            every or b.get('project_id') == context.project_id))
        return self._listed(request, request_id, version, 'backups', found,
                            lambda b: public_backup(b, version, self.public_url),
                            summary=view == 'summary')

    def backup_show(self, request, request_id, project_id, backup_id):
        context, version = self._cinder(request, request_id, project_id, 'backup.get')
        backup = self._visible(context, 'backups', backup_id)
        if backup is None:
            raise not_found('Backup', backup_id)
        return self._ok(request, request_id,
                        {'backup': public_backup(backup, version, self.public_url)})

    # --- zones, limits, services ----------------------------------------------
    def azs(self, request, request_id, project_id):
        self._cinder(request, request_id, project_id, 'az.list')
        return self._ok(request, request_id, {'availabilityZoneInfo': [
            {'zoneName': zone, 'zoneState': {'available': True}}
            for zone in AVAILABILITY_ZONES]})

    def limits(self, request, request_id, project_id):
        context, _version = self._cinder(request, request_id, project_id, 'limits')
        quota = self.cloud.cinder.quota(context.project_id)
        return self._ok(request, request_id, {'limits': {'rate': [], 'absolute': {
            'maxTotalVolumes': quota['volumes'], 'maxTotalVolumeGigabytes': quota['gigabytes'],
            'maxTotalSnapshots': quota['snapshots']}}})

    def _admin_only(self, request, request_id, project_id, op, action):
        context, version = self._cinder(request, request_id, project_id, op)
        if not context.is_admin:
            raise policy_denied(action)
        return version

    def services(self, request, request_id, project_id):
        self._admin_only(request, request_id, project_id, 'service.list',
                         'volume_extension:services:index')
        updated = self.cloud.store.field('volumes', 'updated_at') or [None]
        stamp = max((u for u in updated if u), default=None)
        services = [{'binary': binary, 'host': host, 'zone': 'nova', 'status': 'enabled',
                     'state': 'up', 'updated_at': stamp, 'disabled_reason': None}
                    for binary, host in (('cinder-scheduler', HOST.split('@')[0]),
                                         ('cinder-volume', HOST))]
        return self._ok(request, request_id, {'services': services})

    def pools(self, request, request_id, project_id):
        self._admin_only(request, request_id, project_id, 'pool.list',
                         'scheduler_extension:scheduler_stats:get_pools')
        name = f'{HOST}#pool'
        if listing.flag(request.GET, 'detail'):
            pool = {'name': name, 'capabilities': {
                'volume_backend_name': 'embedded', 'vendor_name': 'blockflow',
                'driver_version': '1.0', 'storage_protocol': 'local',
                'total_capacity_gb': 'infinite', 'free_capacity_gb': 'infinite',
                'reserved_percentage': 0, 'multiattach': True, 'thin_provisioning_support': True,
                'allocated_capacity_gb': sum(self.cloud.store.field('volumes', 'size'))}}
        else:
            pool = {'name': name}
        return self._ok(request, request_id, {'pools': [pool]})

    # --- quotas -----------------------------------------------------------------------
    def _quota_set(self, target_id):
        quota = self.cloud.cinder.quota(target_id)
        return dict({'id': target_id}, **{key: quota.get(key, default)
                                          for key, default in QUOTA_DEFAULTS.items()})

    def quota_set_show(self, request, request_id, project_id, target_id):
        context, _version = self._cinder(request, request_id, project_id, 'quota.get')
        if target_id != context.project_id and not context.is_admin:
            raise policy_denied('volume_extension:quotas:show')
        quota_set = self._quota_set(target_id)
        if listing.flag(request.GET, 'usage'):
            in_use = self._usage(target_id)
            quota_set = {key: {'limit': limit, 'in_use': in_use.get(key, 0), 'reserved': 0}
                         if key != 'id' else limit for key, limit in quota_set.items()}
        return self._ok(request, request_id, {'quota_set': quota_set})

    def _usage(self, target_id):
        store = self.cloud.store
        sizes = store.field('volumes', 'size', where=lambda v: v['project_id'] == target_id)
        snaps = store.field('snapshots', 'size',
                            where=lambda s: s.get('project_id') == target_id)
        backups = store.field('backups', 'size',
                              where=lambda b: b.get('project_id') == target_id)
        return {'volumes': len(sizes), 'gigabytes': sum(sizes) + sum(snaps),
                'snapshots': len(snaps), 'backups': len(backups),
                'backup_gigabytes': sum(backups)}

    def quota_defaults(self, request, request_id, project_id, target_id):
        self._cinder(request, request_id, project_id, 'quota.defaults')
        quota_set = self._quota_set('default')
        quota_set['id'] = target_id
        return self._ok(request, request_id, {'quota_set': quota_set})

    def quota_set_update(self, request, request_id, project_id, target_id):
        """PUT os-quota-sets/<project>: admins only, as Cinder's policy."""
        self._admin_only(request, request_id, project_id, 'quota.update',
                         'volume_extension:quotas:update')
        changes = self._element(request, 'quota_set')
        # Cinder's NON_QUOTA_KEYS: cinderclient's quotas.update sends tenant_id.
        changes = {k: v for k, v in changes.items() if k not in ('tenant_id', 'id')}
        bad = sorted(str(k)[:64] for k in changes if k not in QUOTA_DEFAULTS)
        if bad:
            raise CinderError(400, f"Bad key(s) in quota set: {','.join(bad)}")
        for key, value in changes.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < -1 or \
                    value > 2 ** 31:
                raise CinderError(400, f'Invalid input received: Quota {key} must be an '
                                  'integer greater than or equal to -1.')
        self.cloud.cinder.set_quota(target_id, **changes)
        quota_set = self._quota_set(target_id)
        quota_set.pop('id')
        return self._ok(request, request_id, {'quota_set': quota_set})
