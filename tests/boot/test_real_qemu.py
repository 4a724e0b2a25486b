"""Hot-plug into a running domain on real QEMU: libvirtd started by the test,
file-backed volumes attached live from 'local' connection_info, then detached."""

import os
import pathlib
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

from blockflow.clients.hypervisor import disk_config
from blockflow.clients.hypervisor import domain

LIBVIRTD = shutil.which('libvirtd') or '/usr/sbin/libvirtd'
VIRTLOGD = shutil.which('virtlogd') or '/usr/sbin/virtlogd'
QEMU = shutil.which('qemu-system-x86_64')
pytestmark = [pytest.mark.qemu, pytest.mark.skipif(
    not (os.path.exists(LIBVIRTD) and QEMU and os.geteuid() == 0),
    reason='needs root, libvirtd and qemu-system-x86 (Debian packages in bindep.txt)')]


@pytest.fixture(scope='module')
def qemu_uri(tmp_path_factory):
    started = []
    if subprocess.run(['pgrep', '-x', 'virtlogd'], capture_output=True).returncode != 0:
        subprocess.run([VIRTLOGD, '-d'], check=True)
    if subprocess.run(['pgrep', '-x', 'libvirtd'], capture_output=True).returncode != 0:
        pidfile = tmp_path_factory.mktemp('libvirtd') / 'libvirtd.pid'
        subprocess.run([LIBVIRTD, '-d', '-p', str(pidfile)], check=True)
        started.append(pidfile)
    import libvirt
    deadline = time.monotonic() + 20
    while True:
        try:
            libvirt.open('qemu:///system').close()
            break
        except libvirt.libvirtError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    yield 'qemu:///system'
    for pidfile in started:
        if pidfile.exists():
            subprocess.run(['kill', pidfile.read_text().strip()], check=False)


def test_live_attach_and_detach_of_file_volumes(qemu_uri):
    # QEMU runs as its own user: the volume files must be reachable for it.
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix='blockflow-qemu-', dir='/tmp'))
    os.chmod(tmp_path, 0o755)
    hypervisor = domain.Hypervisor(qemu_uri)
    instance = str(uuid.uuid4())
    assert hypervisor.ensure_domain(instance, memory_mb=128, vcpus=1)
    try:
        assert hypervisor.start(instance)
        volumes = []
        for dev in ('sdb', 'sdc'):
            path = tmp_path / f'volume-{dev}.qcow2'
            subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', str(path), '64M'],
                           check=True)
            os.chmod(path, 0o666)
            info = {'driver_volume_type': 'local',
                    'data': {'device_path': str(path), 'format': 'qcow2'}}
            volume_id = str(uuid.uuid4())
            xml = disk_config.volume_disk_xml(
                info, disk_config.DiskTarget(f'/dev/{dev}', 'scsi', 'disk', None, volume_id))
            assert hypervisor.attach_disk(instance, xml) == dev
            volumes.append((dev, str(path), volume_id))
        import libvirt
        live = hypervisor.conn.lookupByName(domain.domain_name(instance)).XMLDesc(0)
        for dev, path, volume_id in volumes:
            assert f"dev='{dev}'" in live and path in live and volume_id in live
        # Attaching again is a no-op (idempotent on the target).
        assert hypervisor.attach_disk(instance, xml) == 'sdc'
        for dev, _path, _volume_id in volumes:
            assert hypervisor.detach_disk(instance, dev)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            live = hypervisor.conn.lookupByName(domain.domain_name(instance)).XMLDesc(0)
            if not any(path in live for _dev, path, _v in volumes):
                break
            time.sleep(0.2)
        assert not any(path in live for _dev, path, _v in volumes)
    finally:
        hypervisor.undefine(instance)
        shutil.rmtree(tmp_path, ignore_errors=True)
