"""The seed's source/destination table, as one declarative mapping.

Every accepted block device falls in exactly one row, and the row carries
everything its kind decides: the steps a device runs, in order, with each
step's task class, the values it reads and writes, and what it needs built
into it; the request field naming the source; the local-disk creator. The
flow factories loop over a row; inspection and the CLI read the same row.

Task and creator classes are named by import path, not imported: this module
stays pure (no TaskFlow, no clients), so the request layer and inspection
can read it without pulling in Cinder, os-brick or libvirt.
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


# Step names: the last part of every atom name (see blockflow.request.atom_names).
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

# Data names: what a device's steps hand each other. Stored per device as
# ``<dev>.<name>`` (atom_names.data_name) so parallel devices never collide; a
# rename here breaks resuming flows persisted before it.
IMAGE = 'image'
SOURCE = 'source'
VOLUME_ID = 'volume_id'
VOLUME = 'volume'
ATTACHMENT_ID = 'attachment_id'
ATTACHMENT_CONNECTION = 'attachment_connection'
CONNECTION_INFO = 'connection_info'
DISK = 'disk'
LOCAL_DISK = 'local_disk'

# What a step's task is built with besides its name (the device-flow builder
# holds one of each).
NEEDS_ATTACH_API = 'attach_api'
NEEDS_HYPERVISOR = 'hypervisor'
NEEDS_INSTANCES_PATH = 'instances_path'
NEEDS_IMAGE_SOURCE = 'image_source'
NEEDS_RECORDS_URL = 'records_url'


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of a kind: which task runs it and which data it binds."""

    name: str
    # Import path of the task class ('tasks.cinder_volumes.CreateVolume').
    task: str
    # Data names the task's result is stored under; two or more name the
    # items of a returned tuple, one names the whole result.
    provides: tuple = ()
    # (task argument, data name) pairs the task reads from earlier steps.
    rebind: tuple = ()
    # Builder resources passed to the task's constructor (NEEDS_*).
    needs: tuple = ()


def _reads(*names):
    return tuple((name, name) for name in names)


_VOLUMES = 'tasks.cinder_volumes.'
_ATTACH = 'tasks.cinder_attach.'
_HV = 'tasks.hypervisor.'


def _get_source(step, task):
    return Step(step, task, provides=(SOURCE,))


_GET_IMAGE = Step(GET_IMAGE, 'tasks.glance_images.GetImage', provides=(IMAGE,))
_GET_SNAPSHOT = _get_source(GET_SNAPSHOT, _VOLUMES + 'GetSnapshot')
_GET_BACKUP = _get_source(GET_BACKUP, _VOLUMES + 'GetBackup')
_GET_VOLUME = Step(GET_VOLUME, _VOLUMES + 'GetVolume', provides=(VOLUME_ID, VOLUME))


def _create_volume(source=None):
    return Step(CREATE_VOLUME, _VOLUMES + 'CreateVolume', provides=(VOLUME_ID,),
                rebind=((SOURCE, source),) if source else ())


_WAIT_VOLUME = Step(WAIT_VOLUME, _VOLUMES + 'WaitForVolume', provides=(VOLUME,),
                    rebind=_reads(VOLUME_ID))
_ATTACH_STEPS = (
    Step(RESERVE, _ATTACH + 'ReserveVolume',
         provides=(ATTACHMENT_ID, ATTACHMENT_CONNECTION),
         rebind=_reads(VOLUME_ID, VOLUME), needs=(NEEDS_ATTACH_API,)),
    Step(CONNECT, _ATTACH + 'InitializeConnection', provides=(CONNECTION_INFO,),
         rebind=_reads(VOLUME_ID, ATTACHMENT_ID, VOLUME, ATTACHMENT_CONNECTION),
         needs=(NEEDS_ATTACH_API,)),
    Step(HYPERVISOR_ATTACH, _HV + 'AttachVolumeDisk', provides=(DISK,),
         rebind=_reads(VOLUME_ID, CONNECTION_INFO), needs=(NEEDS_HYPERVISOR,)),
    Step(MARK_ATTACHED, _ATTACH + 'MarkAttached', rebind=_reads(VOLUME_ID, ATTACHMENT_ID),
         needs=(NEEDS_ATTACH_API,)),
    Step(RECORD, 'tasks.records.RecordDevice',
         rebind=_reads(VOLUME_ID, ATTACHMENT_ID, CONNECTION_INFO), needs=(NEEDS_RECORDS_URL,)),
)


def _local_steps(image=None):
    return (
        Step(CREATE_LOCAL_DISK, 'tasks.local_disk.CreateLocalDisk', provides=(LOCAL_DISK,),
             rebind=((IMAGE, image),) if image else (),
             needs=(NEEDS_INSTANCES_PATH, NEEDS_IMAGE_SOURCE)),
        Step(HYPERVISOR_ATTACH, _HV + 'AttachLocalDisk', provides=(DISK,),
             rebind=_reads(LOCAL_DISK), needs=(NEEDS_HYPERVISOR,)),
        Step(RECORD, 'tasks.records.RecordDevice', rebind=_reads(LOCAL_DISK),
             needs=(NEEDS_RECORDS_URL,)),
    )


@dataclasses.dataclass(frozen=True)
class KindSpec:
    kind: Kind
    source_type: str
    destination_type: str
    # Request field that holds the source's id ('image_id', ...); None for blank.
    source_id_field: str | None
    # The device is a Cinder volume attached through Cinder and libvirt.
    is_volume: bool
    # The kind's steps, in the order they run.
    step_specs: tuple
    # Cinder's volume-create argument the source id goes into (None: no source).
    create_volume_arg: str | None = None
    # Import path of the blockflow.clients.localdisk creator of a local kind.
    local_disk_creator: str | None = None

    @property
    def steps(self):
        """Step names, in order."""
        return tuple(step.name for step in self.step_specs)

    @property
    def creates_volume(self):
        """blockflow creates (and on delete_on_termination deletes) a volume."""
        return CREATE_VOLUME in self.steps


