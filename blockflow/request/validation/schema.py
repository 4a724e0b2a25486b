"""JSON schemas of ``POST /servers``, per compute microversion, as Nova 34 has them.

The block-device parts are exact (patterns, bounds, which keys exist at which
microversion). Server keys that do not concern block devices (networks,
metadata, ...) are accepted with Nova's types so that a real request body
validates, and then ignored. Validation behaves like Nova's
``_SchemaValidator``: Draft 2020-12, numeric strings honour minimum/maximum,
the first error found is reported in Nova's words.
"""

import base64
import binascii
import copy
import functools

import jsonschema
from oslo_utils import uuidutils

from blockflow import exceptions

_FORMAT_CHECKER = jsonschema.FormatChecker()


@_FORMAT_CHECKER.checks('uuid')
def _is_uuid(instance):
    return not isinstance(instance, str) or uuidutils.is_uuid_like(instance)


@_FORMAT_CHECKER.checks('base64')
def _is_base64(instance):
    if not isinstance(instance, str):
        return True
    try:
        base64.b64decode(instance, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


@_FORMAT_CHECKER.checks('name')
def _is_name(instance):
    # Nova: printable, no leading or trailing whitespace.
    if not isinstance(instance, str):
        return True
    return instance == instance.strip() and instance.isprintable()


# --- parameter types (nova/api/validation/parameter_types.py) ---------------

BOOLEAN = {
    'type': ['boolean', 'string'],
    'enum': [True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on',
             'YES', 'Yes', 'yes',
             False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off',
             'NO', 'No', 'no'],
}
POSITIVE_INTEGER = {'type': ['integer', 'string'], 'pattern': '^[0-9]*$',
                    'minimum': 1, 'minLength': 1}
NAME = {'type': 'string', 'minLength': 1, 'maxLength': 255, 'format': 'name'}
IMAGE_ID = {'type': 'string', 'format': 'uuid'}
IMAGE_ID_OR_EMPTY = {'oneOf': [{'type': 'string', 'format': 'uuid'},
                               {'type': 'string', 'maxLength': 0}]}
VOLUME_ID = {'type': 'string', 'format': 'uuid'}
VOLUME_TYPE = {'type': ['string', 'null'], 'minLength': 0, 'maxLength': 255}
FLAVOR_REF = {'type': ['string', 'integer'], 'minLength': 1}
VOLUME_SIZE = {'type': ['integer', 'string'], 'pattern': '^[0-9]+$',
               'minimum': 1, 'maximum': 0x7FFFFFFF}
MAX_TAG_LENGTH = 60
TAG = {'type': 'string', 'pattern': '^[^,/]*$', 'minLength': 1,
       'maxLength': MAX_TAG_LENGTH}
METADATA = {'type': 'object',
            'patternProperties': {'^[a-zA-Z0-9-_:. ]{1,255}$':
                                  {'type': 'string', 'maxLength': 255}},
            'additionalProperties': False}
DESCRIPTION = {'type': ['string', 'null'], 'minLength': 0, 'maxLength': 255}
ANY_STRING = {'type': 'string', 'maxLength': 255}

# --- block device mappings (nova/api/openstack/compute/schemas/servers.py) -----

LEGACY_BDM = {
    'type': 'object',
    'properties': {
        'virtual_name': {'type': 'string', 'maxLength': 255},
        'volume_id': VOLUME_ID,
        'snapshot_id': IMAGE_ID,
        'volume_size': VOLUME_SIZE,
        'device_name': {'type': 'string', 'minLength': 1, 'maxLength': 255,
                        'pattern': '^[a-zA-Z0-9._/-]*$'},
        'delete_on_termination': BOOLEAN,
        'no_device': {},
        'connection_info': {'type': 'string', 'maxLength': 16777215},
    },
    'additionalProperties': False,
}

SOURCE_TYPES = ['volume', 'image', 'snapshot', 'blank']
BDM_V2 = copy.deepcopy(LEGACY_BDM)
BDM_V2['properties'].update({
    'source_type': {'type': 'string', 'enum': SOURCE_TYPES},
    'uuid': {'type': 'string', 'minLength': 1, 'maxLength': 255,
             'pattern': '^[a-zA-Z0-9._-]*$'},
    'image_id': IMAGE_ID,
    'destination_type': {'type': 'string', 'enum': ['local', 'volume']},
    'guest_format': {'type': 'string', 'maxLength': 255},
    'device_type': {'type': 'string', 'maxLength': 255},
    'disk_bus': {'type': 'string', 'maxLength': 255},
    'boot_index': {'type': ['integer', 'string', 'null'], 'pattern': '^-?[0-9]+$'},
})

_NETWORK_ITEM = {
    'type': 'object',
    'properties': {'fixed_ip': {'type': 'string'},
                   'port': {'type': ['string', 'null'], 'format': 'uuid'},
                   'uuid': {'type': 'string'}},
    'additionalProperties': False,
}
_SECURITY_GROUPS = {'type': 'array', 'items': {
    'type': 'object', 'properties': {'name': NAME}, 'additionalProperties': False}}
_HINTS = {'type': 'object', 'additionalProperties': True}

CREATE = {
    'type': 'object',
    'properties': {
        'server': {
            'type': 'object',
            'properties': {
                'name': NAME,
                'imageRef': IMAGE_ID_OR_EMPTY,
                'flavorRef': FLAVOR_REF,
                'adminPass': {'type': 'string', 'maxLength': 255},
                'metadata': METADATA,
                'networks': {'type': 'array', 'items': _NETWORK_ITEM},
                'OS-DCF:diskConfig': {'type': 'string', 'enum': ['AUTO', 'MANUAL']},
                'accessIPv4': {'type': 'string'},
                'accessIPv6': {'type': 'string'},
                'personality': {'type': 'array', 'items': {'type': 'object'}},
                'availability_zone': NAME,
                'block_device_mapping': {'type': 'array', 'items': LEGACY_BDM},
                'block_device_mapping_v2': {'type': 'array', 'items': BDM_V2},
                'config_drive': BOOLEAN,
                'key_name': NAME,
                'min_count': POSITIVE_INTEGER,
                'max_count': POSITIVE_INTEGER,
                'return_reservation_id': BOOLEAN,
                'security_groups': _SECURITY_GROUPS,
                'user_data': {'type': 'string', 'format': 'base64', 'maxLength': 65535},
            },
            'required': ['name', 'flavorRef'],
            'additionalProperties': False,
        },
        'os:scheduler_hints': _HINTS,
        'OS-SCH-HNT:scheduler_hints': _HINTS,
    },
    'required': ['server'],
    'additionalProperties': False,
}


def _server(schema):
    return schema['properties']['server']


def _bdm_v2_props(schema):
    return _server(schema)['properties']['block_device_mapping_v2']['items']['properties']


def _derive(base, change):
    schema = copy.deepcopy(base)
    change(schema)
    return schema


def _networks_oneof(with_tag):
    item = {'type': 'object',
            'properties': {'fixed_ip': {'type': 'string'},
                           'port': {'type': ['string', 'null'], 'format': 'uuid'},
                           'uuid': {'type': 'string', 'format': 'uuid'}},
            'additionalProperties': False}
    if with_tag:
        item['properties']['tag'] = TAG
    return {'oneOf': [{'type': 'array', 'items': item},
                      {'type': 'string', 'enum': ['none', 'auto']}]}


def _v219(s):
    _server(s)['properties']['description'] = DESCRIPTION


def _v232(s):
    _server(s)['properties']['networks']['items']['properties']['tag'] = TAG
    _bdm_v2_props(s)['tag'] = TAG


def _v233(s):
    _server(s)['properties']['networks']['items']['properties']['tag'] = TAG


def _v237(s):
    _server(s)['required'].append('networks')
    _server(s)['properties']['networks'] = _networks_oneof(with_tag=False)


def _v242(s):
    _server(s)['properties']['networks'] = _networks_oneof(with_tag=True)
    _bdm_v2_props(s)['tag'] = TAG


def _v252(s):
    _server(s)['properties']['tags'] = {'type': 'array', 'items': TAG, 'maxItems': 50}


def _v257(s):
    _server(s)['properties'].pop('personality')


def _v263(s):
    _server(s)['properties']['trusted_image_certificates'] = {
        'type': ['array', 'null'], 'minItems': 1, 'maxItems': 50, 'uniqueItems': True,
        'items': {'type': 'string', 'minLength': 1}}


def _v267(s):
    _bdm_v2_props(s)['volume_type'] = VOLUME_TYPE


def _v274(s):
    _server(s)['properties']['host'] = ANY_STRING
    _server(s)['properties']['hypervisor_hostname'] = ANY_STRING


def _v290(s):
    _server(s)['properties']['hostname'] = ANY_STRING


# (first microversion, base it derives from, change); mirrors the
# @validation.schema stack on ServersController.create.
_VERSIONS = {}
_VERSIONS['2.1'] = CREATE
_VERSIONS['2.19'] = _derive(CREATE, _v219)
_VERSIONS['2.32'] = _derive(_VERSIONS['2.19'], _v232)
_VERSIONS['2.33'] = _derive(_VERSIONS['2.19'], _v233)
_VERSIONS['2.37'] = _derive(_VERSIONS['2.33'], _v237)
_VERSIONS['2.42'] = _derive(_VERSIONS['2.37'], _v242)
_VERSIONS['2.52'] = _derive(_VERSIONS['2.42'], _v252)
_VERSIONS['2.57'] = _derive(_VERSIONS['2.52'], _v257)
_VERSIONS['2.63'] = _derive(_VERSIONS['2.57'], _v263)
_VERSIONS['2.67'] = _derive(_VERSIONS['2.63'], _v267)
_VERSIONS['2.74'] = _derive(_VERSIONS['2.67'], _v274)
_VERSIONS['2.90'] = _derive(_VERSIONS['2.74'], _v290)

_ORDERED = sorted(_VERSIONS, key=lambda v: tuple(int(p) for p in v.split('.')))


def create_schema(version, enable_backup_source=False):
    """The create schema in force at ``version`` (an APIVersion)."""
    chosen = _ORDERED[0]
    for candidate in _ORDERED:
        if version >= candidate:
            chosen = candidate
    return _schema(chosen, enable_backup_source)


@functools.lru_cache(maxsize=None)
def _schema(key, enable_backup_source):
    schema = _VERSIONS[key]
    if enable_backup_source:
        # The seed's Nova fork: source_type "backup" with the backup in uuid.
        schema = copy.deepcopy(schema)
        props = _bdm_v2_props(schema)
        props['source_type'] = dict(props['source_type'],
                                    enum=SOURCE_TYPES + ['backup'])
        props['backup_id'] = VOLUME_ID
    return schema


def _number_from_str(instance):
    for convert in (int, float):
        try:
            return convert(instance)
        except (ValueError, TypeError, OverflowError):
            continue
    return None


def _numeric_string_aware(keyword):
    original = jsonschema.Draft202012Validator.VALIDATORS[keyword]

    def check(validator, bound, instance, schema):
        number = _number_from_str(instance) if not isinstance(instance, bool) else None
        if number is None:
            return
        yield from original(validator, bound, number, schema) or ()
    return check


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    {'minimum': _numeric_string_aware('minimum'),
     'maximum': _numeric_string_aware('maximum')})


def validate(body, version, enable_backup_source=False):
    """Raise exceptions.ValidationError in Nova's words, or return None."""
    validator = _Validator(create_schema(version, enable_backup_source),
                           format_checker=_FORMAT_CHECKER)
    try:
        error = next(iter(validator.iter_errors(body)), None)
    except (TypeError, RecursionError) as exc:
        raise exceptions.ValidationError(detail=f'Invalid input: {exc}')
    if error is None:
        return
    if len(error.path) > 0:
        detail = ('Invalid input for field/attribute %(path)s. '
                  'Value: %(value)s. %(message)s' % {
                      'path': error.path.pop(), 'value': _short(error.instance),
                      'message': error.message})
    else:
        detail = error.message
    raise exceptions.ValidationError(detail=_short(detail, 2000))


def _short(value, limit=500):
    try:
        text = str(value)
    except RecursionError:
        text = f'<{type(value).__name__} nested too deeply>'
    return text if len(text) <= limit else text[:limit] + '...'
