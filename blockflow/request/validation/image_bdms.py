"""Block devices an image defines, merged with the request's (nova/compute/api.py).

A snapshot of a volume-backed server is an image whose properties carry its
block device mappings: ``block_device_mapping`` (legacy items, or new-format
ones when ``bdm_v2`` is set), ``mappings`` (EC2-style swap/ephemeral entries)
and ``root_device_name``. Nova turns them into BDMs
(``_get_image_defined_bdms``) and merges the request's over them by device name
(``_merge_bdms_lists``). Image properties are not schema-checked anywhere in
Nova: entries of the wrong shape make it fail with a 500; here they are refused
as ImageUnacceptable, naming the property.
"""

from blockflow import exceptions
from blockflow.request import atom_names
from blockflow.request.validation import bdm as bdm_module

# Fields of an image-defined BDM that Nova reads as text.
_TEXT_FIELDS = ('source_type', 'destination_type', 'guest_format',
                'device_type', 'disk_bus', 'device_name', 'snapshot_id',
                'volume_id', 'image_id', 'volume_type', 'tag', 'virtual_name',
                'encryption_secret_uuid', 'encryption_format',
                'encryption_options')
_NUMBER_FIELDS = ('boot_index', 'volume_size')


def _unacceptable(image_meta, reason):
    return exceptions.ImageUnacceptable(image_id=image_meta.get('id'),
                                        reason=reason)


def _list_property(image_meta, name):
    value = (image_meta.get('properties') or {}).get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _unacceptable(image_meta, f'image property {name} must be a '
                                        f'list, not {type(value).__name__}')
    return value


def _checked_entry(image_meta, name, index, entry):
    where = f'image property {name}[{index}]'
    if not isinstance(entry, dict):
        raise _unacceptable(image_meta, f'{where} must be an object')
    for field in _TEXT_FIELDS:
        if entry.get(field) is not None and not isinstance(entry[field], str):
            raise _unacceptable(image_meta, f'{where}: {field} must be text')
    for field in _NUMBER_FIELDS:
        value = entry.get(field)
        if value is not None and (isinstance(value, bool) or
                                  not isinstance(value, (int, str))):
            raise _unacceptable(image_meta, f'{where}: {field} must be an '
                                            'integer')
    return dict(entry)


def image_mappings(image_meta):
    """The ``mappings`` property, each entry checked to have text virtual/device."""
    entries = _list_property(image_meta, 'mappings')
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not all(
                isinstance(entry.get(key), str) for key in ('virtual', 'device')):
            raise _unacceptable(image_meta, f'image property mappings[{index}] '
                                            'needs text "virtual" and "device"')
    return entries


def root_device_name(image_meta):
    """Nova's base_options root_device_name: from the image, with /dev/, or None."""
    properties = dict(image_meta.get('properties') or {})
    properties['mappings'] = image_mappings(image_meta)
    name = properties.get('root_device_name')
    if name is not None and not isinstance(name, str):
        raise _unacceptable(image_meta, 'image property root_device_name '
                                        'must be text')
    name = bdm_module.properties_root_device_name(properties)
    return bdm_module.prepend_dev(name) if name else name


def _volume_size(flavor, bdm):
    """compute.API._volume_size: local blanks without a size take the flavor's."""
    size = bdm.get('volume_size')
    if size is None and bdm.get('source_type') == 'blank' \
            and bdm.get('destination_type') == 'local':
        key = 'swap' if bdm.get('guest_format') == 'swap' else 'ephemeral_gb'
        size = (flavor or {}).get(key, 0)
    return size


def _prepare_image_mapping(flavor, mappings):
    """compute.API._prepare_image_mapping: swap/ephemeral entries → blank local BDMs."""
    prepared = []
    for mapping in mappings:
        virtual = mapping['virtual']
        if virtual in ('ami', 'root') or not bdm_module.is_swap_or_ephemeral(virtual):
            continue
        device = mapping['device']
        if not device.startswith('/'):
            device = atom_names.prepend_dev(device)      # mappings_prepend_dev
        guest_format = 'swap' if virtual == 'swap' else mapping.get('guest_format')
        bdm = bdm_module.build({
            'device_name': device, 'source_type': 'blank',
            'destination_type': 'local', 'device_type': 'disk',
            'guest_format': guest_format or bdm_module.DEFAULT_EPHEMERAL_FORMAT,
            'delete_on_termination': True, 'boot_index': -1})
        bdm['volume_size'] = _volume_size(flavor, bdm)
        if bdm['volume_size'] == 0:
            continue
        prepared.append(bdm)
    return prepared


def merge(overridable, overrider):
    """_merge_bdms_lists: ``overrider`` plus the ``overridable`` whose names it lacks."""
    names = {bdm['device_name'] for bdm in overrider if bdm.get('device_name')}
    return list(overrider) + [bdm for bdm in overridable
                              if bdm.get('device_name') not in names]


def image_defined_bdms(flavor, image_meta, root_name):
    """_get_image_defined_bdms: the image's BDMs, its mappings merged under them."""
    properties = image_meta.get('properties') or {}
    entries = [_checked_entry(image_meta, 'block_device_mapping', index, entry)
               for index, entry in enumerate(
                   _list_property(image_meta, 'block_device_mapping'))]
    # Any truthy bdm_v2 (Glance keeps it as text: even "False") means v2.
    if not properties.get('bdm_v2', False):
        bdms = bdm_module.from_legacy_mapping(entries, None, root_name)
    else:
        bdms = [bdm_module.build(entry) for entry in entries]
    mappings = image_mappings(image_meta)
    if mappings:
        bdms = merge(_prepare_image_mapping(flavor, mappings), bdms)
    return bdms
