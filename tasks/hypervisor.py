"""Tasks on the hypervisor (libvirt)."""

from cinderclient import exceptions as cinder_exc

from blockflow.clients.hypervisor import connectors
from blockflow.clients.hypervisor import disk_config
from blockflow import secrets
from tasks.base import BlockflowTask
from tasks import cinder_attach


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
    """Connect the volume to this host through os-brick (block protocols, as
    Nova's libvirt volume drivers do), then put its disk into the domain, with
    the device path connect_volume returned. Provides the target dev and the
    host device (path, never a secret), so detach and delete can disconnect.
    Reversion strategy: remove the disk from the domain, then disconnect the
    volume from the host; skipped when nothing was connected; if the saved
    result was lost, the connection is found by its connection properties."""

    def execute(self, instance_uuid, device, volume_id, connection_info,
                attachment_id=None):
        host = connectors.connector_for(connection_info)
        builder = disk_config.builder_for(connection_info)
        volume = self._volume_for_guard(host, volume_id)
        with connectors.guard(host, volume):
            host_device = host.connect(self._with_secrets(
                host, connection_info, instance_uuid, volume_id, attachment_id))
        try:
            xml = builder.build(connection_info, _target(device, volume_id),
                                host_device or {})
            dev = self.hypervisor.attach_disk(instance_uuid, xml)
        except Exception:
            self._disconnect(connection_info, host_device, volume, instance_uuid)
            raise
        return {'target_dev': dev, 'type': connection_info.get('driver_volume_type'),
                'host_device': secrets.for_storage(host_device) if host_device else None}

    def revert(self, result, instance_uuid, volume_id, connection_info, **kwargs):
        produced = self.produced(result)
        if produced:
            try:
                self.hypervisor.detach_disk(instance_uuid, result['target_dev'])
            except Exception as exc:
                self.warn('could not detach %s: %s', result.get('target_dev'), exc)
        host_device = (result.get('host_device', connectors.LOST) if produced
                       else connectors.LOST)
        try:
            host = connectors.connector_for(connection_info)
        except connectors.UnsupportedVolumeType:
            return      # execute refused it before connecting anything
        volume = None
        if host_device is not None:
            try:
                volume = self._volume_for_guard(host, volume_id, connection_info)
            except Exception as exc:
                self.warn('could not read volume %s: %s', volume_id, exc)
        self._disconnect(connection_info, host_device, volume, instance_uuid)

    def _disconnect(self, connection_info, host_device, volume, instance_uuid):
        try:
            connectors.release(connection_info, host_device, volume, instance_uuid)
        except Exception as exc:
            self.warn('could not disconnect the volume from this host: %s', exc)

    def _volume_for_guard(self, host, volume_id, connection_info=None):
        """Cinder's volume when os-brick's guard or the multiattach check need it
        (shared_targets tri-state from 3.69, 3.48 before), else None."""
        if not (host.shares_targets or (connection_info or {}).get('multiattach')):
            return None
        last = None
        for version in GUARD_VERSIONS:
            try:
                return self.clients.cinder(version).volumes.get(volume_id)
            except (cinder_exc.NotAcceptable, cinder_exc.BadRequest) as exc:
                last = exc
        raise last

    def _with_secrets(self, host, connection_info, instance_uuid, volume_id, attachment_id):
        if not host.needs_secrets(connection_info):
            return connection_info
        return connection_info_with_secrets(self.clients, instance_uuid, volume_id,
                                            attachment_id)


GUARD_VERSIONS = ('3.69', '3.48')


def connection_info_with_secrets(clients, instance_uuid, volume_id, attachment_id=None):
    """connection_info with its secrets (CHAP passwords...), asked from Cinder
    again: the stored copy has none. Only os-brick's connect sees it.

    ``attachment_id`` is the reserve step's handle; without it this
    instance's attachment of the volume is looked up (attachments API), and
    failing that the legacy initialize_connection is asked again, as Nova's
    refresh_connection_info does.
    """
    if attachment_id != cinder_attach.LEGACY_HANDLE:
        cinder = clients.cinder(cinder_attach.ATTACH_VERSION)
        if not attachment_id:
            mine = [a for a in cinder.attachments.list(search_opts={'volume_id': volume_id})
                    if getattr(a, 'instance', None) == instance_uuid]
            attachment_id = mine[0].id if mine else None
        if attachment_id:
            info = cinder.attachments.show(attachment_id).connection_info
            if info:
                return dict(info)
    connector = connectors.connector_properties()
    return dict(clients.cinder('3.0').volumes.initialize_connection(volume_id, connector))


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
