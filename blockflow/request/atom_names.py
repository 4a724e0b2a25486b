"""Atom names, device keys and the '/dev/' prefix, built and parsed here only.

Every atom of a boot or delete flow is named ``<instance>-<group>-<step>``:
the group is a device key (the guest device name without '/dev/', e.g.
``vdb``) or a per-instance group (``domain``, ``instance``). Values a device's
steps hand each other are stored as ``<device key>.<data name>``. Persisted
flows are matched to rebuilt ones by these names, so they never change.
"""

import collections

DEV_PREFIX = '/dev/'

AtomName = collections.namedtuple('AtomName', 'instance_uuid group step')


def strip_dev(name):
    """'/dev/vdb' → 'vdb'; anything else (None, '', 'vdb') unchanged."""
    return name[len(DEV_PREFIX):] if name and name.startswith(DEV_PREFIX) else name


def prepend_dev(name):
    """'vdb' or '/dev/vdb' → '/dev/vdb'; None and '' unchanged."""
    return name and DEV_PREFIX + strip_dev(name)


def device_key(device):
    """The key of a device dict or device name: its guest name without '/dev/'."""
    name = device.get('device_name') if isinstance(device, dict) else device
    return strip_dev(name)


def atom_name(instance_uuid, group, step):
    return f'{instance_uuid}-{group}-{step}'


def group_flow_name(instance_uuid, group):
    """Name of the flow holding one group's atoms."""
    return f'{instance_uuid}-{group}'


def data_name(dev, name):
    """Storage name of a device's value: ``vdb.volume_id``."""
    return f'{dev}.{name}'


def parse(name, instance_uuid=''):
    """Split an atom name into (instance_uuid, group, step).

    Instance uuids contain '-' and group keys never do, so the instance must
    be given; a name without that prefix is split as ``<group>-<step>``.
    """
    if instance_uuid and name.startswith(instance_uuid + '-'):
        rest = name[len(instance_uuid) + 1:]
    else:
        instance_uuid, rest = '', name
    group, _sep, step = rest.partition('-')
    return AtomName(instance_uuid, group, step)


def group_of(name, instance_uuid=''):
    """The group (device key or instance group) of an atom name."""
    return parse(name, instance_uuid).group or name


def step_of(name, group):
    """The step of an atom name of a known group; the whole name if it has none."""
    marker = f'-{group}-'
    return name.split(marker, 1)[1] if marker in name else name
