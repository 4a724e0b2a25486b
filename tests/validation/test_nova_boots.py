"""The requests Nova users send most, and Nova's answer to each.

Each test names where Nova (openstack/nova @ 00a0304, Nova 34) decides:
``nova/compute/api.py`` (_check_and_transform_bdm, _get_image_defined_bdms,
_validate_bdm, _get_volumes_for_bdms), ``nova/block_device.py``
(from_legacy_mapping, get_bdm_image_metadata), ``nova/api/openstack/wsgi.py``.
"""

import copy
import json

import pytest

from blockflow import exceptions
from blockflow.request.validation import catalog as catalog_module
from tests.validation.test_rules import (BOOT_VOLUME, BSM, IMAGE, MISSING,
                                         ROOT_IMAGE_LOCAL, SNAPSHOT, VOLUME,
                                         blank_vol, body, catalog_data,
                                         rejected, run)

SNAPSHOT_IMAGE = '5f6e7d8c-9b0a-4c1d-8e2f-3a4b5c6d7e8f'
ENCRYPTED_IMAGE = '6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d'


def image_only(image=IMAGE, **server):
    doc = {'server': {'name': 'vm', 'flavorRef': '42', 'imageRef': image,
                      'networks': 'none'}}
    doc['server'].update(server)
    return doc


def shape(plan):
    return [(d['kind'], d['boot_index'], d['volume_size']) for d in plan.devices]


# --- image-only and empty-list boots ---------------------------------------------

@pytest.mark.parametrize('extra', [{}, {'block_device_mapping_v2': []},
                                   {'block_device_mapping': []}])
def test_image_only_boot_gets_image_root_then_flavor_disks(extra):
    # Nova: legacy_bdm stays True unless a non-empty v2 list is given;
    # from_legacy_mapping([], imageRef, 'vda') adds create_image_bdm(imageRef),
    # then _get_flavor_defined_bdms adds the flavor's ephemeral and swap.
    plan = run(image_only(**extra))
    assert shape(plan) == [('image->local', 0, None), ('blank->local', -1, 2),
                           ('blank->local swap', -1, 1024)]
    root = plan.devices[0]
    assert root['image_id'] == IMAGE and root['delete_on_termination'] is True
    assert root['destination_type'] == 'local' and root['device_name'] == '/dev/vda'


def test_image_only_boot_without_catalog():
    assert [d['kind'] for d in run(image_only(), catalog=False).devices] == ['image->local']


def test_image_only_boot_over_the_local_device_limit():
    # Nova's _validate_bdm counts the image root and the flavor disks.
    data = catalog_data()
    data['config']['max_local_block_devices'] = 2
    rejected(image_only(), 'InvalidBDMLocalsLimit',
             BSM + 'You specified more local devices than the limit allows', data=data)
    data['config']['max_local_block_devices'] = 0
    rejected(image_only(flavorRef='1'), 'InvalidBDMLocalsLimit',
             BSM + 'You specified more local devices than the limit allows', data=data)


def test_image_uploaded_from_encrypted_volume_is_unacceptable():
    # _detect_nonbootable_image_from_properties: cinder_encryption_key_id + imageRef.
    rejected(image_only(ENCRYPTED_IMAGE), 'ImageUnacceptable',
             f'Image {ENCRYPTED_IMAGE} is unacceptable: Direct booting of an image '
             'uploaded from an encrypted volume is unsupported.')
    # Booting a volume created from it is fine (no imageRef).
    root = {'source_type': 'image', 'uuid': ENCRYPTED_IMAGE, 'destination_type': 'volume',
            'boot_index': 0, 'volume_size': 1}
    assert run(body(root, image='')).devices[0]['kind'] == 'image->volume'


# --- image-defined block device mappings ------------------------------------------

def test_snapshot_image_boots_its_own_mappings():
    # _get_image_defined_bdms (bdm_v2) gives the snapshot→volume root; the
    # legacy conversion then adds no image root (no_root=True).
    plan = run(image_only(SNAPSHOT_IMAGE))
    assert shape(plan) == [('snapshot->volume', 0, 1), ('blank->local', -1, 2),
                           ('blank->local swap', -1, 1024)]
    assert plan.devices[0]['snapshot_id'] == SNAPSHOT
    assert plan.root_device_name == '/dev/vda'


def test_snapshot_image_drops_the_clients_image_root():
    # The image→local boot_index 0 entry openstacksdk adds is filtered out
    # when the image's mappings hold a root.
    root = dict(ROOT_IMAGE_LOCAL, uuid=SNAPSHOT_IMAGE)
    plan = run(body(root, blank_vol(3, device_name='vdb'), image=SNAPSHOT_IMAGE))
    assert [d['kind'] for d in plan.devices] == [
        'blank->volume', 'snapshot->volume', 'blank->local', 'blank->local swap']
    assert plan.devices[1]['boot_index'] == 0


