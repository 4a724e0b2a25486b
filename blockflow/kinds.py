"""The seed's source/destination table, as one declarative mapping.

Every accepted block device falls in exactly one row. Later layers key on the
row: the flow factories (which tasks, in which order), the record kept for
teardown, the CLI's tables. Nothing else in blockflow decides what a
(source_type, destination_type, guest_format) triple means.
"""

import dataclasses
import enum


class Kind(str, enum.Enum):
    VOLUME = 'volume'                   # existing Cinder volume, attached as is
    SNAPSHOT_VOLUME = 'snapshot->volume'
    IMAGE_VOLUME = 'image->volume'
    BLANK_VOLUME = 'blank->volume'
    BACKUP_VOLUME = 'backup->volume'    # seed's Nova fork only; opt-in
    IMAGE_LOCAL = 'image->local'
    EPHEMERAL = 'blank->local'
    SWAP = 'blank->local swap'

    def __str__(self):
        return self.value


@dataclasses.dataclass(frozen=True)
class KindSpec:
    kind: Kind
    source_type: str
    destination_type: str
    # Which request field holds the source id ('image_id', ...), None for blank.
    source_id_field: str | None
    # blockflow creates a Cinder volume for this device.
    creates_volume: bool
    # The device is a Cinder volume attached through Cinder and libvirt.
    is_volume: bool
    # Steps a device of this kind runs, in order (names of flows/ step constants).
    steps: tuple
    description: str


# Step names; flows/ maps each to a task class.
GET_SNAPSHOT = 'get-snapshot'
GET_IMAGE = 'get-image'
GET_BACKUP = 'get-backup'
GET_VOLUME = 'get-volume'
CREATE_VOLUME = 'create-volume'
WAIT_VOLUME = 'wait-available'
RESERVE = 'reserve'
CONNECT = 'initialize-connection'
MARK_ATTACHED = 'os-attach'
HYPERVISOR_ATTACH = 'hypervisor-attach'
CREATE_LOCAL_DISK = 'create-local-disk'
RECORD = 'record-device'

_ATTACH_STEPS = (RESERVE, CONNECT, HYPERVISOR_ATTACH, MARK_ATTACHED, RECORD)

KIND_TABLE = (
    KindSpec(Kind.VOLUME, 'volume', 'volume', 'volume_id', False, True,
             (GET_VOLUME,) + _ATTACH_STEPS,
             'existing volume, attached directly'),
    KindSpec(Kind.SNAPSHOT_VOLUME, 'snapshot', 'volume', 'snapshot_id', True,
             True, (GET_SNAPSHOT, CREATE_VOLUME, WAIT_VOLUME) + _ATTACH_STEPS,
             'new volume created by Cinder from a snapshot'),
    KindSpec(Kind.IMAGE_VOLUME, 'image', 'volume', 'image_id', True, True,
             (GET_IMAGE, CREATE_VOLUME, WAIT_VOLUME) + _ATTACH_STEPS,
             'new volume Cinder fills with a Glance image'),
    KindSpec(Kind.BLANK_VOLUME, 'blank', 'volume', None, True, True,
             (CREATE_VOLUME, WAIT_VOLUME) + _ATTACH_STEPS,
             'new empty volume of the requested size'),
    KindSpec(Kind.BACKUP_VOLUME, 'backup', 'volume', 'backup_id', True, True,
             (GET_BACKUP, CREATE_VOLUME, WAIT_VOLUME) + _ATTACH_STEPS,
             'new volume restored from a Cinder backup'),
    KindSpec(Kind.IMAGE_LOCAL, 'image', 'local', 'image_id', False, False,
             (GET_IMAGE, CREATE_LOCAL_DISK, HYPERVISOR_ATTACH, RECORD),
             'local root disk: copy-on-write overlay of the image'),
    KindSpec(Kind.EPHEMERAL, 'blank', 'local', None, False, False,
             (CREATE_LOCAL_DISK, HYPERVISOR_ATTACH, RECORD),
             'local ephemeral disk, formatted with guest_format'),
    KindSpec(Kind.SWAP, 'blank', 'local', None, False, False,
             (CREATE_LOCAL_DISK, HYPERVISOR_ATTACH, RECORD),
             'local swap disk'),
)

KINDS = {spec.kind: spec for spec in KIND_TABLE}


def _key(source_type, destination_type, is_swap):
    return (source_type, destination_type, is_swap)


_BY_TRIPLE = {
    _key(s.source_type, s.destination_type, s.kind is Kind.SWAP): s
    for s in KIND_TABLE
}


def classify(bdm):
    """Return the KindSpec of a normalised BDM dict, or None if no row fits.

    ``destination_type`` missing means local, as Nova's BlockDeviceDict has it.
    """
    source = bdm.get('source_type')
    destination = bdm.get('destination_type') or 'local'
    is_swap = (source == 'blank' and destination == 'local'
               and bdm.get('guest_format') == 'swap')
    return _BY_TRIPLE.get(_key(source, destination, is_swap))
