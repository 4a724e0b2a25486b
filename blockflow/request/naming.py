"""Guest device names for a whole server, as Nova's libvirt driver picks them.

Nova names devices in the compute manager before any attach starts
(``_default_block_device_names``): it settles the root name, throws away every
other user-supplied name (libvirt cannot honour them) and lets
``nova/virt/libvirt/blockinfo.py`` hand out letters bus by bus in a fixed
order: root, local image disk, default ephemeral, ephemerals, swap, volumes.
``assign_device_names`` reproduces that as one pure function of the full set,
so the per-device flows that run in parallel never race for a letter.
"""

import copy
import platform

from blockflow import exceptions
from blockflow.request import atom_names
from blockflow.request import kinds

# Buses each virt type accepts (Nova keeps xen/uml only to reject them).
SUPPORTED_DEVICE_BUSES = {
    'qemu': ('virtio', 'scsi', 'ide', 'usb', 'fdc', 'sata'),
    'kvm': ('virtio', 'scsi', 'ide', 'usb', 'fdc', 'sata'),
    'parallels': ('ide', 'scsi'),
}
SUPPORTED_DEVICE_TYPES = ('disk', 'cdrom', 'floppy', 'lun')

_PREFIX_FOR_BUS = {
    'virtio': 'vd', 'scsi': 'sd', 'usb': 'sd', 'sata': 'sd',
    'ide': 'hd', 'fdc': 'fd',
}
# Reverse guess used when a named device carries no usable bus.
_BUS_FOR_PREFIX = (('hd', 'ide'), ('sd', 'scsi'), ('vd', 'virtio'),
                   ('fd', 'fdc'))
# The IDE controller QEMU emulates has two channels of two devices each.
IDE_MAX_DEVICES = 4
# Guest architectures whose QEMU machines have no IDE bus for a CD-ROM.
_SCSI_CDROM_ARCHES = ('ppc', 'ppc64', 'ppcle', 'ppc64le', 's390', 's390x',
                      'aarch64')
_HOST_ARCH_ALIASES = {'amd64': 'x86_64', 'arm64': 'aarch64'}

# Order in which the seed's Nova converts volume-destination BDMs
# (nova/virt/block_device.py convert_all_volumes): letters follow this order,
# not the request order. 'backup' exists only in the seed's fork.
VOLUME_SOURCE_ORDER = ('volume', 'snapshot', 'image', 'blank', 'backup')


class UnsupportedHardware(exceptions.Invalid):
    """An image asks for a bus the virt type lacks (Nova fails the build)."""

    msg_fmt = ("Requested hardware '%(model)s' is not supported by the "
               "'%(virt)s' virt driver")


class DiskPrefixUnknown(exceptions.BlockflowError):
    """Nova's InternalError when no bus (hence no name prefix) can be found."""

    msg_fmt = 'Unable to determine disk prefix for %(bus)s'
    http_status = 500


def device_letter(index):
    """0 -> 'a', 25 -> 'z', 26 -> 'aa', 701 -> 'zz', 702 -> 'aaa' (bijective base 26)."""
    letters = ''
    index += 1
    while index > 0:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord('a') + remainder) + letters
    return letters


strip_dev = atom_names.strip_dev
prepend_dev = atom_names.prepend_dev


def _image_properties(image_meta):
    return (image_meta or {}).get('properties') or {}


