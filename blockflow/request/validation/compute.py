"""Stage 3: the compute-API checks that read the cloud (nova/compute/api.py).

Order as ``API._create_instance``: the image (or the boot volume's image
metadata), ``_check_and_transform_bdm``, the flavor/image checks, the volumes
and their availability zone, then ``_validate_bdm`` and size defaulting.
blockflow does not reserve volumes here (Nova's attachment_create at API
time): the boot flow reserves them, with a revert. The status check that the
reservation implies is kept.
"""

from oslo_utils import strutils
from oslo_utils import units

from blockflow import exceptions
from blockflow.request import kinds
from blockflow.request.validation import bdm as bdm_module
from blockflow.request.validation.catalog import NotFoundInCatalog
from blockflow.request.validation import image_bdms

DISK_BUSES = ('fdc', 'ide', 'sata', 'scsi', 'usb', 'virtio', 'xen', 'lxc', 'uml')
DEVICE_TYPES = ('cdrom', 'disk', 'floppy', 'fs', 'lun')
DEFAULT_ROOT_DEVICE_NAME = 'vda'
MULTIATTACH_MICROVERSION = '2.60'


def _root_bdm(bdms):
    return next((b for b in bdms if b.get('boot_index') == 0), None)


def _is_volume(bdm):
    return bdm.get('destination_type') == 'volume'


def _bool(value, default=True):
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return strutils.bool_from_string(value, default=default)


def _image_meta_from_volume(volume):
    meta = dict(volume.get('volume_image_metadata') or {})
    image = {'status': 'active', 'properties': {}}
    for key in ('min_ram', 'min_disk', 'size', 'disk_format'):
        if key in meta:
            image[key] = meta.pop(key)
    image['size'] = volume.get('size', 0) * units.Gi
    image['properties'] = meta
    return image


def _is_root_for_metadata(bdm, legacy_bdm):
    if legacy_bdm:
        # Legacy items have no boot index yet: the root is the "a" device.
        return bdm_module.get_device_letter(bdm.get('device_name', '')) == 'a'
    return bdm.get('boot_index') == 0


def bdm_image_metadata(request, catalog):
    """get_bdm_image_metadata: the root device's image, for boot from volume."""
    for bdm in request.bdms:
        if not _is_root_for_metadata(bdm, request.legacy_bdm):
            continue
        volume_id = bdm.get('volume_id')
        if bdm.get('snapshot_id'):
            try:
                volume_id = catalog.get_snapshot(bdm['snapshot_id'])['volume_id']
            except NotFoundInCatalog:
                # Nova lets get_snapshot's SnapshotNotFound through (400).
                raise exceptions.SnapshotNotFound(snapshot_id=bdm['snapshot_id'])
        if bdm.get('image_id'):
            try:
                return catalog.get_image_meta(bdm['image_id'])
            except NotFoundInCatalog:
                raise exceptions.InvalidBDMImage(id=bdm['image_id'])
        if volume_id:
            try:
                volume = catalog.get_volume(volume_id)
            except NotFoundInCatalog:
                raise exceptions.InvalidBDMVolume(id=volume_id)
            if not _bool(volume.get('bootable'), default=True):
                raise exceptions.InvalidBDMVolumeNotBootable(id=volume_id)
            return _image_meta_from_volume(volume)
    return {}


def _check_root_name_clash(request, root_device_name):
    """No volume may take the root's name (only v2 items have a destination yet).

    Nova compares the stripped name with its root name, which keeps /dev/
    when it comes from the image: with such an image the check never fires.
    """
    if not request.image_ref:
        return
    for bdm in request.bdms:
        if _is_volume(bdm) and bdm_module.strip_dev(
                bdm.get('device_name')) == root_device_name:
            raise exceptions.InvalidRequest(
                'The volume cannot be assigned the same device name as '
                f'the root device {root_device_name}')


