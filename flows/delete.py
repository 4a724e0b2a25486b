"""The delete flow of one instance: every recorded device released in
parallel (disk out of the domain, Cinder attach steps undone, volume deleted
when delete_on_termination, local file removed, record marked deleted), then
earlier leftovers, what no record names (the instance's attachments, volumes
blockflow made for it), the domain and the empty instance directory.

``create_delete_flow`` is the reimportable factory stored with the flow, so a
delete that crashed is resumed like a boot (``blockflow resume`` or the next
``blockflow delete``). Its arguments are plain JSON built by
``delete_arguments`` from the device records.
"""

import os

from taskflow.patterns import linear_flow
from taskflow.patterns import unordered_flow

from blockflow.clients.hypervisor import domain
from blockflow.clients import openstack as clients_module
from blockflow.request import atom_names
from blockflow.request import kinds
from tasks import cinder_attach
from tasks import release

FACTORY = 'flows.delete.create_delete_flow'
INSTANCE_GROUP = kinds.DELETE_GROUP
# Step names, in the order they run (per device, then for the instance).
DEVICE_STEPS = kinds.DELETE_DEVICE_STEPS
INSTANCE_STEPS = kinds.DELETE_INSTANCE_STEPS
_TASKS = {kinds.DETACH_DISK: release.DetachDisk, kinds.DISCONNECT_HOST: release.DisconnectHost,
          kinds.RELEASE_VOLUME: release.ReleaseVolume, kinds.DELETE_VOLUME: release.DeleteVolume,
          kinds.REMOVE_LOCAL_DISK: release.RemoveLocalDisk,
          kinds.FORGET_DEVICE: release.ForgetDevice}
# Constructor arguments besides the name, by step.
_NEEDS_HYPERVISOR = {kinds.DETACH_DISK}
_NEEDS_RECORDS = {kinds.DISCONNECT_HOST, kinds.FORGET_DEVICE}


def _device_args(row):
    """What the delete needs of a device record (no connection_info)."""
    kind = row.get('kind')
    return {
        'key': row['uuid'], 'device_name': row['device_name'],
        'volume_id': row.get('volume_id'),
        'attach_api': (cinder_attach.ATTACHMENTS if row.get('attachment_id')
                       else cinder_attach.LEGACY),
        'delete_on_termination': bool(row.get('delete_on_termination')),
        'created_volume': bool(kind and kinds.KINDS[kinds.Kind(kind)].creates_volume),
        'local_path': row.get('local_path')}


def delete_arguments(instance_uuid, rows, cloud_ref, records_url, libvirt_uri,
                     instances_path):
    devices = [_device_args(row) for row in rows]
    local_dirs = {os.path.dirname(d['local_path']) for d in devices if d['local_path']}
    instance_dir = (sorted(local_dirs)[0] if local_dirs
                    else os.path.join(instances_path, instance_uuid))
    return {'instance_uuid': instance_uuid, 'devices': devices, 'cloud_ref': cloud_ref,
            'records_url': records_url, 'libvirt_uri': libvirt_uri,
            'instance_dir': instance_dir}


def _device_flow(instance_uuid, device, clients, hypervisor, records_url):
    dev = atom_names.device_key(device)

    def name(step):
        return atom_names.atom_name(instance_uuid, dev, step)

    common = {'clients': clients, 'leftovers_url': records_url,
              'inject': {'instance_uuid': instance_uuid, 'device': device}}
    flow = linear_flow.Flow(atom_names.group_flow_name(instance_uuid, dev))
    for step in kinds.delete_steps(device):
        args = ((hypervisor,) if step in _NEEDS_HYPERVISOR
                else (records_url,) if step in _NEEDS_RECORDS else ())
        flow.add(_TASKS[step](*args, name=name(step), **common))
    return flow


def create_delete_flow(instance_uuid, devices, cloud_ref, records_url, libvirt_uri,
                       instance_dir):
    clients = clients_module.Clients(cloud_ref)
    hypervisor = domain.Hypervisor(libvirt_uri)
    root = linear_flow.Flow(f'delete-{instance_uuid}')
    parallel = unordered_flow.Flow(atom_names.group_flow_name(instance_uuid, 'devices'))
    parallel.add(*[_device_flow(instance_uuid, d, clients, hypervisor, records_url)
                   for d in devices])
    if devices:
        root.add(parallel)

    def name(step):
        return atom_names.atom_name(instance_uuid, INSTANCE_GROUP, step)

    common = {'clients': clients, 'leftovers_url': records_url,
              'inject': {'instance_uuid': instance_uuid}}
    kept = [d['volume_id'] for d in devices
            if d['volume_id'] and not d['delete_on_termination']]
    retry, sweep, undefine, settle, remove_dir = INSTANCE_STEPS
    root.add(
        release.RetryLeftovers(name=name(retry), **common),
        release.SweepInstance(name=name(sweep), clients=clients,
                              inject={'instance_uuid': instance_uuid,
                                      'kept_volume_ids': kept}),
        release.UndefineDomain(hypervisor, name=name(undefine), **common),
        release.SettleLeftovers(name=name(settle), **common),
        release.RemoveInstanceDir(name=name(remove_dir),
                                  inject={'instance_dir': instance_dir}))
    return root
