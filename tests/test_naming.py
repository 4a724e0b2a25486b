"""Device naming follows Nova's libvirt driver (nova-device-naming.md)."""

import copy

import pytest

from blockflow import exceptions
from blockflow.request import naming

IMAGE = '11111111-1111-4111-8111-111111111111'


def image_root(**extra):
    return dict(source_type='image', destination_type='local',
                image_id=IMAGE, boot_index=0, **extra)


def ephemeral(size=1, **extra):
    return dict(source_type='blank', destination_type='local',
                volume_size=size, **extra)


def swap(size=1, **extra):
    return dict(source_type='blank', destination_type='local',
                guest_format='swap', volume_size=size, **extra)


def volume(source='volume', boot_index=None, **extra):
    bdm = dict(source_type=source, destination_type='volume',
               boot_index=boot_index, **extra)
    if source != 'blank':
        bdm[f'{source}_id'] = f'{source}-id'
    return bdm


def names(bdms):
    return [b['device_name'] for b in bdms]


# --- letters ---------------------------------------------------------------

@pytest.mark.parametrize('index, letters', [
    (0, 'a'), (1, 'b'), (25, 'z'), (26, 'aa'), (27, 'ab'), (51, 'az'),
    (52, 'ba'), (701, 'zz'), (702, 'aaa'), (18277, 'zzz'),
])
def test_device_letter_is_bijective_base_26(index, letters):
    assert naming.device_letter(index) == letters


def test_letters_roll_over_past_z():
    bdms = [image_root()] + [volume('blank', volume_size=1)
                             for _ in range(27)]
    root, named = naming.assign_device_names(bdms)
    assert root == '/dev/vda'
    assert names(named)[25] == '/dev/vdz'
    assert names(named)[26:] == ['/dev/vdaa', '/dev/vdab']


# --- order ---------------------------------------------------------------

def test_typical_kvm_layout_root_ephemerals_swap_then_volumes():
    bdms = [volume('blank', volume_size=1), swap(), image_root(),
            ephemeral(), volume('volume'), ephemeral()]
    root, named = naming.assign_device_names(bdms)
    assert root == '/dev/vda'
    # Request order is kept in the result; letters follow Nova's order.
    assert names(named) == ['/dev/vdf', '/dev/vdd', '/dev/vda', '/dev/vdb',
                            '/dev/vde', '/dev/vdc']


def test_volume_letters_follow_source_order_not_request_order():
    # convert_all_volumes: existing volumes, snapshots, images, blanks.
    bdms = [volume('blank', volume_size=1), volume('image', volume_size=1),
            volume('snapshot'), volume('volume', boot_index=0)]
    root, named = naming.assign_device_names(bdms)
    assert root == '/dev/vda'
    assert names(named) == ['/dev/vdd', '/dev/vdc', '/dev/vdb', '/dev/vda']


def test_seed_request_boot_volume_on_scsi():
    seed = dict(source_type='image', destination_type='volume',
                image_id='ac408821-c95a-448f-9292-73986c790911',
                volume_size=25, boot_index=0, disk_bus='scsi',
                guest_format='ext2')
    root, (bdm,) = naming.assign_device_names([seed])
    assert root == '/dev/sda'
    assert (bdm['device_name'], bdm['disk_bus'], bdm['device_type'],
            bdm['boot_order']) == ('/dev/sda', 'scsi', 'disk', 1)


# --- user names ------------------------------------------------------------

def test_user_names_ignored_except_the_root():
    bdms = [image_root(device_name='/dev/vdc'),
            ephemeral(device_name='/dev/vdz'),
            volume('volume', device_name='/dev/vdb'),
            volume('blank', volume_size=1, device_name='/dev/sdq')]
    root, named = naming.assign_device_names(bdms)
    assert root == '/dev/vdc'
    assert names(named) == ['/dev/vdc', '/dev/vda', '/dev/vdb', '/dev/vdd']


def test_root_name_without_dev_prefix_is_normalised():
    root, named = naming.assign_device_names([image_root(device_name='vdb'),
                                              ephemeral()])
    assert root == '/dev/vdb'
    assert names(named) == ['/dev/vdb', '/dev/vda']


def test_image_root_device_name_property_names_an_unnamed_root():
    meta = {'disk_format': 'qcow2',
            'properties': {'root_device_name': '/dev/vdc'}}
    root, named = naming.assign_device_names([image_root(), ephemeral()],
                                             image_meta=meta)
    assert root == '/dev/vdc'
    assert names(named) == ['/dev/vdc', '/dev/vda']


# --- buses and prefixes -----------------------------------------------------