def _image_with(properties, glance_shape=False):
    data = catalog_data()
    image = copy.deepcopy(data['images'][IMAGE])
    if glance_shape:
        # Glance v2: custom properties at the top level, mappings as JSON text.
        image.pop('properties')
        for key, value in properties.items():
            image[key] = json.dumps(value) if key in (
                'block_device_mapping', 'mappings') else value
    else:
        image['properties'] = properties
    data['images'][IMAGE] = image
    return data


@pytest.mark.parametrize('glance_shape', [False, True])
def test_request_wins_over_image_mapping_of_the_same_name(glance_shape):
    # _merge_bdms_lists(image_defined, requested): the request's /dev/vdb wins.
    data = _image_with({'bdm_v2': True, 'block_device_mapping': [
        {'source_type': 'blank', 'destination_type': 'volume', 'volume_size': 5,
         'device_name': '/dev/vdb', 'boot_index': -1},
        {'source_type': 'blank', 'destination_type': 'volume', 'volume_size': 6,
         'device_name': '/dev/vdc', 'boot_index': -1}]}, glance_shape)
    plan = run(body(ROOT_IMAGE_LOCAL, blank_vol(2, device_name='vdb')), data=data)
    sizes = sorted(d['volume_size'] for d in plan.devices if d['kind'] == 'blank->volume')
    assert sizes == [2, 6]


def test_no_device_entry_cancels_an_image_mapping():
    data = _image_with({'bdm_v2': True, 'block_device_mapping': [
        {'source_type': 'blank', 'destination_type': 'volume', 'volume_size': 5,
         'device_name': '/dev/vdb', 'boot_index': -1}]})
    plan = run(body(ROOT_IMAGE_LOCAL, {'device_name': 'vdb', 'no_device': True}), data=data)
    assert 'blank->volume' not in [d['kind'] for d in plan.devices]


def test_legacy_image_mapping_on_the_root_name_is_the_root():
    # No bdm_v2: from_legacy_mapping(image BDMs, None, 'vda') makes the vda
    # volume boot_index 0; the request's image root is then dropped.
    data = _image_with({'block_device_mapping': [
        {'volume_id': BOOT_VOLUME, 'device_name': 'vda'}]})
    plan = run(body(ROOT_IMAGE_LOCAL), data=data)
    assert shape(plan)[0] == ('volume', 0, 1)
    assert 'image->local' not in [d['kind'] for d in plan.devices]


def test_image_mappings_property_adds_ephemeral_and_swap():
    # _prepare_image_mapping: ephemeralN/swap entries become blank local BDMs
    # sized by the flavor; the flavor then adds nothing more.
    data = _image_with({'mappings': [
        {'virtual': 'root', 'device': '/dev/vda'}, {'virtual': 'ami', 'device': 'vda'},
        {'virtual': 'ephemeral0', 'device': 'vdb'}, {'virtual': 'swap', 'device': 'vdc'}]})
    plan = run(body(ROOT_IMAGE_LOCAL), data=data)
    assert sorted(shape(plan)) == [('blank->local', -1, 2), ('blank->local swap', -1, 1024),
                                   ('image->local', 0, None)]


@pytest.mark.parametrize('properties, reason', [
    ({'bdm_v2': True, 'block_device_mapping': [1]},
     'image property block_device_mapping[0] must be an object'),
    ({'block_device_mapping': 'not json'}, 'image property block_device_mapping is not JSON'),
    ({'mappings': [{'virtual': 'swap'}]},
     'image property mappings[0] needs text "virtual" and "device"'),
    ({'bdm_v2': True, 'block_device_mapping': [{'source_type': 'blank', 'disk_bus': []}]},
     'block_device_mapping[0]: disk_bus must be text'),
])
def test_malformed_image_mappings_are_unacceptable(properties, reason):
    # Nova fails with a 500 on these (KeyError, TypeError, JSON errors).
    data = catalog_data()
    data['images'][IMAGE]['properties'] = properties
    with pytest.raises(exceptions.ImageUnacceptable, match=reason.replace('[', r'\[')):
        run(body(ROOT_IMAGE_LOCAL), data=data)


def test_image_bdm_with_unknown_field_is_nova_invalid_bdm_format():
    data = _image_with({'bdm_v2': True, 'block_device_mapping': [
        {'source_type': 'blank', 'destination_type': 'volume', 'bogus': 1}]})
    rejected(body(ROOT_IMAGE_LOCAL), 'InvalidBDMFormat',
             BSM + 'Following fields are invalid: bogus', data=data)


