"""Tasks on the hypervisor (libvirt)."""

from blockflow.hypervisor import connectors
from blockflow.hypervisor import disk_config
from tasks.base import BlockflowTask


def _target(device, volume_id=None):
    return disk_config.DiskTarget(device['device_name'], device.get('disk_bus'),
                                  device.get('device_type') or 'disk',
                                  device.get('boot_order'), volume_id)


class EnsureDomain(BlockflowTask):
    """Define the instance's domain; start probing the host's connector meanwhile.
    Reversion strategy: undefine the domain if this task defined it."""

    def __init__(self, hypervisor, **kwargs):
        super().__init__(**kwargs)
        self.hypervisor = hypervisor

    def execute(self, instance_uuid, flavor):
        # The probe takes a fraction of a second; volumes take longer to create,
        # so the first device to connect finds it done instead of waiting.
        connectors.prefetch()
        created = self.hypervisor.ensure_domain(instance_uuid, flavor.get('memory_mb', 256),
                                                flavor.get('vcpus', 1))
        return {'created': created}

    def revert(self, result, instance_uuid, **kwargs):
        if self.produced(result) and result.get('created'):
            try:
                self.hypervisor.undefine(instance_uuid)
            except Exception as exc:
                self.warn('could not undefine the domain: %s', exc)


class _DiskTask(BlockflowTask):
    def __init__(self, hypervisor, **kwargs):
        super().__init__(**kwargs)
        self.hypervisor = hypervisor

    def revert(self, result, instance_uuid, **kwargs):
        if not self.produced(result):
            return
        try:
            self.hypervisor.detach_disk(instance_uuid, result['target_dev'])
        except Exception as exc:
            self.warn('could not detach %s: %s', result.get('target_dev'), exc)


class AttachVolumeDisk(_DiskTask):
    """Put the volume's disk into the domain (XML from connection_info).
    Reversion strategy: remove the disk from the domain."""

    def execute(self, instance_uuid, device, volume_id, connection_info):
        device_info = {}
        data = connection_info.get('data') or {}
        if data.get('device_path'):
            device_info['path'] = data['device_path']
        xml = disk_config.volume_disk_xml(connection_info, _target(device, volume_id),
                                          device_info)
        dev = self.hypervisor.attach_disk(instance_uuid, xml)
        return {'target_dev': dev, 'type': connection_info.get('driver_volume_type')}


class AttachLocalDisk(_DiskTask):
    """Put a local disk file into the domain. Reversion strategy: remove the disk."""

    def execute(self, instance_uuid, device, local_disk):
        xml = disk_config.local_disk_xml(local_disk['path'], local_disk['format'],
                                         _target(device))
        return {'target_dev': self.hypervisor.attach_disk(instance_uuid, xml),
                'type': 'local'}


class StartDomain(BlockflowTask):
    """Start the domain when asked. Reversion strategy: stop it if this task started it."""

    def __init__(self, hypervisor, **kwargs):
        super().__init__(**kwargs)
        self.hypervisor = hypervisor

    def execute(self, instance_uuid, start):
        return {'started': bool(start) and self.hypervisor.start(instance_uuid)}

    def revert(self, result, instance_uuid, **kwargs):
        if self.produced(result) and result.get('started'):
            self.hypervisor.stop(instance_uuid)