_LOCALDISK = 'blockflow.clients.localdisk.'

KIND_TABLE = (
    KindSpec(Kind.VOLUME, 'volume', 'volume', 'volume_id', True,
             (_GET_VOLUME,) + _ATTACH_STEPS),
    KindSpec(Kind.SNAPSHOT_VOLUME, 'snapshot', 'volume', 'snapshot_id', True,
             (_GET_SNAPSHOT, _create_volume(SOURCE), _WAIT_VOLUME) + _ATTACH_STEPS,
             create_volume_arg='snapshot_id'),
    KindSpec(Kind.IMAGE_VOLUME, 'image', 'volume', 'image_id', True,
             (_GET_IMAGE, _create_volume(IMAGE), _WAIT_VOLUME) + _ATTACH_STEPS,
             create_volume_arg='imageRef'),
    KindSpec(Kind.BLANK_VOLUME, 'blank', 'volume', None, True,
             (_create_volume(), _WAIT_VOLUME) + _ATTACH_STEPS),
    KindSpec(Kind.BACKUP_VOLUME, 'backup', 'volume', 'backup_id', True,
             (_GET_BACKUP, _create_volume(SOURCE), _WAIT_VOLUME) + _ATTACH_STEPS,
             create_volume_arg='backup_id'),
    KindSpec(Kind.IMAGE_LOCAL, 'image', 'local', 'image_id', False,
             (_GET_IMAGE,) + _local_steps(IMAGE),
             local_disk_creator=_LOCALDISK + 'ImageDisk'),
    KindSpec(Kind.EPHEMERAL, 'blank', 'local', None, False, _local_steps(),
             local_disk_creator=_LOCALDISK + 'EphemeralDisk'),
    KindSpec(Kind.SWAP, 'blank', 'local', None, False, _local_steps(),
             local_disk_creator=_LOCALDISK + 'SwapDisk'),
)

KINDS = {spec.kind: spec for spec in KIND_TABLE}

# Per-instance atoms around the devices: the boot flow runs BOOT_BEFORE, the
# devices in parallel, then BOOT_AFTER (all in BOOT_GROUP); the delete flow
# runs each device's DELETE_DEVICE_STEPS in parallel, then DELETE_INSTANCE_STEPS
# (in DELETE_GROUP).
BOOT_GROUP = 'domain'
CHECK_LEFTOVERS = 'check-leftovers'
DEFINE_DOMAIN = 'define'
START_DOMAIN = 'start'
BOOT_BEFORE = (CHECK_LEFTOVERS, DEFINE_DOMAIN)
BOOT_AFTER = (START_DOMAIN,)

DELETE_GROUP = 'instance'
DETACH_DISK = 'detach-disk'
DISCONNECT_HOST = 'disconnect-host'
RELEASE_VOLUME = 'release-volume'
DELETE_VOLUME = 'delete-volume'
REMOVE_LOCAL_DISK = 'remove-local-disk'
FORGET_DEVICE = 'forget-device'
DELETE_DEVICE_STEPS = (DETACH_DISK, DISCONNECT_HOST, RELEASE_VOLUME, DELETE_VOLUME,
                       REMOVE_LOCAL_DISK, FORGET_DEVICE)
DELETE_INSTANCE_STEPS = ('retry-leftovers', 'sweep', 'undefine-domain', 'settle-leftovers',
                         'remove-instance-dir')


def delete_steps(device):
    """The delete steps of one recorded device (flows.delete's device arguments)."""
    return ((DETACH_DISK,)
            + ((DISCONNECT_HOST, RELEASE_VOLUME, DELETE_VOLUME) if device.get('volume_id')
               else ())
            + ((REMOVE_LOCAL_DISK,) if device.get('local_path') else ())
            + (FORGET_DEVICE,))
# Every request field that can hold a device's source (or volume) id.
SOURCE_ID_FIELDS = tuple(dict.fromkeys(
    s.source_id_field for s in KIND_TABLE if s.source_id_field))


def spec_of(kind):
    """The KindSpec of a kind or its string value; None when it names no kind."""
    try:
        return KINDS[Kind(str(kind))]
    except ValueError:
        return None


def is_swap(bdm):
    """A blank local device formatted as swap (Nova's block_device.new_format_is_swap)."""
    return (bdm.get('source_type') == 'blank'
            and bdm.get('destination_type') == 'local'
            and bdm.get('guest_format') == 'swap')


def is_ephemeral_bdm(bdm):
    """A blank local device that is not swap (new_format_is_ephemeral)."""
    return (bdm.get('source_type') == 'blank'
            and bdm.get('destination_type') == 'local'
            and bdm.get('guest_format') != 'swap')


def _key(source_type, destination_type, swap):
    return (source_type, destination_type, swap)


_BY_TRIPLE = {
    _key(s.source_type, s.destination_type, s.kind is Kind.SWAP): s
    for s in KIND_TABLE
}


def classify(bdm):
    """Return the KindSpec of a normalised BDM dict, or None if no row fits.

    ``destination_type`` missing means local, as Nova's BlockDeviceDict has it.
    """
    destination = bdm.get('destination_type') or 'local'
    swap = is_swap({**bdm, 'destination_type': destination})
    return _BY_TRIPLE.get(_key(bdm.get('source_type'), destination, swap))