@pytest.mark.parametrize('bus, name', [
    ('virtio', '/dev/vda'), ('scsi', '/dev/sda'), ('sata', '/dev/sda'),
    ('usb', '/dev/sda'), ('ide', '/dev/hda'), ('fdc', '/dev/fda'),
])
def test_bus_gives_prefix(bus, name):
    root, (bdm,) = naming.assign_device_names([image_root(disk_bus=bus)])
    assert root == name
    assert bdm['disk_bus'] == bus


def test_sd_buses_share_one_letter_sequence():
    bdms = [image_root(), volume('volume', disk_bus='scsi'),
            volume('snapshot', disk_bus='sata'),
            volume('blank', volume_size=1, disk_bus='usb')]
    _, named = naming.assign_device_names(bdms)
    assert names(named) == ['/dev/vda', '/dev/sda', '/dev/sdb', '/dev/sdc']


def test_root_bus_does_not_change_the_default_bus_of_others():
    bdms = [image_root(disk_bus='ide'), ephemeral(), swap()]
    root, named = naming.assign_device_names(bdms)
    assert root == '/dev/hda'
    assert names(named) == ['/dev/hda', '/dev/vda', '/dev/vdb']
    assert [b['disk_bus'] for b in named] == ['ide', 'virtio', 'virtio']


def test_image_hw_disk_bus_applies_to_root_locals_and_volumes():
    meta = {'disk_format': 'qcow2', 'properties': {'hw_disk_bus': 'scsi'}}
    bdms = [image_root(), ephemeral(), volume('volume')]
    root, named = naming.assign_device_names(bdms, image_meta=meta)
    assert root == '/dev/sda'
    assert names(named) == ['/dev/sda', '/dev/sdb', '/dev/sdc']
    assert {b['disk_bus'] for b in named} == {'scsi'}


def test_image_bus_the_virt_type_lacks_is_refused():
    meta = {'properties': {'hw_disk_bus': 'xen'}}
    with pytest.raises(naming.UnsupportedHardware) as caught:
        naming.assign_device_names([image_root()], image_meta=meta)
    assert "'xen'" in caught.value.message and "'kvm'" in caught.value.message


def test_invalid_bdm_bus_and_type_fall_back_to_defaults():
    bdms = [image_root(), volume('volume', disk_bus='lxc', device_type='fs')]
    _, named = naming.assign_device_names(bdms)
    assert (named[1]['device_name'], named[1]['disk_bus'],
            named[1]['device_type']) == ('/dev/vdb', 'virtio', 'disk')


# --- cdrom / floppy / lun ----------------------------------------------------

def test_cdrom_volume_defaults_to_ide():
    bdms = [image_root(), volume('volume', device_type='cdrom')]
    _, named = naming.assign_device_names(bdms)
    assert (named[1]['device_name'], named[1]['disk_bus']) == ('/dev/hda', 'ide')


@pytest.mark.parametrize('properties, bus, name', [
    ({'hw_machine_type': 'pc-q35-8.2'}, 'sata', '/dev/sda'),
    ({'hw_architecture': 'aarch64'}, 'scsi', '/dev/sda'),
    ({'hw_architecture': 'ppc64le'}, 'scsi', '/dev/sda'),
    ({'hw_cdrom_bus': 'usb'}, 'usb', '/dev/sda'),
])
def test_cdrom_bus_from_image(properties, bus, name):
    meta = {'properties': properties}
    bdms = [image_root(), volume('volume', device_type='cdrom')]
    _, named = naming.assign_device_names(bdms, image_meta=meta)
    assert (named[1]['device_name'], named[1]['disk_bus']) == (name, bus)


def test_iso_image_root_is_a_cdrom_on_the_cdrom_bus():
    root, named = naming.assign_device_names(
        [image_root(), ephemeral()], image_meta={'disk_format': 'iso'})
    assert root == '/dev/hda'
    assert (named[0]['device_type'], named[0]['disk_bus']) == ('cdrom', 'ide')
    assert named[1]['device_name'] == '/dev/vda'


def test_floppy_volume_on_fdc():
    bdms = [image_root(), volume('volume', device_type='floppy')]
    _, named = naming.assign_device_names(bdms)
    assert (named[1]['device_name'], named[1]['disk_bus']) == ('/dev/fda', 'fdc')


def test_lun_without_bus_has_no_prefix():
    bdms = [image_root(), volume('volume', device_type='lun')]
    with pytest.raises(naming.DiskPrefixUnknown):
        naming.assign_device_names(bdms)


# --- limits ------------------------------------------------------------------