def test_glance_shape_properties_reach_the_device_names():
    image = {'id': IMAGE, 'status': 'active', 'size': 1, 'hw_disk_bus': 'scsi'}
    meta = catalog_module.nova_image_meta(image)
    assert meta['properties'] == {'hw_disk_bus': 'scsi'} and meta['size'] == 1
    data = _image_with({'hw_disk_bus': 'scsi'}, glance_shape=True)
    assert run(body(ROOT_IMAGE_LOCAL), data=data).root_device_name == '/dev/sda'


# --- legacy block_device_mapping --------------------------------------------------

@pytest.mark.parametrize('name', ['vda', '/dev/vda'])
def test_legacy_root_volume_with_image_boots_from_the_volume(name):
    # from_legacy_mapping: the item on the root name gets boot_index 0 and no
    # image root is added; the v2-only root-name clash check does not apply.
    doc = image_only(block_device_mapping=[{'volume_id': BOOT_VOLUME, 'device_name': name}])
    plan = run(doc)
    assert shape(plan)[0] == ('volume', 0, 1)
    assert 'image->local' not in [d['kind'] for d in plan.devices]


def test_legacy_item_with_volume_and_snapshot_attaches_the_volume():
    # from_legacy says source_type snapshot, but _validate_bdm checks (and
    # reserves) volume_id first and the driver attaches the existing volume
    # ("if not self.volume_id"): the snapshot is never looked at.
    doc = image_only(block_device_mapping=[
        {'volume_id': VOLUME, 'snapshot_id': MISSING, 'device_name': 'vdb'}])
    plan = run(doc)
    device = next(d for d in plan.devices if d.get('volume_id') == VOLUME)
    assert device['kind'] == 'volume' and device['snapshot_id'] is None
    doc['server']['block_device_mapping'][0]['volume_id'] = MISSING
    rejected(doc, 'VolumeNotFound', f'Volume {MISSING} could not be found.')


def test_legacy_boot_from_volume_root_is_found_by_letter():
    # get_bdm_image_metadata (legacy): the root is the device with letter "a".
    doc = {'server': {'name': 'vm', 'flavorRef': '42', 'networks': 'none',
                      'block_device_mapping': [{'volume_id': VOLUME, 'device_name': 'vda'}]}}
    rejected(doc, 'InvalidBDMVolumeNotBootable', f'Block Device {VOLUME} is not bootable.')


# --- volumes and snapshots --------------------------------------------------------

def test_same_volume_twice_is_invalid_volume():
    existing = {'source_type': 'volume', 'uuid': VOLUME, 'destination_type': 'volume'}
    with pytest.raises(exceptions.InvalidVolume) as info:
        run(body(ROOT_IMAGE_LOCAL, existing, dict(existing, device_name='vdc')))
    assert info.value.http_status == 400
    assert f'Volume {VOLUME} is requested by more than one' in info.value.message
    with pytest.raises(exceptions.InvalidVolume):
        run(body(ROOT_IMAGE_LOCAL, existing, existing), catalog=False)


def test_root_snapshot_missing_is_snapshot_not_found():
    # get_bdm_image_metadata lets volume_api.get_snapshot's SnapshotNotFound out.
    root = {'source_type': 'snapshot', 'uuid': MISSING, 'destination_type': 'volume',
            'boot_index': 0}
    rejected(body(root, image=''), 'SnapshotNotFound', f'Snapshot {MISSING} could not be found.')


def test_blank_volume_carrying_volume_id_is_that_volume():
    # The v2 schema inherits volume_id; _get_volumes_for_bdms fetches it,
    # _validate_bdm reserves it, the driver attaches it instead of creating.
    item = blank_vol(volume_id=VOLUME)
    plan = run(body(ROOT_IMAGE_LOCAL, item))
    device = next(d for d in plan.devices if d.get('volume_id') == VOLUME)
    assert device['kind'] == 'volume' and device['volume_size'] == 1
    rejected(body(ROOT_IMAGE_LOCAL, blank_vol(volume_id=MISSING)), 'VolumeNotFound',
             f'Volume {MISSING} could not be found.')
    local = {'source_type': 'blank', 'destination_type': 'local', 'volume_id': VOLUME}
    with pytest.raises(exceptions.InvalidBDMFormat, match='destination_type local'):
        run(body(ROOT_IMAGE_LOCAL, local))


# --- microversions ----------------------------------------------------------------

