"""One flow per device: the kind table's steps, in order, as named tasks.

The row of ``blockflow.request.kinds`` says which task runs each step and which named
values it reads and writes; this module only turns that row into atoms.
Atom names and data names come from ``blockflow.request.atom_names``, so devices running
in parallel never collide and a rebuilt flow matches persisted state.
"""

from oslo_utils import importutils
from taskflow.patterns import linear_flow

from blockflow.request import atom_names
from blockflow.request import kinds


def device_key(device):
    return atom_names.device_key(device)


def task_for(step, instance_uuid, device, resources, common):
    """The task of one step of one device (``resources``: the NEEDS_* values)."""
    dev = atom_names.device_key(device)
    provides = tuple(atom_names.data_name(dev, name) for name in step.provides)
    kwargs = {need: resources[need] for need in step.needs}
    if step.rebind:
        kwargs['rebind'] = {arg: atom_names.data_name(dev, name) for arg, name in step.rebind}
    if provides:
        # One name stores the whole result; several name a returned tuple's items.
        kwargs['provides'] = provides[0] if len(provides) == 1 else provides
    task_class = importutils.import_class(step.task)
    return task_class(name=atom_names.atom_name(instance_uuid, dev, step.name),
                      **kwargs, **common)


class DeviceFlowBuilder:
    def __init__(self, instance_uuid, clients, hypervisor, attach_api, instances_path,
                 records_url, image_source=None):
        self.instance_uuid = instance_uuid
        self.clients = clients
        self.records_url = records_url
        self.resources = {
            kinds.NEEDS_ATTACH_API: attach_api,
            kinds.NEEDS_HYPERVISOR: hypervisor,
            kinds.NEEDS_INSTANCES_PATH: instances_path,
            kinds.NEEDS_IMAGE_SOURCE: image_source,
            kinds.NEEDS_RECORDS_URL: records_url,
        }

    def build(self, device):
        spec = kinds.KINDS[kinds.Kind(device['kind'])]
        common = {'clients': self.clients, 'leftovers_url': self.records_url,
                  'inject': {'device': device, 'instance_uuid': self.instance_uuid}}
        flow = linear_flow.Flow(atom_names.group_flow_name(self.instance_uuid,
                                                      atom_names.device_key(device)))
        for step in spec.step_specs:
            flow.add(task_for(step, self.instance_uuid, device, self.resources, common))
        return flow
