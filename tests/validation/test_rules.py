"""Every validation rule: one request it rejects (Nova's class, message, status)
and one at its boundary it accepts. Bodies are built from a valid base."""

import copy
import json
import pathlib

import pytest

from blockflow import exceptions
from blockflow.request.validation.catalog import JsonCatalog
from blockflow.request.validation import pipeline

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / 'examples'
IMAGE = 'ac408821-c95a-448f-9292-73986c790911'
VOLUME = '56494430-5460-4582-a3d0-e22cb4ef0cd2'
BOOT_VOLUME = '9a53945a-b745-493e-8710-0f2c92e1fb5f'
SNAPSHOT = '3c1d5f8e-7a2b-4c9d-9e0f-1a2b3c4d5e6f'
MISSING = '00000000-0000-4000-8000-00000000dead'
ROOT_IMAGE_LOCAL = {'source_type': 'image', 'uuid': IMAGE, 'destination_type': 'local',
                    'boot_index': 0}
BSM = 'Block Device Mapping is Invalid: '


def catalog_data():
    return json.loads((EXAMPLES / 'catalog.json').read_text())


def body(*bdms, image=IMAGE, **server):
    doc = {'server': {'name': 'vm', 'flavorRef': '42', 'imageRef': image,
                      'networks': 'none', 'block_device_mapping_v2': list(bdms)}}
    doc['server'].update(server)
    return doc


def run(doc, microversion=None, catalog=True, data=None, **kwargs):
    cat = JsonCatalog(data or catalog_data()) if catalog else None
    return pipeline.validate(copy.deepcopy(doc), microversion, cat, **kwargs)


def rejected(doc, cls, message, status=400, **kwargs):
    with pytest.raises(exceptions.BlockflowError) as info:
        run(doc, **kwargs)
    err = info.value
    assert (err.error_class, err.message, err.http_status) == (cls, message, status)


def blank_vol(size=1, **extra):
    return dict({'source_type': 'blank', 'destination_type': 'volume',
                 'volume_size': size}, **extra)


# --- A. schema -----------------------------------------------------------

def test_tag_only_at_232_and_from_242():
    doc = body(ROOT_IMAGE_LOCAL, blank_vol(tag='data'))
    old = body(ROOT_IMAGE_LOCAL, blank_vol(tag='data'), networks=[])
    run(old, '2.32')
    run(doc, '2.42')
    for version, request in (('2.31', old), ('2.33', old), ('2.41', doc)):
        with pytest.raises(exceptions.ValidationError, match="'tag' was unexpected"):
            run(request, version)


def test_volume_type_from_267():
    doc = body(ROOT_IMAGE_LOCAL, blank_vol(volume_type='SAS-public'))
    assert run(doc, '2.67').devices[1]['volume_type'] == 'SAS-public'
    with pytest.raises(exceptions.ValidationError, match="'volume_type' was unexpected"):
        run(doc, '2.66')


@pytest.mark.parametrize('field, value, accepted', [
    ('volume_size', 0, False), ('volume_size', 1, True),
    ('volume_size', '1', True), ('volume_size', 0x7FFFFFFF + 1, False),
    ('volume_size', '-1', False), ('boot_index', 'x', False),
    ('boot_index', '-1', True), ('boot_index', None, True),
    ('device_name', 'vd b', False), ('device_name', 'vdb', True),
    ('device_name', '', False), ('delete_on_termination', 'yes', True),
    ('delete_on_termination', 'maybe', False), ('tag', 'a' * 60, True),
    ('tag', 'a' * 61, False), ('tag', 'a/b', False), ('tag', '', False),
    ('guest_format', 'x' * 256, False), ('disk_bus', 'x' * 256, False),
    ('unknown_key', 1, False), ('uuid', 'bad uuid', False),
])
def test_bdm_field_schema(field, value, accepted):
    item = blank_vol(2)
    item[field] = value
    doc = body(ROOT_IMAGE_LOCAL, item)
    if accepted:
        run(doc, '2.67')
    else:
        with pytest.raises(exceptions.ValidationError) as info:
            run(doc, '2.67')
        assert info.value.http_status == 400
        assert info.value.message.startswith('Invalid input for field/attribute') or \
            'was unexpected' in info.value.message


def test_schema_message_is_novas_wording():
    doc = body(ROOT_IMAGE_LOCAL, blank_vol(0))
    with pytest.raises(exceptions.ValidationError) as info:
        run(doc)
    assert info.value.message == ('Invalid input for field/attribute volume_size. '
                                  'Value: 0. 0 is less than the minimum of 1')


