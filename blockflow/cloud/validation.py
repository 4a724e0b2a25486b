"""Request checks of the embedded cloud: bodies, microversions, ids, sizes.

Each turns bad input into the 400 Cinder answers, never a traceback.
"""

import json
import re

from blockflow.cloud.volumes import CinderError

MIN_VERSION = (3, 0)
MAX_VERSION = (3, 71)
MAX_JSON_DEPTH = 32
# Cinder's APIVersionRequest pattern; a few digits are plenty for any real version.
_VERSION_RE = re.compile(r'^([1-9]\d{0,5})\.([1-9]\d{0,5}|0)$')
_LONG_VERSION_RE = re.compile(r'^\d+\.\d+$')
SOURCE_KEYS = ('snapshot_id', 'imageRef', 'source_volid', 'backup_id')
MULTIATTACH_REMOVED = ('multiattach parameter has been removed. The default behavior is to '
                       'use multiattach enabled volume types. Contact your administrator to '
                       'create a multiattach enabled volume type and use it to create '
                       'multiattach volumes.')


def _depth_ok(value, limit=MAX_JSON_DEPTH):
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def parse_body(raw):
    """The JSON body (None when empty); 400 when it is not JSON or nests too deep."""
    if not raw:
        return None
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise CinderError(400, 'Malformed request body')
    if not _depth_ok(body):
        raise CinderError(400, 'Malformed request body')
    return body


def microversion(header):
    """Cinder's reading of ``OpenStack-API-Version`` (``None`` when absent)."""
    if header is None:
        return MIN_VERSION
    volume_version = None
    for part in header.split(','):
        if 'volume' in part:
            words = part.split()
            if len(words) != 2:
                raise CinderError(400, f'API Version String {part.strip()} is of invalid '
                                  'format. Must be of format MajorNum.MinorNum.')
            volume_version = words[1]
            break
    if not volume_version:
        raise CinderError(400, 'API version None is not supported on this method.')
    if volume_version == 'latest':
        return MAX_VERSION
    match = _VERSION_RE.match(volume_version)
    if not match:
        if _LONG_VERSION_RE.match(volume_version) and not volume_version.startswith('0'):
            raise CinderError(406, 'Version is not supported by the API. Minimum is '
                              '3.0 and maximum is 3.71.')
        raise CinderError(400, f'API Version String {volume_version} is of invalid format. '
                          'Must be of format MajorNum.MinorNum.')
    version = (int(match.group(1)), int(match.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise CinderError(406, f'Version {version[0]}.{version[1]} is not supported by '
                          'the API. Minimum is 3.0 and maximum is 3.71.')
    return version


def optional_string(spec, key, max_length=255):
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise CinderError(400, f'Invalid input for field/attribute {key}. Value: {value}. '
                          f'{key} must be a string of at most {max_length} characters.')
    return value


def volume_id_field(spec, key):
    """An id given in a body: a string or nothing (objects/arrays are a 400)."""
    value = spec.get(key)
    if value is None or value == '':
        return None
    if not isinstance(value, str) or len(value) > 255:
        raise CinderError(400, f'Invalid input for field/attribute {key}. Value: {value}. '
                          f'{value!r} is not of type \'string\'')
    return value


def check_volume_create(spec):
    """The schema checks of Cinder's volume create body we model."""
    for key in ('name', 'description', 'display_name', 'display_description'):
        optional_string(spec, key)
    for key in SOURCE_KEYS + ('volume_type', 'availability_zone'):
        volume_id_field(spec, key)
    size = spec.get('size')
    if size is not None:
        if isinstance(size, str) and size.isdigit() and len(size) <= 12:
            spec['size'] = int(size)
        elif isinstance(size, bool) or not isinstance(size, int):
            raise CinderError(400, f'Invalid input for field/attribute size. Value: {size}. '
                              f"{size!r} does not match '^[0-9]+$'")
        elif size > 2 ** 31:
            raise CinderError(400, f'Invalid input for field/attribute size. Value: {size}. '
                              f'{size} is greater than the maximum of 2147483647')
    metadata = spec.get('metadata')
    if metadata is not None:
        check_metadata(metadata)
    multiattach = spec.get('multiattach')
    if multiattach is True or str(multiattach).lower() in ('true', '1', 'yes', 'on', 'y'):
        raise CinderError(400, MULTIATTACH_REMOVED)
    spec.pop('multiattach', None)


def check_volume_update(spec):
    """Cinder's volume update schema: names, descriptions, metadata; nothing else."""
    allowed = ('name', 'description', 'display_name', 'display_description', 'metadata')
    unexpected = sorted(str(k)[:64] for k in spec if k not in allowed)
    if unexpected:
        listed = ', '.join(repr(k) for k in unexpected)
        raise CinderError(400, 'Invalid input for field/attribute volume. Value: '
                          f'{str(spec)[:256]}. Additional properties are not allowed '
                          f"({listed} {'was' if len(unexpected) == 1 else 'were'} "
                          'unexpected)')
    for key in allowed[:4]:
        optional_string(spec, key)
    if 'metadata' in spec:
        check_metadata(spec['metadata'])


def strict_bool(name, value):
    """oslo's bool_from_string(strict=True) of a body flag."""
    if isinstance(value, bool):
        return value
    words = {'1': True, 't': True, 'true': True, 'on': True, 'y': True, 'yes': True,
             '0': False, 'f': False, 'false': False, 'off': False, 'n': False, 'no': False}
    if isinstance(value, str) and value.strip().lower() in words:
        return words[value.strip().lower()]
    raise CinderError(400, f'Invalid input for field/attribute {name}. Value: '
                      f'{str(value)[:64]}. It must be a boolean.')


def check_metadata(metadata):
    if not isinstance(metadata, dict):
        raise CinderError(400, 'Invalid input received: metadata must be a dict')
    for key, value in metadata.items():
        if not key or len(key) > 255:
            raise CinderError(400, 'Invalid input received: Metadata property key '
                              'blank or greater than 255 characters.')
        if not isinstance(value, str) or len(value) > 255:
            raise CinderError(400, 'Invalid input received: Metadata property value '
                              'must be a string of at most 255 characters.')


def query_metadata(raw):
    """``?metadata={"k": "v"}`` (quotes as cinderclient sends them): a flat dict."""
    try:
        meta = json.loads(raw.replace("'", '"'))
    except (ValueError, RecursionError):
        raise CinderError(400, 'Invalid filter metadata')
    if not isinstance(meta, dict) or not all(isinstance(v, (str, int, float))
                                             for v in meta.values()):
        raise CinderError(400, 'Invalid filter metadata')
    return {str(k): str(v) for k, v in meta.items()}


def non_negative_int(name, raw):
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 12:
        raise CinderError(400, f"Invalid input received: {name} must be an integer "
                          'greater than or equal to 0')
    return int(raw)
