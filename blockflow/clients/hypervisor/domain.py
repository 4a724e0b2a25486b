"""libvirt domains for instances: define, add and remove disks, start.

``test:///default`` (no daemon) cannot hot-plug, so there a disk is added by
redefining the persistent domain under a per-domain lock; on a real hypervisor
a running domain gets ``attachDeviceFlags(LIVE|CONFIG)``.
"""

import atexit
import collections
import contextlib
import functools
import os
import re
import threading
from xml.etree import ElementTree as ET

from blockflow import exceptions
from blockflow import secrets

DEFAULT_URI = 'test:///default'
_OS_BOOT = re.compile(r"\s*<boot dev='[^']*'\/>")
_CONNECTIONS = {}
_CONNECTIONS_LOCK = threading.Lock()
_DOMAIN_LOCKS = collections.defaultdict(threading.Lock)


class HypervisorError(exceptions.BlockflowError):
    msg_fmt = 'libvirt: %(reason)s'
    http_status = 500


@functools.cache
def _libvirt():
    """libvirt-python, imported on first use (not by every command that builds a flow)."""
    import libvirt
    # libvirt prints every error to stderr by default; blockflow reports them itself.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    # Closed before the interpreter tears modules down (a connection collected
    # after libvirt's own module globals are gone complains on stderr).
    atexit.register(_close_connections)
    return libvirt


def _close_connections():
    with _CONNECTIONS_LOCK:
        connections = list(_CONNECTIONS.values())
        _CONNECTIONS.clear()
    for conn in connections:
        with contextlib.suppress(Exception):
            conn.close()


def _connection(uri):
    # test:///default keeps its state per connection: share one per process.
    with _CONNECTIONS_LOCK:
        if uri not in _CONNECTIONS:
            try:
                _CONNECTIONS[uri] = _libvirt().open(uri)
            except _libvirt().libvirtError as exc:
                raise HypervisorError(reason=f'cannot open {uri}: {exc}')
        return _CONNECTIONS[uri]


def prefetch(uri=DEFAULT_URI):
    """Import libvirt and open ``uri`` in the background (a tenth of a second),
    so the flow's first libvirt step finds the connection made."""
    def connect():
        try:
            _connection(uri or DEFAULT_URI)
        except Exception:   # noqa: S110 - the step that needs it reports it
            pass
    threading.Thread(target=connect, daemon=True, name='blockflow-libvirt-open').start()


def domain_name(instance_uuid):
    return f'instance-{instance_uuid}'


def _default_virt_type(uri):
    if uri.startswith('test:'):
        return 'test'
    # QEMU runs as an unprivileged user: KVM only if that user may open /dev/kvm.
    try:
        usable = os.stat('/dev/kvm').st_mode & 0o066
    except OSError:
        usable = False
    return 'kvm' if usable else 'qemu'