def _as_int(value):
    """boot_index / volume_size as an int, None when absent or not a number."""
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class _DiskMapper:
    """The libvirt driver's disk mapping for one server, built once."""

    def __init__(self, image_meta, virt_type, max_disk_devices):
        if virt_type not in SUPPORTED_DEVICE_BUSES:
            raise ValueError(f'unsupported virt_type {virt_type!r}; '
                             f'one of {sorted(SUPPORTED_DEVICE_BUSES)}')
        self.image_meta = image_meta or {}
        self.properties = _image_properties(image_meta)
        self.virt_type = virt_type
        self.max_disk_devices = max_disk_devices
        self.used = set()       # device names (no /dev/) already taken
        # Per prefix, an index below which every name is taken: names are
        # only ever added, so the search never needs to start lower.
        self._first_free = {}
        self.disk_bus = self.bus_for_device_type('disk')
        self.cdrom_bus = self.bus_for_device_type('cdrom')

    def bus_is_valid(self, bus):
        return bus in SUPPORTED_DEVICE_BUSES[self.virt_type]

    def bus_for_device_type(self, device_type):
        """Image property first (hw_disk_bus, hw_<type>_bus), else the default."""
        image_bus = self.properties.get(f'hw_{device_type}_bus')
        if image_bus is not None:
            if not self.bus_is_valid(image_bus):
                raise UnsupportedHardware(model=image_bus, virt=self.virt_type)
            return image_bus
        if self.virt_type == 'parallels':
            return {'cdrom': 'ide', 'disk': 'scsi'}.get(device_type)
        if device_type == 'disk':
            return 'virtio'
        if device_type == 'floppy':
            return 'fdc'
        if device_type == 'cdrom':
            if self._guest_arch() in _SCSI_CDROM_ARCHES:
                return 'scsi'
            # Q35 has no IDE controller; QEMU's x86 default machine is 'pc'.
            if 'q35' in (self.properties.get('hw_machine_type') or ''):
                return 'sata'
            return 'ide'
        return None     # 'lun' has no default bus

    def _guest_arch(self):
        arch = self.properties.get('hw_architecture')
        if arch:
            return arch
        host = platform.machine().lower()
        return _HOST_ARCH_ALIASES.get(host, host)

    def next_free_name(self, bus):
        """First prefix+letter on ``bus`` nobody holds yet."""
        prefix = _PREFIX_FOR_BUS.get(bus)
        if prefix is None:
            raise DiskPrefixUnknown(bus=bus)
        if bus == 'ide':
            limit = IDE_MAX_DEVICES
        elif self.max_disk_devices is None or self.max_disk_devices < 0:
            limit = None
        else:
            limit = self.max_disk_devices
        index = self._first_free.get(prefix, 0)
        while True:
            # The limit counts letters on this prefix, as blockinfo does.
            if limit is not None and index >= limit:
                raise exceptions.TooManyDiskDevices(maximum=limit)
            name = prefix + device_letter(index)
            if name not in self.used:
                self._first_free[prefix] = index
                return name
            index += 1

    def place(self, bdm, default_bus=None):
        """Bus, type and name for one BDM (blockinfo.get_info_from_bdm)."""
        name = strip_dev(bdm.get('device_name'))
        device_type = bdm.get('device_type')
        if device_type not in SUPPORTED_DEVICE_TYPES:
            device_type = 'disk'
        bus = bdm.get('disk_bus') or default_bus
        if not self.bus_is_valid(bus):
            bus = None
            if name:
                bus = next((b for prefix, b in _BUS_FOR_PREFIX
                            if name.startswith(prefix)), None)
            if bus is None:
                bus = self.bus_for_device_type(device_type)
        if not name:
            name = self.next_free_name(bus)
        self.used.add(name)
        return {'dev': name, 'bus': bus, 'type': device_type}

    def is_iso_image(self):
        return self.image_meta.get('disk_format') == 'iso'


def _boot_order(boot_index):
    # libvirt numbers boot devices from 1, BDMs from 0.
    index = _as_int(boot_index)
    return index + 1 if index is not None and index >= 0 else None


_is_swap = kinds.is_swap
_is_ephemeral = kinds.is_ephemeral_bdm


def _is_local_image(bdm):
    return (bdm.get('source_type') == 'image'
            and bdm.get('destination_type') == 'local')


def _volume_rank(bdm):
    if bdm.get('destination_type') != 'volume':
        return None
    try:
        return VOLUME_SOURCE_ORDER.index(bdm.get('source_type'))
    except ValueError:
        return None


def _write_back(bdm, info, keep_device_type=False):
    """blockinfo.update_bdm: the name only if unset; bus and type always.

    ``keep_device_type``: Nova's swap driver BDM does not save device_type.
    """
    if not bdm.get('device_name'):
        bdm['device_name'] = prepend_dev(info['dev'])
    bdm['disk_bus'] = info['bus']
    if keep_device_type:
        bdm.setdefault('device_type', None)
    else:
        bdm['device_type'] = info['type']


