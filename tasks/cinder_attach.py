"""Tasks that attach a volume through Cinder: attachments API (3.44+) or legacy.

reserve → initialize connection (connector from os-brick) → mark attached,
each undone by its revert. Attachment deletes go with the service role, as
Nova's do; Cinder refuses a plain user's delete of an attached attachment.
"""

from cinderclient import exceptions as cinder_exc
from os_brick.initiator import utils as brick_utils

from blockflow import exceptions
from blockflow import secrets
from blockflow.hypervisor import connectors
from tasks.base import BlockflowTask

ATTACHMENTS = 'attachments'
LEGACY = 'legacy'
ATTACH_VERSION = '3.44'
LEGACY_HANDLE = 'legacy'


class _AttachTask(BlockflowTask):
    def __init__(self, attach_api=ATTACHMENTS, **kwargs):
        super().__init__(**kwargs)
        self.attach_api = attach_api

    def cinder(self, service=False):
        version = ATTACH_VERSION if self.attach_api == ATTACHMENTS else '3.0'
        return self.clients.cinder(version, service=service)

    def _mine(self, instance_uuid, volume_id):
        """Attachments of this instance on the volume (idempotency after a crash)."""
        return [a for a in self.cinder().attachments.list(
            search_opts={'volume_id': volume_id})
            if getattr(a, 'instance', None) == instance_uuid]


class ReserveVolume(_AttachTask):
    """Reserve the volume for the instance, after Nova's availability-zone check
    when the plan pins the zone (cross_az_attach = False).
    Reversion strategy: delete the attachment (as a service) / os-unreserve."""

    def execute(self, instance_uuid, device, volume_id):
        self._check_availability_zone(instance_uuid, device, volume_id)
        if self.attach_api == LEGACY:
            volume = self.cinder().volumes.get(volume_id)
            if volume.status == 'available':
                self.cinder().volumes.reserve(volume_id)
            return LEGACY_HANDLE
        mine = self._mine(instance_uuid, volume_id)
        if mine:
            return mine[0].id
        return self.cinder().attachments.create(volume_id, None, instance_uuid)['id']

    def _check_availability_zone(self, instance_uuid, device, volume_id):
        zone = device.get('availability_zone')
        if not zone:
            return
        volume_zone = getattr(self.cinder().volumes.get(volume_id), 'availability_zone', None)
        if volume_zone != zone:
            raise exceptions.InvalidVolume(reason=(
                f'Instance {instance_uuid} and volume {volume_id} are not in the same '
                f'availability_zone. Instance is in {zone}. Volume is in {volume_zone}'))

    def revert(self, result, instance_uuid, volume_id, **kwargs):
        if not self.produced(result):
            return
        try:
            if result == LEGACY_HANDLE:
                volume = self.cinder().volumes.get(volume_id)
                if volume.status == 'attaching':
                    self.cinder().volumes.unreserve(volume_id)
                return
            self.cinder(service=True).attachments.delete(result)
        except cinder_exc.NotFound:
            pass
        except Exception as exc:
            self.warn('could not release volume %s: %s', volume_id, exc)


class InitializeConnection(_AttachTask):
    """Export the volume to this host; provides connection_info (secrets stripped).
    Reversion strategy: terminate the connection (legacy; the attachment's
    delete covers the attachments API)."""

    def execute(self, instance_uuid, device, volume_id, attachment_id):
        connector = dict(connectors.connector_properties(),
                         mountpoint=device['device_name'])
        volume = self.cinder().volumes.get(volume_id)
        # os-brick's lock for shared iSCSI targets (bug 1800515).
        with brick_utils.guard_connection({'shared_targets': getattr(
                volume, 'shared_targets', False), 'service_uuid': getattr(
                volume, 'service_uuid', None)}):
            if attachment_id == LEGACY_HANDLE:
                info = self.cinder().volumes.initialize_connection(volume_id, connector)
            else:
                info = self.cinder().attachments.update(
                    attachment_id, connector).connection_info
        info = dict(info)
        info['serial'] = volume_id
        if getattr(volume, 'multiattach', False):
            # As Nova does: the disk is then marked <shareable/> for libvirt.
            info['multiattach'] = True
        return secrets.for_storage(info)

    def revert(self, result, volume_id, attachment_id, **kwargs):
        if not self.produced(result) or attachment_id != LEGACY_HANDLE:
            return
        try:
            self.cinder().volumes.terminate_connection(
                volume_id, connectors.connector_properties())
        except Exception as exc:
            self.warn('could not terminate connection of %s: %s', volume_id, exc)


class MarkAttached(_AttachTask):
    """Tell Cinder the volume is in use (attachment complete / os-attach).
    Reversion strategy: os-detach (legacy); the attachment delete covers the rest."""

    def execute(self, instance_uuid, device, volume_id, attachment_id):
        if attachment_id == LEGACY_HANDLE:
            volume = self.cinder().volumes.get(volume_id)
            if volume.status != 'in-use':
                self.cinder().volumes.attach(volume_id, instance_uuid,
                                             device['device_name'], mode='rw')
        else:
            self.cinder().attachments.complete(attachment_id)
        return True

    def revert(self, result, volume_id, attachment_id, **kwargs):
        if not self.produced(result) or attachment_id != LEGACY_HANDLE:
            return
        try:
            self.cinder().volumes.detach(volume_id)
        except Exception as exc:
            self.warn('could not detach %s in Cinder: %s', volume_id, exc)
