"""The whole front door: a POST /servers body in, the block devices it means out.

``validate`` runs Nova's three stages in Nova's order, then names the devices
as the libvirt driver would and classifies each into the seed's table.

Without a catalog only what needs no cloud record runs: the schema, the BDM
parsing rules, the boot sequence, image→volume and blank→volume sizes, one
swap, the local-device limit, disk_bus and device_type. Flavor, image, volume,
snapshot, volume-type and AZ checks need ``--catalog`` (or a cloud).
"""

import copy
import dataclasses

from blockflow import exceptions
from blockflow.request import kinds
from blockflow.request import naming
from blockflow.request.validation.catalog import NotFoundInCatalog
from blockflow.request.validation import compute
from blockflow.request.validation.request import parse_request

# Bookkeeping keys Nova's API keeps on a BDM dict that mean nothing to users.
_HIDDEN = ('connection_info', 'encrypted', 'encryption_secret_uuid',
           'encryption_format', 'encryption_options')


@dataclasses.dataclass
class Plan:
    root_device_name: str | None
    devices: list
    instance_az: str | None
    request: object
    flavor: dict | None = None

    def to_dict(self):
        return {'root_device_name': self.root_device_name,
                'instance_availability_zone': self.instance_az,
                'microversion': str(self.request.microversion),
                'devices': copy.deepcopy(self.devices)}


def _flavor(request, catalog):
    try:
        return catalog.get_flavor(request.flavor_ref)
    except NotFoundInCatalog:
        raise exceptions.FlavorNotFound(flavor_id=request.flavor_ref)


def _image(request, catalog):
    try:
        return catalog.get_image_meta(request.image_ref)
    except NotFoundInCatalog:
        raise exceptions.ImageNotFound('Can not find requested image',
                                       image_id=request.image_ref)


def _volumes(bdms, catalog):
    """_get_volumes_for_bdms: every volume a BDM names, whatever its source."""
    volumes = {}
    for bdm in bdms:
        volume_id = bdm.get('volume_id')
        if volume_id and volume_id not in volumes:
            try:
                volumes[volume_id] = catalog.get_volume(volume_id)
            except NotFoundInCatalog:
                raise exceptions.VolumeNotFound(volume_id=volume_id)
    return volumes


def _without_no_device(bdms):
    # no_device entries have done their work (cancelling an image-defined
    # device of their name); Nova's driver skips them.
    return [b for b in bdms if not b.get('no_device')]


def validate(body, microversion=None, catalog=None, enable_backup_source=False,
             config=None):
    request = parse_request(body, microversion, enable_backup_source)
    # Deployment settings: the catalog's, else those given (--config-file).
    config = catalog.config() if catalog is not None else dict(config or {})
    flavor = None
    instance_az = request.availability_zone
    if catalog is not None:
        image = (_image(request, catalog) if request.image_ref
                 else compute.bdm_image_metadata(request, catalog))
        flavor = _flavor(request, catalog)
        bdms = _without_no_device(compute.check_and_transform(request, flavor, image))
        compute.check_image_bootable(request.image_ref, image)
        compute.check_flavor_image(image, flavor, compute._root_bdm(bdms))
        volumes = _volumes(bdms, catalog)
        instance_az = compute.validate_volume_az(request, list(volumes.values()), config)
        compute.validate_bdms(request, flavor, bdms, catalog, volumes, config)
        compute.default_sizes(flavor, bdms)
        image_meta = image
    else:
        bdms = _without_no_device(compute.check_and_transform(request, None, {}))
        unlimited = {'ephemeral_gb': 1 << 31, 'swap': 1 << 31}
        compute.validate_bdms(request, unlimited, bdms, None, {}, config or
                              {'max_local_block_devices': 3})
        image_meta = None
    bdms = compute.attach_existing_volumes(bdms)
    root_name, bdms = naming.assign_device_names(
        bdms, image_meta=image_meta,
        max_disk_devices=int(config.get('max_disk_devices_to_attach', -1)))
    pinned_az = None
    if catalog is not None and not config.get('cross_az_attach', True):
        pinned_az = instance_az or config.get('default_availability_zone', 'nova')
    devices = []
    for bdm in bdms:
        if bdm.get('destination_type') is None:
            # Nova accepts it and its driver drops the device (_InvalidType).
            raise exceptions.InvalidBDMFormat(
                details=f'source_type {bdm.get("source_type")} needs a '
                        'destination_type (local or volume).')
        spec = kinds.classify(bdm)
        if spec is None:
            raise exceptions.InvalidBDMFormat(
                details=f'source_type {bdm.get("source_type")} with destination_type '
                        f'{bdm.get("destination_type")} is not a valid combination.')
        device = {k: v for k, v in bdm.items() if k not in _HIDDEN}
        device['kind'] = spec.kind.value
        if spec.kind is kinds.Kind.EPHEMERAL:
            # Nova's file name disk.eph<N>: N counts the ephemeral BDMs in order.
            device['ephemeral_index'] = sum(d['kind'] == spec.kind.value for d in devices)
        if pinned_az and device.get('destination_type') == 'volume':
            # Nova with cross_az_attach=False creates volumes in the instance's
            # zone and checks the zone again when it attaches.
            device['availability_zone'] = pinned_az
        devices.append(device)
    return Plan(root_device_name=root_name, devices=devices,
                instance_az=instance_az, request=request, flavor=flavor)
