"""Disk XML per ``driver_volume_type``: one contract, a factory keyed by protocol.

As Nova's libvirt volume drivers do, the XML is built from Cinder's
connection_info (never from the keyring: libvirt reads the Ceph key from its
own secret, named by ``secret_uuid``) and, for block protocols, from the
device os-brick's connect_volume returned (``device_info['path']``, see
connectors.py).
"""

import abc
import os
import stat
from xml.etree import ElementTree as ET

from blockflow.clients.hypervisor import connectors
from blockflow.request import atom_names

UnsupportedVolumeType = connectors.UnsupportedVolumeType


class DiskTarget:
    """Where the disk goes in the guest."""

    def __init__(self, dev, bus='virtio', device_type='disk', boot_order=None,
                 serial=None):
        self.dev = atom_names.strip_dev(dev)
        self.bus = bus or 'virtio'
        self.device_type = device_type if device_type in ('disk', 'cdrom', 'lun', 'floppy') \
            else 'disk'
        self.boot_order = boot_order
        self.serial = serial


class DiskConfigBuilder(abc.ABC):
    """The <disk> element for one kind of volume (Nova's volume driver get_config)."""

    protocols = ()

    @abc.abstractmethod
    def source(self, disk, connection_info, device_info):
        """Fill in the disk's type attribute and its <source> element."""

    def driver_type(self, connection_info):
        return (connection_info.get('data') or {}).get('format') or 'raw'

    def build(self, connection_info, target, device_info=None):
        disk = ET.Element('disk', device=target.device_type)
        ET.SubElement(disk, 'driver', name='qemu', type=self.driver_type(connection_info),
                      cache='none', discard='unmap' if (connection_info.get('data') or {})
                      .get('discard') else 'ignore')
        self.source(disk, connection_info, device_info or {})
        ET.SubElement(disk, 'target', dev=target.dev, bus=target.bus)
        if target.serial:
            ET.SubElement(disk, 'serial').text = target.serial
        if connection_info.get('multiattach'):
            ET.SubElement(disk, 'shareable')
        if target.boot_order is not None:
            ET.SubElement(disk, 'boot', order=str(target.boot_order))
        return ET.tostring(disk, encoding='unicode')


def _file_or_block(disk, path):
    is_block = os.path.exists(path) and stat.S_ISBLK(os.stat(path).st_mode)
    disk.set('type', 'block' if is_block else 'file')
    ET.SubElement(disk, 'source', **({'dev': path} if is_block else {'file': path}))


class LocalFileBuilder(DiskConfigBuilder):
    """local: a file or block device already on this host (os-brick's LOCAL
    connector returns Cinder's device_path)."""

    protocols = (connectors.LOCAL,)

    def source(self, disk, connection_info, device_info):
        data = connection_info.get('data') or {}
        path = device_info.get('path') or data.get('device_path')
        if not path:
            raise UnsupportedVolumeType(type='local without data.device_path',
                                        known=', '.join(sorted(_BUILDERS)))
        _file_or_block(disk, path)


class RBDBuilder(DiskConfigBuilder):
    protocols = (connectors.RBD,)

    def source(self, disk, connection_info, device_info):
        data = connection_info.get('data') or {}
        disk.set('type', 'network')
        source = ET.SubElement(disk, 'source', protocol='rbd', name=data.get('name', ''))
        for host, port in zip(data.get('hosts') or [], data.get('ports') or []):
            ET.SubElement(source, 'host', name=str(host), port=str(port))
        if data.get('auth_enabled'):
            auth = ET.SubElement(disk, 'auth', username=str(data.get('auth_username', '')))
            ET.SubElement(auth, 'secret', type=data.get('secret_type', 'ceph'),
                          uuid=str(data.get('secret_uuid', '')))


class AttachedBlockBuilder(DiskConfigBuilder):
    """iSCSI, iSER, FC, NVMe-oF: os-brick connects, libvirt sees a block device."""

    protocols = (connectors.ISCSI, connectors.ISER, connectors.FIBRE_CHANNEL,
                 connectors.NVMEOF)

    def source(self, disk, connection_info, device_info):
        path = device_info.get('path')
        if not path:
            raise UnsupportedVolumeType(
                type=f"{connection_info.get('driver_volume_type')} without a connected path",
                known=', '.join(sorted(_BUILDERS)))
        disk.set('type', 'block')
        ET.SubElement(disk, 'source', dev=path)


_BUILDERS = {proto: cls() for cls in (LocalFileBuilder, RBDBuilder, AttachedBlockBuilder)
             for proto in cls.protocols}


def builder_for(connection_info):
    """The DiskConfigBuilder for the connection_info's driver_volume_type."""
    kind = (connection_info or {}).get('driver_volume_type')
    try:
        return _BUILDERS[kind]
    except (KeyError, TypeError):
        raise UnsupportedVolumeType(type=kind, known=', '.join(sorted(_BUILDERS)))


def volume_disk_xml(connection_info, target, device_info=None):
    return builder_for(connection_info).build(connection_info, target, device_info)


def local_disk_xml(path, fmt, target):
    return LocalFileBuilder().build({'driver_volume_type': connectors.LOCAL,
                                     'data': {'device_path': path, 'format': fmt}}, target)