def test_unknown_server_key_and_required_keys():
    with pytest.raises(exceptions.ValidationError, match="'bogus' was unexpected"):
        run(body(ROOT_IMAGE_LOCAL, bogus=1))
    doc = body(ROOT_IMAGE_LOCAL)
    del doc['server']['networks']
    run(doc, '2.36')
    with pytest.raises(exceptions.ValidationError, match="'networks' is a required property"):
        run(doc, '2.37')


def test_backup_source_only_with_extension():
    item = {'source_type': 'backup', 'uuid': MISSING, 'destination_type': 'volume',
            'volume_size': 1}
    with pytest.raises(exceptions.ValidationError, match="'backup' is not one of"):
        run(body(ROOT_IMAGE_LOCAL, item))
    data = catalog_data()
    data['backups'] = {MISSING: {'status': 'available', 'size': 1, 'volume_id': VOLUME}}
    plan = run(body(ROOT_IMAGE_LOCAL, item), data=data, enable_backup_source=True)
    assert plan.devices[1]['kind'] == 'backup->volume'
    assert plan.devices[1]['backup_id'] == MISSING


def test_microversion_bounds():
    with pytest.raises(exceptions.VersionNotSupported) as info:
        run(body(ROOT_IMAGE_LOCAL), '2.105')
    assert info.value.http_status == 406
    run(body(ROOT_IMAGE_LOCAL), '2.104')
    run(body(ROOT_IMAGE_LOCAL), 'latest')
    # Nova's wsgi: InvalidAPIVersionString → 400.
    rejected(body(ROOT_IMAGE_LOCAL), 'InvalidAPIVersionString',
             'API Version String 2.x is of invalid format. Must be of format '
             'MajorNum.MinorNum.', microversion='2.x')


# --- B. from_api / servers.py rules ---------------------------------------

def test_rule1_mixed_syntaxes():
    doc = body(ROOT_IMAGE_LOCAL, block_device_mapping=[{'volume_id': VOLUME}])
    rejected(doc, 'HTTPBadRequest', 'Using different block_device_mapping syntaxes '
             'is not allowed in the same request.')


def test_rule3_blank_with_uuid():
    rejected(body(ROOT_IMAGE_LOCAL, blank_vol(uuid=VOLUME)),
             'InvalidBDMFormat', BSM + 'Invalid device UUID.')
    run(body(ROOT_IMAGE_LOCAL, blank_vol()))


def test_rule4_missing_uuid():
    rejected(body(ROOT_IMAGE_LOCAL, {'source_type': 'volume', 'destination_type': 'volume'}),
             'InvalidBDMFormat', BSM + 'Missing device UUID.')


def test_uuid_without_source_type_is_a_clean_400():
    with pytest.raises(exceptions.InvalidBDMFormat, match='source_type'):
        run(body(ROOT_IMAGE_LOCAL, {'uuid': VOLUME, 'destination_type': 'volume'}))


def test_rule5_image_to_local_needs_imageref_and_boot_index_0():
    run(body(ROOT_IMAGE_LOCAL))
    rejected(body(dict(ROOT_IMAGE_LOCAL, boot_index=1), blank_vol(boot_index=0)),
             'InvalidBDMFormat', BSM + 'Mapping image to local is not supported.')
    rejected(body(ROOT_IMAGE_LOCAL, image=''),
             'InvalidBDMFormat', BSM + 'Mapping image to local is not supported.')


def test_rules6_7_volume_type_restrictions():
    rejected(body(dict(ROOT_IMAGE_LOCAL, volume_type='SAS-public')), 'InvalidBDMFormat',
             BSM + 'Specifying a volume_type with destination_type=local is not supported.')
    existing = {'source_type': 'volume', 'uuid': VOLUME, 'destination_type': 'volume',
                'volume_type': 'SAS-public'}
    rejected(body(ROOT_IMAGE_LOCAL, existing), 'InvalidBDMFormat',
             BSM + 'Specifying volume type to existing volume is not supported.')


def test_rule9_source_type_required_unless_no_device():
    rejected(body(ROOT_IMAGE_LOCAL, {'destination_type': 'local', 'volume_size': 1}),
             'InvalidBDMFormat', BSM + 'Missing device UUID.')
    plan = run(body(ROOT_IMAGE_LOCAL, {'device_name': 'vdz', 'no_device': True}))
    # The no_device entry suppresses a device; only root + flavor disks remain.
    assert [d['kind'] for d in plan.devices] == ['image->local', 'blank->local',
                                                  'blank->local swap']


