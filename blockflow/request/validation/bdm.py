"""Nova's BlockDeviceDict: from_api, from_legacy and their checks (nova/block_device.py).

Input items have already passed the JSON schema. Output dicts carry every
field of Nova's ``bdm_new_fields`` (missing ones None), with Nova's coercions:
``/dev/`` prepended to device names, booleans parsed, sizes and boot indexes
made integers.
"""

import re

from oslo_utils import strutils

from blockflow import exceptions
from blockflow.request import atom_names

BDM_NEW_FIELDS = frozenset({
    'source_type', 'destination_type', 'guest_format', 'device_type',
    'disk_bus', 'boot_index', 'device_name', 'delete_on_termination',
    'snapshot_id', 'volume_id', 'volume_size', 'image_id', 'no_device',
    'connection_info', 'tag', 'volume_type', 'encrypted',
    'encryption_secret_uuid', 'encryption_format', 'encryption_options'})
BDM_DB_ONLY_FIELDS = frozenset({'id', 'instance_uuid', 'attachment_id', 'uuid'})
BDM_DB_INHERITED_FIELDS = frozenset({'created_at', 'updated_at', 'deleted_at',
                                     'deleted'})
BDM_LEGACY_FIELDS = frozenset({'device_name', 'delete_on_termination',
                               'virtual_name', 'snapshot_id', 'volume_id',
                               'volume_size', 'no_device', 'connection_info'})
# The seed's Nova fork adds backup_id; only present when the extension is on.
BACKUP_FIELDS = frozenset({'backup_id'})

DEFAULT_EPHEMERAL_FORMAT = None  # Nova's [DEFAULT]default_ephemeral_format
_EPHEMERAL_RE = re.compile(r'^ephemeral(\d|[1-9]\d+)$')


def _invalid(details):
    return exceptions.InvalidBDMFormat(details=details)


prepend_dev = atom_names.prepend_dev
strip_dev = atom_names.strip_dev


def validate_device_name(value):
    if not isinstance(value, str) or not 1 <= len(value) <= 255:
        raise _invalid('Device name empty or too long.')
    if ' ' in value:
        raise _invalid('Device name contains spaces.')


def validate_and_default_volume_size(bdm):
    size = bdm.get('volume_size')
    if size:
        try:
            if isinstance(size, bool):
                raise ValueError(size)
            value = int(str(size).strip())
        except (ValueError, TypeError):
            raise _invalid('Invalid volume_size.')
        if value < 0:
            raise _invalid('Invalid volume_size.')
        bdm['volume_size'] = value


def _validate(bdm, extra_fields=frozenset()):
    fields = set(bdm)
    valid = BDM_NEW_FIELDS | BDM_DB_ONLY_FIELDS | BDM_DB_INHERITED_FIELDS | extra_fields
    if not fields <= valid:
        raise _invalid('Following fields are invalid: %s' % ' '.join(
            sorted(fields - valid)))
    if bdm.get('no_device'):
        return
    if 'source_type' not in fields:
        raise _invalid('Some required fields are missing')
    if 'delete_on_termination' in bdm:
        bdm['delete_on_termination'] = strutils.bool_from_string(
            bdm['delete_on_termination'])
    if bdm.get('device_name') is not None:
        validate_device_name(bdm['device_name'])
    validate_and_default_volume_size(bdm)
    if bdm.get('boot_index'):
        bdm['boot_index'] = _boot_index(bdm['boot_index'])


def _build(bdm, do_not_default=frozenset(), extra_fields=frozenset()):
    _validate(bdm, extra_fields)
    if bdm.get('device_name'):
        bdm['device_name'] = prepend_dev(bdm['device_name'])
    bdm['delete_on_termination'] = bool(bdm.get('delete_on_termination'))
    result = {field: None for field in (BDM_NEW_FIELDS | extra_fields) - do_not_default}
    result.update(bdm)
    # Nova keeps a falsy boot_index as given ("0", 0.0: the check above only
    # converts truthy ones); its BDM object makes it an int later.
    boot_index = result.get('boot_index')
    if isinstance(boot_index, str):
        result['boot_index'] = _boot_index(boot_index)
    elif isinstance(boot_index, float):
        result['boot_index'] = int(boot_index)
    return result


def _boot_index(value):
    try:
        return int(value)
    except (ValueError, TypeError, OverflowError):
        # ValueError also for strings past Python's int digit limit.
        raise _invalid('Boot index is invalid.')


def build(bdm_dict, do_not_default=frozenset()):
    """Nova's ``BlockDeviceDict(bdm_dict)``: validated, every field present."""
    return _build(dict(bdm_dict), do_not_default)