def check_and_transform(request, flavor, image_meta):
    """_check_and_transform_bdm: the request's BDMs, the image's, the flavor's.

    Returns new-format BDM dicts (``no_device`` entries included: they only
    cancel an image-defined device of the same name). ``flavor`` None: no
    flavor disks are added (no catalog to read it from).
    """
    root_device_name = (image_bdms.root_device_name(image_meta)
                        or DEFAULT_ROOT_DEVICE_NAME)
    _check_root_name_clash(request, root_device_name)
    image_defined = image_bdms.image_defined_bdms(flavor, image_meta,
                                                  root_device_name)
    root_in_image = _root_bdm(image_defined) is not None
    if request.legacy_bdm:
        bdms = bdm_module.from_legacy_mapping(
            request.bdms, request.image_ref or '', root_device_name,
            no_root=root_in_image)
    elif root_in_image:
        # The image's root replaces the image→local root clients add.
        bdms = [dict(b) for b in request.bdms
                if not (b.get('boot_index') == 0 and b.get('source_type') == 'image')]
    else:
        bdms = [dict(b) for b in request.bdms]
    bdms = image_bdms.merge(image_defined, bdms)
    if request.min_count > 1 or request.max_count > 1:
        if any(b.get('source_type') == 'volume' for b in bdms):
            raise exceptions.InvalidRequest(
                'Cannot attach one or more volumes to multiple instances')
    if flavor is not None:
        bdms += flavor_defined_bdms(flavor, bdms)
    return bdms


def flavor_defined_bdms(flavor, bdms):
    """_get_flavor_defined_bdms: the flavor's ephemeral and swap, unless requested."""
    added = []
    if flavor.get('ephemeral_gb') and not any(map(kinds.is_ephemeral_bdm, bdms)):
        added.append(bdm_module.create_blank_bdm(flavor['ephemeral_gb']))
    if flavor.get('swap') and not any(map(kinds.is_swap, bdms)):
        added.append(bdm_module.create_blank_bdm(flavor['swap'], 'swap'))
    return added


def check_image_bootable(image_ref, image):
    """_detect_nonbootable_image_from_properties."""
    properties = (image or {}).get('properties') or {}
    if properties.get('cinder_encryption_key_id') and image_ref:
        raise exceptions.ImageUnacceptable(
            image_id=image_ref,
            reason='Direct booting of an image uploaded from an encrypted '
                   'volume is unsupported.')


def check_flavor_image(image, flavor, root_bdm):
    """_check_requested_image + _validate_flavor_image_nostatus."""
    if not image:
        return
    if image.get('status', 'active') != 'active':
        raise exceptions.ImageNotActive(image_id=image.get('id'))
    if int(flavor.get('memory_mb') or 0) < int(image.get('min_ram') or 0):
        raise exceptions.FlavorMemoryTooSmall()
    image_min_disk = int(image.get('min_disk') or 0) * units.Gi
    image_size = int(image.get('size') or 0)
    if root_bdm is not None and _is_volume(root_bdm):
        if root_bdm.get('volume_size') is not None:
            dest_size = int(root_bdm['volume_size']) * units.Gi
            if image_min_disk > dest_size:
                raise exceptions.VolumeSmallerThanMinDisk(
                    volume_size=dest_size, image_min_disk=image_min_disk)
        return
    dest_size = int(flavor.get('root_gb') or 0) * units.Gi
    if dest_size == 0:
        # Only admins may boot from a zero-disk flavor (policy); users not.
        raise exceptions.BootFromVolumeRequiredForZeroDiskFlavor()
    if image_size > dest_size:
        raise exceptions.FlavorDiskSmallerThanImage(
            flavor_size=dest_size, image_size=image_size)
    if image_min_disk > dest_size:
        raise exceptions.FlavorDiskSmallerThanMinDisk(
            flavor_size=dest_size, image_min_disk=image_min_disk)