def test_rule10_to_13_coercions():
    item = blank_vol('3', delete_on_termination='yes', device_name='vdq')
    plan = run(body(ROOT_IMAGE_LOCAL, dict(item, boot_index='-1')))
    dev = plan.devices[1]
    assert dev['volume_size'] == 3 and dev['delete_on_termination'] is True
    assert dev['boot_index'] == -1
    assert plan.devices[0]['delete_on_termination'] is False


def test_rule14_no_image_no_bdms():
    rejected(body(image=''), 'HTTPBadRequest', 'Missing imageRef attribute')


def test_legacy_mapping_boot_from_volume():
    doc = {'server': {'name': 'vm', 'flavorRef': '42', 'networks': 'none',
                      'block_device_mapping': [{'volume_id': BOOT_VOLUME,
                                                'device_name': 'vda'}]}}
    plan = run(doc)
    assert plan.devices[0]['kind'] == 'volume' and plan.devices[0]['boot_index'] == 0
    bad = {'server': {'name': 'vm', 'flavorRef': '42', 'networks': 'none',
                      'block_device_mapping': [{'device_name': 'vda'}]}}
    rejected(bad, 'InvalidBDMFormat', BSM + 'Unrecognized legacy format.')


# --- C. compute-API rules ---------------------------------------------------

def test_rule15_root_image_must_exist():
    root = {'source_type': 'image', 'uuid': MISSING, 'destination_type': 'volume',
            'boot_index': 0, 'volume_size': 1}
    rejected(body(root, image=''), 'InvalidBDMImage', BSM + f'failed to get image {MISSING}.')


def test_rule16_17_root_volume_exists_and_bootable():
    def root(volume_id):
        return {'source_type': 'volume', 'uuid': volume_id, 'destination_type': 'volume',
                'boot_index': 0}
    rejected(body(root(MISSING), image=''), 'InvalidBDMVolume',
             BSM + f'failed to get volume {MISSING}.')
    rejected(body(root(VOLUME), image=''), 'InvalidBDMVolumeNotBootable',
             f'Block Device {VOLUME} is not bootable.')
    assert run(body(root(BOOT_VOLUME), image='')).devices[0]['volume_size'] == 1


def test_rule18_volume_may_not_take_root_name():
    rejected(body(ROOT_IMAGE_LOCAL, blank_vol(device_name='/dev/vda')), 'InvalidRequest',
             'The volume cannot be assigned the same device name as the root device vda')
    run(body(ROOT_IMAGE_LOCAL, blank_vol(device_name='/dev/vdb')))


def test_rule20_max_count_with_existing_volume():
    existing = {'source_type': 'volume', 'uuid': VOLUME, 'destination_type': 'volume'}
    rejected(body(ROOT_IMAGE_LOCAL, existing, max_count=2), 'InvalidRequest',
             'Cannot attach one or more volumes to multiple instances')
    run(body(ROOT_IMAGE_LOCAL, existing, max_count=1))


def test_rule21_flavor_adds_ephemeral_and_swap():
    plan = run(body(ROOT_IMAGE_LOCAL))
    kinds = sorted(d['kind'] for d in plan.devices)
    assert kinds == ['blank->local', 'blank->local swap', 'image->local']
    swap = next(d for d in plan.devices if d['kind'] == 'blank->local swap')
    assert swap['volume_size'] == 1024 and swap['delete_on_termination'] is True


def test_rule22_volume_smaller_than_min_disk():
    data = catalog_data()
    data['images'][IMAGE]['min_disk'] = 2
    root = {'source_type': 'image', 'uuid': IMAGE, 'destination_type': 'volume',
            'boot_index': 0, 'volume_size': 1}
    rejected(body(root, image=''), 'VolumeSmallerThanMinDisk',
             'Volume is smaller than the minimum size specified in image metadata. '
             'Volume size is 1073741824 bytes, minimum size is 2147483648 bytes.', data=data)
    run(body(dict(root, volume_size=2), image=''), data=data)


