"""Volume type handlers of the embedded cloud (a mixin of ``app.CloudApp``).

Anyone lists and shows types; admins create, key and delete them, as Cinder's
default policy. ``__DEFAULT__`` is what a volume created with no type gets.
"""

import uuid

from blockflow.cloud import validation
from blockflow.cloud.volumes import CinderError

DEFAULT_TYPE_NAME = '__DEFAULT__'
DEFAULT_TYPE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, DEFAULT_TYPE_NAME))
MANAGE_POLICY = 'volume_extension:types_manage'
SPECS_POLICY = 'volume_extension:types_extra_specs:create'


def seed_default_type(store):
    """Cinder's ``__DEFAULT__`` type (what a volume created with no type gets)."""
    if store.get('types', DEFAULT_TYPE_ID) is None:
        store.put('types', {'id': DEFAULT_TYPE_ID, 'name': DEFAULT_TYPE_NAME,
                            'extra_specs': {'blockflow:backend': 'local'},
                            'is_public': True, 'description': 'Default Volume Type'})


class TypeHandlers:
    def types_list(self, request, request_id, project_id):
        self._cinder(request, request_id, project_id, 'type.list')
        return self._ok(request, request_id, {'volume_types': self.cloud.store.list('types')})

    def type_create(self, request, request_id, project_id):
        self._admin_only(request, request_id, project_id, 'type.create',
                         'volume_extension:types_manage')
        spec = self._element(request, 'volume_type')
        name = validation.optional_string(spec, 'name')
        description = validation.optional_string(spec, 'description')
        if not name or not name.strip():
            raise CinderError(400, 'Volume type name can not be empty.')
        specs = spec.get('extra_specs') or {}
        validation.check_metadata(specs)
        public = spec.get('os-volume-type-access:is_public', True)
        public = validation.strict_bool('os-volume-type-access:is_public', public)
        with self.cloud.store.lock:
            if self.cloud.cinder.volume_type(name) is not None:
                raise CinderError(409, f'Volume Type {name} already exists.')
            vtype = self.cloud.store.put('types', {
                'id': str(uuid.uuid4()), 'name': name, 'description': description,
                'is_public': public, 'extra_specs': dict(specs)})
        view = dict(vtype)
        view['os-volume-type-access:is_public'] = public
        return self._ok(request, request_id, {'volume_type': view})

    def type_extra_specs(self, request, request_id, project_id, type_id):
        self._cinder(request, request_id, project_id, 'type.get')
        vtype = self.cloud.cinder.volume_type(type_id)
        if vtype is None:
            raise CinderError(404, f'Volume type {type_id} could not be found.')
        return self._ok(request, request_id, {'extra_specs': vtype['extra_specs']})

    def type_default(self, request, request_id, project_id):
        self._cinder(request, request_id, project_id, 'type.get')
        return self._ok(request, request_id, {'volume_type': self.cloud.store.get(
            'types', DEFAULT_TYPE_ID)})

    def type_show(self, request, request_id, project_id, type_id):
        self._cinder(request, request_id, project_id, 'type.get')
        vtype = self.cloud.cinder.volume_type(type_id)
        if vtype is None:
            raise CinderError(404, f'Volume type {type_id} could not be found.')
        return self._ok(request, request_id, {'volume_type': vtype})

    def _known_type(self, type_id):
        vtype = self.cloud.cinder.volume_type(type_id)
        if vtype is None:
            raise CinderError(404, f'Volume type {type_id} could not be found.')
        return vtype

    def type_extra_specs_set(self, request, request_id, project_id, type_id):
        self._admin_only(request, request_id, project_id, 'type.update', SPECS_POLICY)
        vtype = self._known_type(type_id)
        body = self._body(request)
        specs = body.get('extra_specs') if isinstance(body, dict) else None
        if not isinstance(specs, dict):
            raise CinderError(400, 'Missing required element extra_specs in request body.')
        validation.check_metadata(specs)
        self.cloud.store.update('types', vtype['id'],
                                extra_specs=dict(vtype['extra_specs'], **specs))
        return self._ok(request, request_id, {'extra_specs': specs})

    def type_delete(self, request, request_id, project_id, type_id):
        self._admin_only(request, request_id, project_id, 'type.delete', MANAGE_POLICY)
        vtype = self._known_type(type_id)
        if vtype['id'] == DEFAULT_TYPE_ID:
            raise CinderError(400, 'Default volume type can not be deleted.')
        in_use = self.cloud.store.field('volumes', 'id',
                                        where=lambda v: v.get('volume_type_id') == vtype['id'])
        if in_use:
            raise CinderError(400, 'Target volume type is still in use.')
        self.cloud.store.delete('types', vtype['id'])
        return self._ok(request, request_id, None, 202)