def validate_volume_az(request, volumes, config):
    """_validate_vol_az_for_create; returns the AZ the instance lands in."""
    instance_az = request.availability_zone
    if config.get('cross_az_attach', True) or not volumes:
        return instance_az
    zones = [v.get('availability_zone') for v in volumes]
    if len(set(zones)) > 1:
        raise exceptions.MismatchVolumeAZException(
            reason='Volumes are in different availability zones: %s' % ','.join(
                str(z) for z in zones))
    volume_az = zones[0]
    if instance_az is None:
        if volume_az != config.get('default_availability_zone', 'nova'):
            return volume_az
        return None
    if instance_az != volume_az:
        raise exceptions.MismatchVolumeAZException(
            reason='Server and volumes are not in the same availability zone. '
                   f'Server is in: {instance_az}. Volumes are in: {volume_az}')
    return instance_az


def _check_volume_type(bdm, volume_types):
    wanted = bdm['volume_type']
    for vtype in volume_types:
        if wanted in (vtype.get('id'), vtype.get('name')):
            bdm['volume_type'] = vtype.get('name')
            return
    raise exceptions.VolumeTypeNotFound(id_or_name=wanted)


def _check_existing_volume(bdm, volume, microversion, instances=1):
    """check_attach_and_reserve_volume, as Cinder's attachment_create judges it.

    ``instances`` > 1: every server of the request reserves the volume (only
    a source_type other than 'volume' gets past max_count's own check); the
    second one finds it reserved, unless it is multiattach.
    """
    if _bool(volume.get('multiattach'), default=False) and \
            microversion < MULTIATTACH_MICROVERSION:
        raise exceptions.MultiattachNotSupportedOldMicroversion()
    multiattach = _bool(volume.get('multiattach'), default=False)
    allowed = ('available', 'in-use', 'downloading') if multiattach else \
        ('available', 'downloading')
    statuses = ', '.join(allowed[:-1]) + ' or ' + allowed[-1]
    status = volume.get('status')
    if status in allowed and instances > 1 and not multiattach:
        status = 'reserved'
    if status not in allowed:
        raise exceptions.InvalidVolume(
            reason='Invalid input received: Invalid volume: Volume '
                   f'{volume.get("id")} status must be {statuses} to reserve, '
                   f'but the current status is {status}.')
    bdm['volume_size'] = volume.get('size')


def _check_volume_once(volume_id, seen):
    """One volume, one device: a second entry would attach it twice."""
    if volume_id in seen:
        raise exceptions.InvalidVolume(
            reason=f'Volume {volume_id} is requested by more than one block '
                   'device mapping; a volume is attached to a server once.')
    seen.add(volume_id)


def attach_existing_volumes(bdms):
    """A device that names a volume_id is that volume, whatever its source_type.

    Nova validates and reserves the volume of any BDM with a volume_id, and
    its driver attaches it instead of creating one (``if not
    self.volume_id``): a legacy item with both snapshot_id and volume_id, or
    a v2 item that also carries volume_id. The plan says what will happen.
    A local device cannot be a volume: refused (Nova reserves the volume and
    leaves it reserved).
    """
    for bdm in bdms:
        if bdm.get('volume_id') is None or bdm.get('source_type') == 'volume':
            continue
        if not _is_volume(bdm):
            raise exceptions.InvalidBDMFormat(
                details=f'volume_id {bdm["volume_id"]} is given for a device '
                        f'with destination_type {bdm.get("destination_type")}; '
                        'an existing volume can only be attached as a volume.')
        bdm.update(source_type='volume', snapshot_id=None, image_id=None)
    return bdms