def test_rule23_flavor_disk_vs_image():
    data = catalog_data()
    data['images'][IMAGE]['size'] = 2 * 1024 ** 3
    rejected(body(ROOT_IMAGE_LOCAL), 'FlavorDiskSmallerThanImage',
             "Flavor's disk is too small for requested image. Flavor disk is "
             '1073741824 bytes, image is 2147483648 bytes.', data=data)
    data['images'][IMAGE]['size'] = 1024 ** 3
    run(body(ROOT_IMAGE_LOCAL), data=data)
    data['images'][IMAGE]['min_disk'] = 2
    rejected(body(ROOT_IMAGE_LOCAL), 'FlavorDiskSmallerThanMinDisk',
             "Flavor's disk is smaller than the minimum size specified in image "
             'metadata. Flavor disk is 1073741824 bytes, minimum size is '
             '2147483648 bytes.', data=data)


def test_rule24_zero_disk_flavor_needs_boot_from_volume():
    data = catalog_data()
    data['flavors']['42']['root_gb'] = 0
    rejected(body(ROOT_IMAGE_LOCAL), 'BootFromVolumeRequiredForZeroDiskFlavor',
             'Only volume-backed servers are allowed for flavors with zero disk.',
             status=403, data=data)
    root = {'source_type': 'image', 'uuid': IMAGE, 'destination_type': 'volume',
            'boot_index': 0, 'volume_size': 1}
    run(body(root, image=''), data=data)


def test_rules25_26_cross_az_attach():
    data = catalog_data()
    data['config']['cross_az_attach'] = False
    data['volumes'][VOLUME]['availability_zone'] = 'az2'
    existing = {'source_type': 'volume', 'uuid': VOLUME, 'destination_type': 'volume'}
    rejected(body(ROOT_IMAGE_LOCAL, existing, availability_zone='az1'),
             'MismatchVolumeAZException',
             'The availability zone between the server and its attached volumes do '
             'not match: Server and volumes are not in the same availability zone. '
             'Server is in: az1. Volumes are in: az2.', data=data)
    assert run(body(ROOT_IMAGE_LOCAL, existing), data=data).instance_az == 'az2'
    other = {'source_type': 'volume', 'uuid': BOOT_VOLUME, 'destination_type': 'volume'}
    rejected(body(ROOT_IMAGE_LOCAL, existing, other), 'MismatchVolumeAZException',
             'The availability zone between the server and its attached volumes do '
             'not match: Volumes are in different availability zones: az2,nova.', data=data)


@pytest.mark.parametrize('indexes, ok', [
    ((0,), True), ((0, 1), True), ((1,), False), ((0, 0), False), ((0, 2), False),
    ((None,), False), ((-1,), False)])
def test_rule27_boot_sequence(indexes, ok):
    items = [blank_vol(boot_index=i) for i in indexes]
    doc = body(*items, image='')
    if ok:
        run(doc, catalog=False)
    else:
        rejected(doc, 'InvalidBDMBootSequence', BSM + 'Boot sequence for the instance '
                 'and image/block device mapping combination is not valid.', catalog=False)


def test_rule28_volume_type_by_id_or_name():
    by_id = blank_vol(volume_type='7d3e2a10-6c4b-4f1e-9a8d-2b5c6e7f8a90')
    assert run(body(ROOT_IMAGE_LOCAL, by_id), '2.67').devices[1]['volume_type'] == 'SAS-public'
    rejected(body(ROOT_IMAGE_LOCAL, blank_vol(volume_type='gold')), 'VolumeTypeNotFound',
             'Volume type gold could not be found.', microversion='2.67')


def test_rule29_30_image_exists_and_image_volume_size():
    item = {'source_type': 'image', 'uuid': MISSING, 'destination_type': 'volume',
            'volume_size': 1}
    rejected(body(ROOT_IMAGE_LOCAL, item), 'InvalidBDMImage',
             BSM + f'failed to get image {MISSING}.')
    item = {'source_type': 'image', 'uuid': IMAGE, 'destination_type': 'volume'}
    rejected(body(ROOT_IMAGE_LOCAL, item), 'InvalidBDM',
             "Images with destination_type 'volume' need to have a non-zero size specified")


def test_rule31_existing_volume_multiattach_status_size():
    data = catalog_data()
    data['volumes'][VOLUME].update(multiattach=True)
    existing = {'source_type': 'volume', 'uuid': VOLUME, 'destination_type': 'volume'}
    rejected(body(ROOT_IMAGE_LOCAL, existing), 'MultiattachNotSupportedOldMicroversion',
             'Multiattach volumes are only supported starting with compute API '
             'version 2.60.', microversion='2.59', data=data)
    assert run(body(ROOT_IMAGE_LOCAL, existing), '2.60', data=data).devices[1]['volume_size'] == 1
    data['volumes'][VOLUME].update(multiattach=False, status='in-use')
    with pytest.raises(exceptions.InvalidVolume, match='current status is in-use'):
        run(body(ROOT_IMAGE_LOCAL, existing), data=data)
    # _get_volumes_for_bdms: volume_api.get's VolumeNotFound, 400 at the API.
    rejected(body(ROOT_IMAGE_LOCAL, dict(existing, uuid=MISSING)), 'VolumeNotFound',
             f'Volume {MISSING} could not be found.')