@pytest.mark.parametrize('version, cls, message, status', [
    ('2.x', 'InvalidAPIVersionString',
     'API Version String 2.x is of invalid format. Must be of format MajorNum.MinorNum.', 400),
    ('2.105', 'InvalidGlobalAPIVersion',
     'Version 2.105 is not supported by the API. Minimum is 2.1 and maximum is 2.104.', 406),
    ('1.9', 'InvalidGlobalAPIVersion',
     'Version 1.9 is not supported by the API. Minimum is 2.1 and maximum is 2.104.', 406),
])
def test_microversion_errors_as_novas_wsgi(version, cls, message, status):
    rejected(body(ROOT_IMAGE_LOCAL), cls, message, status=status, microversion=version)


def test_microversion_past_the_int_digit_limit():
    with pytest.raises(exceptions.InvalidGlobalAPIVersion) as info:
        run(body(ROOT_IMAGE_LOCAL), '2.' + '9' * 4301)
    assert info.value.http_status == 406 and len(info.value.message) < 200


# --- numbers and normalisation ----------------------------------------------------

def test_boot_index_zero_float_becomes_an_int():
    # Draft 2020-12 counts 0.0 as an integer; Nova's BDM object makes it 0.
    plan = run(body(dict(ROOT_IMAGE_LOCAL, boot_index=0.0), blank_vol(boot_index=1.0)))
    assert [type(d['boot_index']) for d in plan.devices[:2]] == [int, int]
    assert plan.devices[0]['boot_index'] == 0


@pytest.mark.parametrize('item', [blank_vol(), ROOT_IMAGE_LOCAL])
def test_boot_index_past_the_int_digit_limit(item):
    # BlockDeviceDict._validate catches int()'s ValueError: "Boot index is invalid."
    # (Nova's from_api image→local check fails with a 500 before that.)
    rejected(body(dict(item, boot_index='9' * 4301), image=IMAGE), 'InvalidBDMFormat',
             BSM + 'Boot index is invalid.', catalog=False)


@pytest.mark.parametrize('field', ['min_count', 'max_count'])
def test_counts_past_the_int_digit_limit(field):
    with pytest.raises(exceptions.ValidationError, match=field) as info:
        run(body(ROOT_IMAGE_LOCAL, **{field: '9' * 4301}))
    assert info.value.http_status == 400 and len(info.value.message) < 300
    assert run(body(ROOT_IMAGE_LOCAL, max_count='0' * 5000 + '1')).request.max_count == 1


def test_empty_device_type_is_a_clean_400():
    # Nova: "" passes _validate_bdm and fails in BlockDeviceTypeField (500).
    with pytest.raises(exceptions.InvalidDeviceType) as info:
        run(body(ROOT_IMAGE_LOCAL, blank_vol(device_type='')))
    assert info.value.http_status == 400


@pytest.mark.parametrize('bus', ['xen', 'uml', 'lxc', ''])
def test_disk_bus_libvirt_cannot_use_on_kvm_is_replaced(bus):
    # _validate_bdm accepts any DiskBus.ALL value (and ""); libvirt's
    # blockinfo.get_info_from_bdm replaces a bus invalid for the virt type
    # (by device type: disk → virtio) and update_bdm writes it back.
    plan = run(body(ROOT_IMAGE_LOCAL, blank_vol(disk_bus=bus)))
    assert plan.devices[1]['disk_bus'] == 'virtio'


def test_volume_behind_another_source_for_two_servers_is_invalid_volume():
    # max_count's own check only looks at source_type 'volume'; the second
    # server's attachment_create then finds the volume reserved (Cinder 400,
    # InvalidInput → InvalidVolume in _validate_bdm).
    doc = image_only(max_count=2, block_device_mapping=[
        {'volume_id': VOLUME, 'snapshot_id': SNAPSHOT, 'device_name': 'vdb'}])
    rejected(doc, 'InvalidVolume', 'Invalid volume: Invalid input received: Invalid '
             f'volume: Volume {VOLUME} status must be available or downloading to '
             'reserve, but the current status is reserved.')
    data = catalog_data()
    data['volumes'][VOLUME]['multiattach'] = True
    assert run(doc, '2.60', data=data).devices


@pytest.mark.parametrize('item', [
    {'source_type': 'volume', 'uuid': VOLUME, 'destination_type': 'local'},
    {'source_type': 'snapshot', 'uuid': SNAPSHOT},
    {'source_type': 'blank', 'volume_size': 1},
    {'source_type': 'volume', 'uuid': VOLUME}])
def test_devices_nova_would_silently_drop_are_refused(item):
    # Nova accepts these at the API; nova/virt/block_device.py's
    # _InvalidType then leaves the device out of the server. blockflow: 400.
    with pytest.raises(exceptions.InvalidBDMFormat) as info:
        run(body(ROOT_IMAGE_LOCAL, item, flavorRef='1'))
    assert info.value.http_status == 400
    assert item['source_type'] in info.value.message