def assign_device_names(bdms, image_meta=None, virt_type='kvm',
                        max_disk_devices=-1, flavor=None):
    """Name every device of one server, as Nova + libvirt would at boot.

    ``bdms``: normalised Nova BDM dicts (request order). ``image_meta``: the
    Glance record of the boot image ({'disk_format', 'properties'}), if any.
    ``flavor`` (optional) only matters when the API has not already turned the
    flavor's ephemeral/swap into BDMs: those disks then still take a letter.

    Returns ``(root_device_name, named_bdms)``: copies of ``bdms`` in the same
    order with ``device_name``, ``disk_bus``, ``device_type`` and
    ``boot_order`` (libvirt's, boot_index + 1, None when not bootable) set.
    The input is not modified.
    """
    named = [copy.deepcopy(bdm) for bdm in bdms]
    mapper = _DiskMapper(image_meta, virt_type, max_disk_devices)

    # The manager: the root keeps its own name, or the instance's (the image's
    # root_device_name property), or gets the default on its bus.
    root = next((b for b in named if _as_int(b.get('boot_index')) == 0), None)
    wanted_root = None
    if root is not None:
        wanted_root = (root.get('device_name')
                       or mapper.properties.get('root_device_name'))
    # The driver: every other user-supplied name is ignored.
    for bdm in named:
        bdm['device_name'] = None

    images = [b for b in named if _is_local_image(b)]
    ephemerals = [b for b in named if _is_ephemeral(b)]
    swaps = [b for b in named if _is_swap(b)]
    volumes = sorted((b for b in named if _volume_rank(b) is not None),
                     key=_volume_rank)     # stable: request order per source

    # blockinfo._get_disk_mapping: the root is the local image disk if any,
    # else the boot_index 0 volume.
    root_bdm = images[0] if images else next(
        (b for b in volumes if _as_int(b.get('boot_index')) == 0), None)
    root_bus, root_type = mapper.disk_bus, 'disk'
    if mapper.is_iso_image():
        root_bus, root_type = mapper.cdrom_bus, 'cdrom'
    if root_bdm is None:
        root_info = {'dev': strip_dev(wanted_root) if wanted_root
                     else mapper.next_free_name(root_bus),
                     'bus': root_bus, 'type': root_type}
        mapper.used.add(root_info['dev'])
    else:
        probe = dict(root_bdm, device_name=wanted_root)
        if mapper.is_iso_image():
            probe.update(disk_bus=root_bus, device_type=root_type)
        root_info = mapper.place(probe, default_bus=mapper.disk_bus)
        _write_back(root_bdm, root_info)

    flavor = flavor or {}
    if not ephemerals and (_as_int(flavor.get('ephemeral_gb')) or 0) > 0:
        mapper.used.add(mapper.next_free_name(mapper.disk_bus))  # disk.local
    for bdm in ephemerals:
        _write_back(bdm, mapper.place(bdm, default_bus=mapper.disk_bus))

    # Nova hands blockinfo only the last swap, and only names it here when
    # it has a size; a size-less swap is named last, after the volumes.
    swap = swaps[-1] if swaps else None
    late = [b for b in swaps if b is not swap]
    if swap is not None and (_as_int(swap.get('volume_size')) or 0) > 0:
        _write_back(swap, mapper.place(swap, default_bus=mapper.disk_bus),
                    keep_device_type=True)
    else:
        if swap is not None:
            late.append(swap)
        if (_as_int(flavor.get('swap')) or 0) > 0:
            mapper.used.add(mapper.next_free_name(mapper.disk_bus))

    for bdm in volumes:
        if bdm is root_bdm:
            continue        # named with the root, same letter
        _write_back(bdm, mapper.place(bdm))

    # Nova's _add_missing_dev_names: whatever is still unnamed gets the next
    # free name on its own device type's bus.
    for bdm in late + [b for b in named if not b.get('device_name')]:
        if not bdm.get('device_name'):
            _write_back(bdm, mapper.place(bdm), keep_device_type=_is_swap(bdm))

    for bdm in named:
        if _is_local_image(bdm):
            bdm['boot_order'] = 1       # the driver forces boot_index 0
        elif _volume_rank(bdm) is not None:
            bdm['boot_order'] = _boot_order(bdm.get('boot_index'))
        else:
            bdm['boot_order'] = None    # ephemeral/swap carry no boot index

    return prepend_dev(root_info['dev']), named