def test_ide_holds_four_devices():
    four = [image_root(disk_bus='ide')] + [
        volume('blank', volume_size=1, disk_bus='ide') for _ in range(3)]
    _, named = naming.assign_device_names(four)
    assert names(named) == ['/dev/hda', '/dev/hdb', '/dev/hdc', '/dev/hdd']
    with pytest.raises(exceptions.TooManyDiskDevices) as caught:
        naming.assign_device_names(
            four + [volume('volume', disk_bus='ide')])
    assert caught.value.message == (
        'The maximum allowed number of disk devices (4) to attach to a '
        'single instance has been exceeded.')
    assert caught.value.http_status == 403


def test_max_disk_devices_counts_letters_per_bus():
    bdms = [image_root(), ephemeral(), volume('volume')]
    naming.assign_device_names(bdms, max_disk_devices=3)
    with pytest.raises(exceptions.TooManyDiskDevices):
        naming.assign_device_names(bdms, max_disk_devices=2)
    # A second prefix starts its own count, as blockinfo does.
    mixed = [image_root(), ephemeral(), volume('volume', disk_bus='scsi')]
    _, named = naming.assign_device_names(mixed, max_disk_devices=2)
    assert names(named) == ['/dev/vda', '/dev/vdb', '/dev/sda']


# --- swap, flavor disks, boot order -------------------------------------------

def test_swap_without_size_is_named_after_volumes():
    bdms = [image_root(), swap(size=None), volume('volume')]
    _, named = naming.assign_device_names(bdms)
    assert names(named) == ['/dev/vda', '/dev/vdc', '/dev/vdb']


def test_swap_keeps_its_device_type_as_nova_saves_it():
    _, named = naming.assign_device_names([image_root(), swap()])
    assert named[1]['device_type'] is None
    assert named[1]['disk_bus'] == 'virtio'


def test_flavor_disks_not_yet_bdms_still_take_letters():
    flavor = {'ephemeral_gb': 1, 'swap': 512}
    _, named = naming.assign_device_names([image_root(), volume('volume')],
                                          flavor=flavor)
    assert names(named) == ['/dev/vda', '/dev/vdd']


def test_boot_order_is_boot_index_plus_one():
    bdms = [volume('volume', boot_index=0), volume('snapshot', boot_index=1),
            volume('blank', volume_size=1, boot_index=-1),
            volume('image', volume_size=1), ephemeral()]
    _, named = naming.assign_device_names(bdms)
    assert [b['boot_order'] for b in named] == [1, 2, None, None, None]


def test_input_is_not_modified_and_result_is_stable():
    bdms = [image_root(device_name='/dev/vdq'), ephemeral(device_name='x')]
    before = copy.deepcopy(bdms)
    first = naming.assign_device_names(bdms)
    assert bdms == before
    assert naming.assign_device_names(bdms) == first


def test_no_root_bdm_still_reserves_the_root_letter():
    root, named = naming.assign_device_names([volume('volume')])
    assert root == '/dev/vda'
    assert names(named) == ['/dev/vdb']


# --- atom names and device keys (blockflow.request.atom_names) -----------------------------

def test_atom_name_round_trips_through_parse():
    from blockflow.request import atom_names
    instance = '3f7c1d2e-0000-4000-8000-00000000abcd'
    name = atom_names.atom_name(instance, 'vdb', 'initialize-connection')
    assert atom_names.parse(name, instance) == (instance, 'vdb', 'initialize-connection')
    assert atom_names.group_of(name, instance) == 'vdb'
    assert atom_names.step_of(name, 'vdb') == 'initialize-connection'


def test_parse_without_the_instance_prefix_splits_group_and_step():
    from blockflow.request import atom_names
    assert atom_names.parse('domain-define', 'other') == ('', 'domain', 'define')
    assert atom_names.group_of('lonely') == 'lonely'
    assert atom_names.step_of('lonely', 'vdb') == 'lonely'


@pytest.mark.parametrize('given, stripped, prepended', [
    ('/dev/vdb', 'vdb', '/dev/vdb'), ('vdb', 'vdb', '/dev/vdb'),
    ('', '', ''), (None, None, None)])
def test_dev_prefix_is_stripped_and_prepended_once(given, stripped, prepended):
    from blockflow.request import atom_names
    assert atom_names.strip_dev(given) == stripped
    assert atom_names.prepend_dev(given) == prepended


def test_device_key_of_a_device_dict_or_name():
    from blockflow.request import atom_names
    assert atom_names.device_key({'device_name': '/dev/sda'}) == 'sda'
    assert atom_names.device_key('/dev/sda') == 'sda'
    assert atom_names.data_name('sda', 'volume_id') == 'sda.volume_id'