class Hypervisor:
    def __init__(self, uri=DEFAULT_URI, virt_type=None):
        self.uri = uri or DEFAULT_URI
        self.virt_type = virt_type or _default_virt_type(self.uri)

    @property
    def conn(self):
        return _connection(self.uri)

    def _lookup(self, instance_uuid):
        try:
            return self.conn.lookupByName(domain_name(instance_uuid))
        except _libvirt().libvirtError:
            return None

    def ensure_domain(self, instance_uuid, memory_mb=256, vcpus=1):
        """Define the domain if missing; True if this call defined it."""
        with _DOMAIN_LOCKS[instance_uuid]:
            if self._lookup(instance_uuid) is not None:
                return False
            xml = (f"<domain type='{self.virt_type}'>"
                   f'<name>{domain_name(instance_uuid)}</name><uuid>{instance_uuid}</uuid>'
                   f"<memory unit='MiB'>{int(memory_mb)}</memory><vcpu>{int(vcpus)}</vcpu>"
                   "<os><type arch='x86_64'>hvm</type></os><features><acpi/></features>"
                   '<devices></devices></domain>')
            try:
                self.conn.defineXML(xml)
            except _libvirt().libvirtError as exc:
                raise HypervisorError(reason=str(exc))
            return True

    def undefine(self, instance_uuid):
        with _DOMAIN_LOCKS[instance_uuid]:
            dom = self._lookup(instance_uuid)
            if dom is None:
                return
            if dom.isActive():
                dom.destroy()
            dom.undefine()

    def disks(self, instance_uuid):
        dom = self._lookup(instance_uuid)
        if dom is None:
            return []
        root = ET.fromstring(dom.XMLDesc(_libvirt().VIR_DOMAIN_XML_INACTIVE))
        result = []
        for disk in root.findall('./devices/disk'):
            target = disk.find('target')
            source = disk.find('source')
            boot = disk.find('boot')
            serial = disk.find('serial')
            result.append({
                'target_dev': target.get('dev') if target is not None else None,
                'bus': target.get('bus') if target is not None else None,
                'source': (source.get('file') or source.get('dev') or source.get('name'))
                if source is not None else None,
                'serial': serial.text if serial is not None else None,
                'boot_order': int(boot.get('order')) if boot is not None else None})
        return result

    def attach_disk(self, instance_uuid, disk_xml):
        """Add a disk; idempotent on the target dev. Returns the target dev."""
        new = ET.fromstring(disk_xml)
        dev = new.find('target').get('dev')
        if self.uri.startswith('test:') and self._lookup(instance_uuid) is None:
            # test:/// state dies with its process; a resumed boot redefines it.
            self.ensure_domain(instance_uuid)
        with _DOMAIN_LOCKS[instance_uuid]:
            dom = self._lookup(instance_uuid)
            if dom is None:
                raise HypervisorError(reason=f'no domain for instance {instance_uuid}')
            # libvirt writes its XML canonically (attributes in single quotes), so
            # plain text edits are exact, and they keep a boot of hundreds of
            # disks linear: no parse and re-serialisation of the domain per disk.
            current = dom.XMLDesc(_libvirt().VIR_DOMAIN_XML_INACTIVE)
            if f"<target dev='{dev}'" in current:
                return dev
            try:
                if dom.isActive() and not self.uri.startswith('test:'):
                    dom.attachDeviceFlags(disk_xml, _libvirt().VIR_DOMAIN_AFFECT_LIVE |
                                          _libvirt().VIR_DOMAIN_AFFECT_CONFIG)
                else:
                    if new.find('boot') is not None:
                        # libvirt refuses per-disk boot order next to <os><boot dev=...>.
                        current = _OS_BOOT.sub('', current)
                    self.conn.defineXML(current.replace('</devices>',
                                                        disk_xml + '</devices>', 1))
            except _libvirt().libvirtError as exc:
                raise HypervisorError(reason=secrets.mask_text(str(exc)))
            return dev

    def detach_disk(self, instance_uuid, target_dev):
        with _DOMAIN_LOCKS[instance_uuid]:
            dom = self._lookup(instance_uuid)
            if dom is None:
                return False
            root = ET.fromstring(dom.XMLDesc(_libvirt().VIR_DOMAIN_XML_INACTIVE))
            devices = root.find('devices')
            for disk in devices.findall('disk'):
                target = disk.find('target')
                if target is not None and target.get('dev') == target_dev:
                    if dom.isActive() and not self.uri.startswith('test:'):
                        dom.detachDeviceFlags(ET.tostring(disk, encoding='unicode'),
                                              _libvirt().VIR_DOMAIN_AFFECT_LIVE |
                                              _libvirt().VIR_DOMAIN_AFFECT_CONFIG)
                    else:
                        devices.remove(disk)
                        self.conn.defineXML(ET.tostring(root, encoding='unicode'))
                    return True
            return False

    def start(self, instance_uuid):
        dom = self._lookup(instance_uuid)
        if dom is not None and not dom.isActive():
            dom.create()
            return True
        return False

    def stop(self, instance_uuid):
        dom = self._lookup(instance_uuid)
        if dom is not None and dom.isActive():
            dom.destroy()
