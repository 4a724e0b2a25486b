"""The boot flow of one instance: define the domain, every device in parallel, start.

``create_boot_flow`` is the reimportable factory TaskFlow stores in the flow
detail; its arguments are plain JSON (the validated devices, where the cloud
is — never a password), so any process can rebuild the flow to resume it.
"""

from taskflow.patterns import linear_flow
from taskflow.patterns import unordered_flow

from blockflow.clients.hypervisor import domain
from blockflow.clients import openstack as clients_module
from blockflow.request import atom_names
from blockflow.request import kinds
from flows import device as device_flows
from tasks import hypervisor as hv_tasks
from tasks import undo

DOMAIN_GROUP = kinds.BOOT_GROUP
LEFTOVERS_STEP = kinds.CHECK_LEFTOVERS
# TaskFlow's compiler merges a flow's children one by one into a copy of the
# graph so far, which is quadratic in the number of children; devices are
# therefore grouped (all groups and devices still run in parallel).
DEVICES_PER_GROUP = 16


def create_boot_flow(instance_uuid, devices, flavor, cloud_ref, libvirt_uri, attach_api,
                     instances_path, records_url, start=False):
    clients = clients_module.Clients(cloud_ref)
    hypervisor = domain.Hypervisor(libvirt_uri)
    builder = device_flows.DeviceFlowBuilder(
        instance_uuid, clients, hypervisor, attach_api, instances_path, records_url,
        image_source=clients_module.GlanceImageSource(clients))
    root = linear_flow.Flow(f'boot-{instance_uuid}')
    # First in, so its revert runs last: what the reverts could not undo
    # makes the flow end in REVERT_FAILURE, named.
    root.add(undo.CheckLeftovers(
        clients=clients, leftovers_url=records_url,
        name=atom_names.atom_name(instance_uuid, DOMAIN_GROUP, LEFTOVERS_STEP),
        inject={'instance_uuid': instance_uuid}))
    root.add(hv_tasks.EnsureDomain(
        hypervisor, name=atom_names.atom_name(instance_uuid, DOMAIN_GROUP, kinds.DEFINE_DOMAIN), leftovers_url=records_url,
        inject={'instance_uuid': instance_uuid, 'flavor': flavor or {}}))
    parallel = unordered_flow.Flow(f'{instance_uuid}-devices')
    if len(devices) <= DEVICES_PER_GROUP:
        parallel.add(*[builder.build(device) for device in devices])
    else:
        for start_at in range(0, len(devices), DEVICES_PER_GROUP):
            group = unordered_flow.Flow(f'{instance_uuid}-devices-{start_at // DEVICES_PER_GROUP}')
            group.add(*[builder.build(device)
                        for device in devices[start_at:start_at + DEVICES_PER_GROUP]])
            parallel.add(group)
    root.add(parallel)
    root.add(hv_tasks.StartDomain(
        hypervisor, name=atom_names.atom_name(instance_uuid, DOMAIN_GROUP, kinds.START_DOMAIN), leftovers_url=records_url,
        inject={'instance_uuid': instance_uuid, 'start': bool(start)}))
    return root