def validate_bdms(request, flavor, bdms, catalog, volumes, config):
    """_validate_bdm, in Nova's order; fills volume sizes it learns."""
    boot_indexes = sorted(b['boot_index'] for b in bdms
                          if b.get('boot_index') is not None and b['boot_index'] >= 0)
    if not boot_indexes or any(i != v for i, v in enumerate(boot_indexes)):
        raise exceptions.InvalidBDMBootSequence()
    volume_types = None
    images_seen = set()
    volumes_seen = set()
    for bdm in bdms:
        if bdm.get('volume_type'):
            if volume_types is None:
                volume_types = catalog.list_volume_types() if catalog else []
            if catalog is not None:
                _check_volume_type(bdm, volume_types)
        if bdm.get('volume_id') is not None:
            _check_volume_once(bdm['volume_id'], volumes_seen)
        if bdm.get('image_id') is not None:
            image_id = bdm['image_id']
            if catalog is not None and image_id != request.image_ref \
                    and image_id not in images_seen:
                try:
                    catalog.get_image(image_id)
                except NotFoundInCatalog:
                    raise exceptions.InvalidBDMImage(id=image_id)
                images_seen.add(image_id)
            if bdm.get('source_type') == 'image' and _is_volume(bdm) \
                    and not bdm.get('volume_size'):
                raise exceptions.InvalidBDM(
                    "Images with destination_type 'volume' need to have a "
                    "non-zero size specified")
        elif bdm.get('volume_id') is not None:
            if catalog is not None:
                _check_existing_volume(bdm, volumes[bdm['volume_id']],
                                       request.microversion, request.max_count)
        elif bdm.get('snapshot_id') is not None:
            if catalog is not None:
                try:
                    snapshot = catalog.get_snapshot(bdm['snapshot_id'])
                except NotFoundInCatalog:
                    raise exceptions.InvalidBDMSnapshot(id=bdm['snapshot_id'])
                bdm['volume_size'] = bdm.get('volume_size') or snapshot.get('size')
        elif bdm.get('backup_id') is not None:
            if catalog is not None:
                try:
                    backup = catalog.get_backup(bdm['backup_id'])
                except NotFoundInCatalog:
                    raise exceptions.InvalidBDM(
                        'Block Device Mapping is Invalid: failed to get '
                        f'backup {bdm["backup_id"]}.')
                bdm['volume_size'] = bdm.get('volume_size') or backup.get('size')
        elif bdm.get('source_type') == 'blank' and _is_volume(bdm) \
                and not bdm.get('volume_size'):
            raise exceptions.InvalidBDM(
                "Blank volumes (source: 'blank', dest: 'volume') need to "
                "have non-zero size")
        disk_bus = bdm.get('disk_bus')
        if disk_bus and disk_bus not in DISK_BUSES:
            raise exceptions.InvalidBDMDiskBus(disk_bus=disk_bus,
                                               valid=', '.join(DISK_BUSES))
        device_type = bdm.get('device_type')
        # "" too: Nova's BDM object refuses it with a 500.
        if device_type is not None and device_type not in DEVICE_TYPES:
            raise exceptions.InvalidDeviceType(device_type=device_type,
                                               valid=', '.join(DEVICE_TYPES))
    ephemeral_gb = int(flavor.get('ephemeral_gb') or 0)
    ephemeral_size = sum(int(b.get('volume_size') or ephemeral_gb)
                         for b in bdms if kinds.is_ephemeral_bdm(b))
    if ephemeral_size > ephemeral_gb:
        raise exceptions.InvalidBDMEphemeralSize()
    swaps = [b for b in bdms if kinds.is_swap(b)]
    if len(swaps) > 1:
        raise exceptions.InvalidBDMFormat(details='More than one swap drive requested.')
    if swaps and int(swaps[0].get('volume_size') or 0) > int(flavor.get('swap') or 0):
        raise exceptions.InvalidBDMSwapSize()
    max_local = int(config.get('max_local_block_devices', 3))
    if max_local >= 0:
        if sum(1 for b in bdms if b.get('destination_type') == 'local') > max_local:
            raise exceptions.InvalidBDMLocalsLimit()


def default_sizes(flavor, bdms):
    """_volume_size: blank local disks without a size take the flavor's."""
    for bdm in bdms:
        if bdm.get('volume_size') is None and bdm.get('source_type') == 'blank' \
                and bdm.get('destination_type') == 'local':
            bdm['volume_size'] = (flavor.get('swap', 0) if bdm.get('guest_format') == 'swap'
                                  else flavor.get('ephemeral_gb', 0))
    return bdms