def test_rule32_snapshot_exists_and_size_default():
    item = {'source_type': 'snapshot', 'uuid': SNAPSHOT, 'destination_type': 'volume'}
    assert run(body(ROOT_IMAGE_LOCAL, item)).devices[1]['volume_size'] == 1
    rejected(body(ROOT_IMAGE_LOCAL, dict(item, uuid=MISSING)), 'InvalidBDMSnapshot',
             BSM + f'failed to get snapshot {MISSING}.')


def test_rule33_blank_volume_needs_size():
    rejected(body(ROOT_IMAGE_LOCAL, {'source_type': 'blank', 'destination_type': 'volume'}),
             'InvalidBDM', "Blank volumes (source: 'blank', dest: 'volume') need to have "
             'non-zero size')


def test_rule34_disk_bus_and_rule40_device_type():
    with pytest.raises(exceptions.InvalidBDMDiskBus, match='disk_bus floppy'):
        run(body(ROOT_IMAGE_LOCAL, blank_vol(disk_bus='floppy')))
    run(body(ROOT_IMAGE_LOCAL, blank_vol(disk_bus='scsi')))
    with pytest.raises(exceptions.InvalidDeviceType, match='device_type tape'):
        run(body(ROOT_IMAGE_LOCAL, blank_vol(device_type='tape')))


def test_rules35_36_37_ephemeral_swap_sizes():
    eph = {'source_type': 'blank', 'destination_type': 'local', 'volume_size': 3}
    rejected(body(ROOT_IMAGE_LOCAL, eph), 'InvalidBDMEphemeralSize',
             'Ephemeral disks requested are larger than the instance type allows. If no '
             'size is given in one block device mapping, flavor ephemeral size will be used.')
    run(body(ROOT_IMAGE_LOCAL, dict(eph, volume_size=2)))
    swap = {'source_type': 'blank', 'destination_type': 'local', 'guest_format': 'swap',
            'volume_size': 1025}
    rejected(body(ROOT_IMAGE_LOCAL, swap), 'InvalidBDMSwapSize',
             'Swap drive requested is larger than instance type allows.')
    run(body(ROOT_IMAGE_LOCAL, dict(swap, volume_size=1024)))
    rejected(body(ROOT_IMAGE_LOCAL, dict(swap, volume_size=1), dict(swap, volume_size=1)),
             'InvalidBDMFormat', BSM + 'More than one swap drive requested.')


def test_rule38_max_local_block_devices():
    eph = {'source_type': 'blank', 'destination_type': 'local', 'volume_size': 1}
    swap = {'source_type': 'blank', 'destination_type': 'local', 'guest_format': 'swap',
            'volume_size': 1}
    run(body(ROOT_IMAGE_LOCAL, eph, swap))
    data = catalog_data()
    data['config']['max_local_block_devices'] = 2
    rejected(body(ROOT_IMAGE_LOCAL, eph, swap), 'InvalidBDMLocalsLimit',
             BSM + 'You specified more local devices than the limit allows', data=data)
    data['config']['max_local_block_devices'] = -1
    run(body(ROOT_IMAGE_LOCAL, eph, swap), data=data)


def test_flavor_and_image_not_found_and_inactive():
    rejected(body(ROOT_IMAGE_LOCAL, flavorRef='nope'), 'FlavorNotFound',
             'Flavor nope could not be found.')
    rejected(body(dict(ROOT_IMAGE_LOCAL, uuid=MISSING), image=MISSING), 'ImageNotFound',
             'Can not find requested image')
    data = catalog_data()
    data['images'][IMAGE]['status'] = 'queued'
    rejected(body(ROOT_IMAGE_LOCAL), 'ImageNotActive', f'Image {IMAGE} is not active.', data=data)


def test_seed_request_validates_with_novas_result():
    doc = json.loads((EXAMPLES / 'seed-boot-from-image.json').read_text())
    plan = run(doc, '2.42')
    root = plan.devices[0]
    assert root['kind'] == 'image->volume' and root['volume_size'] == 25
    assert root['device_name'] == '/dev/sda' and root['boot_order'] == 1
