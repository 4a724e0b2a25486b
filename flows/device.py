"""One flow per device, assembled from the kind table's steps.

This module is the one place that says which task runs each step and which
named values it reads and writes. Atom names are ``<instance>-<dev>-<step>``
and every value a device produces is stored as ``<dev>.<name>``, so devices
running in parallel never collide and a rebuilt flow matches persisted state.
"""

from taskflow.patterns import linear_flow

from blockflow import kinds
from tasks import cinder_attach
from tasks import cinder_volumes
from tasks import hypervisor as hv_tasks
from tasks import local_disk
from tasks import records


def device_key(device):
    return device['device_name'].replace('/dev/', '')


class DeviceFlowBuilder:
    def __init__(self, instance_uuid, clients, hypervisor, attach_api, instances_path,
                 records_url, image_source=None):
        self.instance_uuid = instance_uuid
        self.clients = clients
        self.hypervisor = hypervisor
        self.attach_api = attach_api
        self.instances_path = instances_path
        self.records_url = records_url
        self.image_source = image_source

    def build(self, device):
        spec = kinds.KINDS[kinds.Kind(device['kind'])]
        dev = device_key(device)

        def sym(name):
            return f'{dev}.{name}'

        def name(step):
            return f'{self.instance_uuid}-{dev}-{step}'

        inject = {'device': device, 'instance_uuid': self.instance_uuid}
        common = {'clients': self.clients, 'inject': inject,
                  'leftovers_url': self.records_url}
        source = sym('image') if spec.kind is kinds.Kind.IMAGE_VOLUME else sym('source')
        makers = {
            kinds.GET_IMAGE: lambda: cinder_volumes.GetImage(
                name=name(kinds.GET_IMAGE), provides=sym('image'), **common),
            kinds.GET_SNAPSHOT: lambda: cinder_volumes.GetSnapshot(
                name=name(kinds.GET_SNAPSHOT), provides=sym('source'), **common),
            kinds.GET_BACKUP: lambda: cinder_volumes.GetBackup(
                name=name(kinds.GET_BACKUP), provides=sym('source'), **common),
            kinds.GET_VOLUME: lambda: cinder_volumes.GetVolume(
                name=name(kinds.GET_VOLUME), provides=(sym('volume_id'), sym('volume')),
                **common),
            kinds.CREATE_VOLUME: lambda: cinder_volumes.CreateVolume(
                name=name(kinds.CREATE_VOLUME), provides=sym('volume_id'),
                rebind={'source': source} if spec.kind is not kinds.Kind.BLANK_VOLUME
                else {}, **common),
            kinds.WAIT_VOLUME: lambda: cinder_volumes.WaitForVolume(
                name=name(kinds.WAIT_VOLUME), rebind={'volume_id': sym('volume_id')},
                provides=sym('volume'), **common),
            kinds.RESERVE: lambda: cinder_attach.ReserveVolume(
                name=name(kinds.RESERVE), attach_api=self.attach_api,
                rebind={'volume_id': sym('volume_id'), 'volume': sym('volume')},
                provides=(sym('attachment_id'), sym('attachment_connection')), **common),
            kinds.CONNECT: lambda: cinder_attach.InitializeConnection(
                name=name(kinds.CONNECT), attach_api=self.attach_api,
                rebind={'volume_id': sym('volume_id'), 'attachment_id': sym('attachment_id'),
                        'volume': sym('volume'),
                        'attachment_connection': sym('attachment_connection')},
                provides=sym('connection_info'), **common),
            kinds.MARK_ATTACHED: lambda: cinder_attach.MarkAttached(
                name=name(kinds.MARK_ATTACHED), attach_api=self.attach_api,
                rebind={'volume_id': sym('volume_id'), 'attachment_id': sym('attachment_id')},
                **common),
            kinds.HYPERVISOR_ATTACH: lambda: (
                hv_tasks.AttachVolumeDisk(
                    self.hypervisor, name=name(kinds.HYPERVISOR_ATTACH), provides=sym('disk'),
                    rebind={'volume_id': sym('volume_id'),
                            'connection_info': sym('connection_info')}, **common)
                if spec.is_volume else hv_tasks.AttachLocalDisk(
                    self.hypervisor, name=name(kinds.HYPERVISOR_ATTACH), provides=sym('disk'),
                    rebind={'local_disk': sym('local_disk')}, **common)),
            kinds.CREATE_LOCAL_DISK: lambda: local_disk.CreateLocalDisk(
                self.instances_path, self.image_source, name=name(kinds.CREATE_LOCAL_DISK),
                provides=sym('local_disk'),
                rebind={'image': sym('image')} if spec.kind is kinds.Kind.IMAGE_LOCAL else {},
                **common),
            kinds.RECORD: lambda: records.RecordDevice(
                self.records_url, name=name(kinds.RECORD),
                rebind=({'volume_id': sym('volume_id'), 'attachment_id': sym('attachment_id'),
                         'connection_info': sym('connection_info')} if spec.is_volume
                        else {'local_disk': sym('local_disk')}), **common),
        }
        flow = linear_flow.Flow(f'{self.instance_uuid}-{dev}')
        for step in spec.steps:
            flow.add(makers[step]())
        return flow