def from_api(api_dict, image_uuid_specified, enable_backup_source=False):
    """One ``block_device_mapping_v2`` item → a normalised BDM dict."""
    bdm = dict(api_dict)
    extra = BACKUP_FIELDS if enable_backup_source else frozenset()
    if not bdm.get('no_device'):
        source_type = bdm.get('source_type')
        device_uuid = bdm.get('uuid')
        destination_type = bdm.get('destination_type')
        volume_type = bdm.get('volume_type')
        if source_type == 'blank' and device_uuid:
            raise _invalid('Invalid device UUID.')
        elif source_type != 'blank':
            if not device_uuid:
                raise _invalid('Missing device UUID.')
            if source_type is None:
                # Nova would store a "None_id" key and fail with a 500.
                raise _invalid('Some required fields are missing: source_type '
                               'must be given with uuid.')
            bdm[source_type + '_id'] = device_uuid
        if source_type == 'image' and destination_type == 'local':
            boot_index = bdm.get('boot_index', -1)
            # Nova's int() here fails with a 500 on a too long digit string.
            boot_index = -1 if boot_index is None else _boot_index(boot_index)
            if not (image_uuid_specified and boot_index == 0):
                raise _invalid('Mapping image to local is not supported.')
        if destination_type == 'local' and volume_type:
            raise _invalid('Specifying a volume_type with destination_type='
                           'local is not supported.')
        if source_type == 'volume' and volume_type:
            raise _invalid('Specifying volume type to existing volume is '
                           'not supported.')
    bdm.pop('uuid', None)
    return _build(bdm, extra_fields=extra)


def is_ephemeral(virtual_name):
    return bool(virtual_name) and _EPHEMERAL_RE.match(virtual_name) is not None


def from_legacy(legacy_bdm):
    """One legacy ``block_device_mapping`` item → a normalised BDM dict."""
    copy_over = (BDM_LEGACY_FIELDS & BDM_NEW_FIELDS) | BDM_DB_ONLY_FIELDS | \
        BDM_DB_INHERITED_FIELDS
    non_computable = frozenset({'boot_index', 'disk_bus', 'guest_format',
                                'device_type'})
    new = {k: v for k, v in legacy_bdm.items() if k in copy_over}
    virtual_name = legacy_bdm.get('virtual_name')
    if virtual_name == 'swap' or is_ephemeral(virtual_name):
        new.update(source_type='blank', delete_on_termination=True,
                   destination_type='local',
                   guest_format='swap' if virtual_name == 'swap'
                   else DEFAULT_EPHEMERAL_FORMAT)
    elif legacy_bdm.get('snapshot_id'):
        new.update(source_type='snapshot', destination_type='volume')
    elif legacy_bdm.get('volume_id'):
        new.update(source_type='volume', destination_type='volume')
    elif legacy_bdm.get('no_device'):
        pass
    else:
        raise _invalid('Unrecognized legacy format.')
    result = _build(new, do_not_default=non_computable)
    for field in non_computable:
        result.setdefault(field, None)
    return result


def from_legacy_mapping(legacy_bdms, image_uuid='', root_device_name=None,
                        no_root=False):
    """Nova's from_legacy_mapping: legacy list → new-format list with boot indexes.

    ``no_root``: the image's own mappings hold the root, none is chosen here.
    """
    new_bdms = [from_legacy(item) for item in legacy_bdms]
    if no_root:
        for bdm in new_bdms:
            bdm['boot_index'] = -1
        return new_bdms
    image_bdm = None
    volume_backed = False
    if not root_device_name and not image_uuid:
        non_blank = [b for b in new_bdms if b['source_type'] != 'blank']
        if non_blank:
            non_blank[0]['boot_index'] = 0
    else:
        for bdm in new_bdms:
            if (bdm['source_type'] in ('volume', 'snapshot', 'image')
                    and root_device_name is not None
                    and strip_dev(bdm.get('device_name')) == strip_dev(root_device_name)):
                bdm['boot_index'] = 0
                volume_backed = True
            elif not bdm['no_device']:
                bdm['boot_index'] = -1
            else:
                bdm['boot_index'] = None
        if not volume_backed and image_uuid:
            image_bdm = create_image_bdm(image_uuid)
    return ([image_bdm] if image_bdm else []) + new_bdms


def create_image_bdm(image_ref, boot_index=0):
    return _build({'source_type': 'image', 'image_id': image_ref,
                   'delete_on_termination': True, 'boot_index': boot_index,
                   'device_type': 'disk', 'destination_type': 'local'})


def create_blank_bdm(size, guest_format=None):
    return _build({'source_type': 'blank', 'delete_on_termination': True,
                   'device_type': 'disk', 'boot_index': -1,
                   'destination_type': 'local', 'guest_format': guest_format,
                   'volume_size': size})


_DEVICE_PREFIX = re.compile(r'^((x?v|s|h)d)')
_DIGITS = re.compile(r'\d+')


def get_device_letter(device_name):
    """'/dev/vda1' -> 'a' (Nova's get_device_letter: no /dev/, prefix, digits)."""
    if not device_name:
        return device_name
    letter = _DEVICE_PREFIX.sub('', strip_dev(device_name))
    return _DIGITS.sub('', letter)


def is_swap_or_ephemeral(virtual_name):
    return bool(virtual_name) and (virtual_name == 'swap' or is_ephemeral(virtual_name))


def properties_root_device_name(properties):
    """The image's root device name: ``mappings`` 'root' entry, then ``root_device_name``."""
    root_device_name = None
    for mapping in properties.get('mappings', []):
        if mapping['virtual'] == 'root':
            root_device_name = mapping['device']
    if 'root_device_name' in properties:
        root_device_name = properties['root_device_name']
    return root_device_name
