"""Local disks on the compute host: one contract, a creator per kind (image copy, ephemeral, swap).

Files live under ``<instances_path>/<instance_uuid>/`` with Nova's names
(``disk``, ``disk.eph<N>``, ``disk.swap``). Each is made under the temporary
name ``<name>.part`` and renamed, so a crash never leaves a half-made disk that
looks done, and any failure removes the temporary file before it is reported.
Both names are deterministic, so an undo finds what a step made even when the
step's result was lost.

Free space is checked before anything is written. The disks are sparse: what
a step itself writes is small next to the disk's size, and what the guest writes
later is the host's overcommit policy (Nova's ``disk_allocation_ratio``), not a
reason to refuse. So each kind asks for what its step writes at most:

- ephemeral: mkfs's metadata. mke2fs writes the ext3/ext4 journal in full on a
  file system that cannot punch holes (32 MiB for a 1 GiB disk, 64 MiB up to
  16 GiB, at most 1 GiB), plus group descriptors and bitmaps (taken as 1/256
  of the size); the other formats write less than that.
- swap: mkswap writes one page; 1 MiB covers it.
- image copy: the whole image, when its cached base is not there yet (the base
  is a full copy of Glance's bytes), plus 1 MiB for the qcow2 overlay's header
  and tables.

Disks of one instance are made in parallel and each checks on its own, so two
can pass a check that both together would fail; then the second one's writes
fail and its temporary file goes like any other failure's.
"""

import abc
import hashlib
import os
import re
import subprocess

from oslo_concurrency import lockutils
from oslo_utils import fileutils
from oslo_utils import importutils
from oslo_utils import units

from blockflow import exceptions
from blockflow.request import kinds
from blockflow import statedir

GiB = units.Gi
MiB = units.Mi
MKFS_FORMATS = ('ext2', 'ext3', 'ext4', 'xfs', 'vfat', 'btrfs')
TEMP_SUFFIX = '.part'
SMALL_WRITE_BYTES = 1 * MiB     # a swap signature page, a qcow2 overlay header
# mke2fs's default journal size (e2fsprogs ext2fs_default_journal_size, 4 KiB
# blocks) by file system size: (size below, journal bytes).
_EXT_JOURNAL = ((128 * MiB, 4 * MiB), (1 * GiB, 16 * MiB), (2 * GiB, 32 * MiB),
                (16 * GiB, 64 * MiB), (32 * GiB, 128 * MiB), (64 * GiB, 256 * MiB),
                (128 * GiB, 512 * MiB))
_EXT_JOURNAL_MAX = 1 * GiB
# A tool's version banner, which mke2fs prints to stderr before any error
# ("mke2fs 1.47.0 (5-Feb-2023)"): never the reason. Progress lines are rewritten
# with backspaces ("Writing inode tables: 0/8\b\b\b"); _reason keeps their end.
_BANNER = re.compile(r'^(mke2fs|mkfs\.\w+|mkswap|mkdosfs|btrfs-progs)\s+v?[\d.]+(\s+\(.*\))?$')


class LocalDiskError(exceptions.BlockflowError):
    msg_fmt = 'local disk %(path)s: %(reason)s'
    http_status = 500


def _reason(output):
    """The line of a tool's output that says why it failed (not its banner)."""
    lines = [line.split('\b')[-1].strip()
             for line in (output or '').replace('\r', '\n').splitlines()]
    meaningful = [line for line in lines if line and not _BANNER.match(line)]
    return meaningful[-1] if meaningful else 'failed without a message'


def _os_reason(exc):
    return exc.strerror or str(exc)


def _run(cmd, disk_path):
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise LocalDiskError(path=disk_path, reason=f'{cmd[0]} is not installed')
    except subprocess.CalledProcessError as exc:
        raise LocalDiskError(path=disk_path, reason=_reason(exc.stderr or exc.stdout))


def _sparse_file(path, size):
    with open(path, 'wb') as stream:
        stream.truncate(size)


def _human(nbytes):
    if nbytes >= GiB:
        return f'{nbytes / GiB:.1f} GiB'
    return f'{-(-nbytes // MiB)} MiB' if nbytes >= MiB else f'{nbytes // units.Ki} KiB'


def mkfs_metadata_bytes(size):
    """What mkfs may write to a sparse ``size``-byte file (see the module docstring)."""
    journal = next((j for below, j in _EXT_JOURNAL if size < below), _EXT_JOURNAL_MAX)
    return min(size, journal + size // 256 + SMALL_WRITE_BYTES)


def free_bytes(path):
    """Bytes an unprivileged writer may still use on path's file system."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def default_instances_path():
    return statedir.state_path('instances')


class LocalDiskCreator(abc.ABC):
    """How one kind of local disk is made, found and removed."""

    def __init__(self, instances_path):
        self.instances_path = instances_path

    @abc.abstractmethod
    def file_name(self, device):
        """Nova's name of this disk inside the instance directory."""

    @abc.abstractmethod
    def needed_bytes(self, device, image):
        """The most this kind's step writes to the instances file system."""

    @abc.abstractmethod
    def make(self, tmp_path, device, image):
        """Create the disk at tmp_path; return its format. May leave tmp_path on failure."""

    def format_of(self, device):
        return 'raw'

    def path(self, instance_uuid, device):
        return os.path.join(self.instances_path, instance_uuid, self.file_name(device))

    def create(self, instance_uuid, device, image=None):
        """Make the disk unless it is there; return (path, format)."""
        path = self.path(instance_uuid, device)
        if os.path.exists(path):
            return path, self.format_of(device)
        self.check_free_space(path, device, image)
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        except OSError as exc:
            raise LocalDiskError(path=path, reason=_os_reason(exc))
        return path, self.build(path, device, image)

    def check_free_space(self, path, device, image):
        """Refuse before writing anything (not even the instance directory)."""
        needed = self.needed_bytes(device, image)
        existing = os.path.dirname(path)
        while not os.path.isdir(existing) and os.path.dirname(existing) != existing:
            existing = os.path.dirname(existing)
        free = free_bytes(existing)
        if needed > free:
            raise LocalDiskError(path=path, reason=(
                f'needs {_human(needed)} free on {self.instances_path}, '
                f'{_human(free)} free'))

    def build(self, path, device, image):
        """Make the disk under its temporary name, then rename; nothing stays on failure."""
        tmp = path + TEMP_SUFFIX
        try:
            with fileutils.remove_path_on_error(tmp):
                fmt = self.make(tmp, device, image)
                os.replace(tmp, path)
        except OSError as exc:
            raise LocalDiskError(path=path, reason=_os_reason(exc))
        return fmt

    def discard(self, instance_uuid, device):
        """Remove the disk and its temporary file by name; return the paths removed.

        Tries both, then raises one LocalDiskError naming what stayed. An
        instance directory left empty goes too.
        """
        path = self.path(instance_uuid, device)
        removed, errors = [], []
        for candidate in (path, path + TEMP_SUFFIX):
            try:
                os.unlink(candidate)
                removed.append(candidate)
            except FileNotFoundError:
                pass
            except OSError as exc:
                errors.append(f'{candidate}: {_os_reason(exc)}')
        try:
            os.rmdir(os.path.dirname(path))
        except OSError:
            pass        # other disks still there, or already gone
        if errors:
            raise LocalDiskError(path=path, reason='could not remove ' + '; '.join(errors))
        return removed


class ImageDisk(LocalDiskCreator):
    """Copy-on-write qcow2 overlay on a cached full copy of the Glance image."""

    def __init__(self, instances_path, image_source):
        super().__init__(instances_path)
        self.image_source = image_source

    def file_name(self, device):
        return 'disk'

    def format_of(self, device):
        return 'qcow2'

    @property
    def base_dir(self):
        return os.path.join(self.instances_path, '_base')

    def base_path(self, image):
        return os.path.join(self.base_dir, hashlib.sha1(image['id'].encode()).hexdigest())

    def needed_bytes(self, device, image):
        needed = SMALL_WRITE_BYTES
        if image and not os.path.exists(self.base_path(image)):
            # Glance may not know an image's size; then the download's own
            # failure is what tells.
            needed += int(image.get('size') or 0)
        return needed

    def _cached_base(self, image):
        os.makedirs(self.base_dir, mode=0o700, exist_ok=True)
        base = self.base_path(image)
        # One download per image on this host, across threads and processes.
        with lockutils.lock(os.path.basename(base), external=True,
                            lock_path=os.path.join(self.instances_path, 'locks')):
            if not os.path.exists(base):
                if self.image_source is None:
                    raise LocalDiskError(path=base, reason='no image source configured')
                try:
                    with fileutils.remove_path_on_error(base + TEMP_SUFFIX):
                        self.image_source.download(image['id'], base + TEMP_SUFFIX)
                        os.replace(base + TEMP_SUFFIX, base)
                except OSError as exc:
                    raise LocalDiskError(path=base, reason=(
                        f"image {image['id']} download: {_os_reason(exc)}"))
        return base

    def make(self, tmp_path, device, image):
        if not image:
            raise LocalDiskError(path=tmp_path[:-len(TEMP_SUFFIX)],
                                 reason='image→local needs the image record')
        base = self._cached_base(image)
        fmt = image.get('disk_format') or 'raw'
        _run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', fmt, '-b', base, tmp_path],
             tmp_path[:-len(TEMP_SUFFIX)])
        return 'qcow2'


class EphemeralDisk(LocalDiskCreator):
    """A sparse raw file holding an empty file system (guest_format, ext4 by default)."""

    def file_name(self, device):
        return f"disk.eph{device.get('ephemeral_index', 0)}"

    @staticmethod
    def size_bytes(device):
        return int(device.get('volume_size') or 1) * GiB

    def needed_bytes(self, device, image):
        return mkfs_metadata_bytes(self.size_bytes(device))

    def make(self, tmp_path, device, image):
        disk_path = tmp_path[:-len(TEMP_SUFFIX)]
        fmt = device.get('guest_format') or 'ext4'
        if fmt not in MKFS_FORMATS:
            raise LocalDiskError(path=disk_path, reason=f'guest_format {fmt} is not one of '
                                                        f'{", ".join(MKFS_FORMATS)}')
        _sparse_file(tmp_path, self.size_bytes(device))
        force = {'xfs': '-f', 'vfat': None, 'btrfs': '-f'}.get(fmt, '-F')
        _run(['mkfs', '-t', fmt] + ([force] if force else []) + [tmp_path], disk_path)
        return 'raw'


class SwapDisk(LocalDiskCreator):
    """A sparse raw file with a swap signature; its size is in MiB, like the flavor's swap."""

    def file_name(self, device):
        return 'disk.swap'

    def needed_bytes(self, device, image):
        return SMALL_WRITE_BYTES

    def make(self, tmp_path, device, image):
        _sparse_file(tmp_path, max(int(device.get('volume_size') or 1), 1) * MiB)
        _run(['mkswap', tmp_path], tmp_path[:-len(TEMP_SUFFIX)])
        return 'raw'


def creator_for(kind, instances_path, image_source=None):
    """The creator the kind table names for a local kind."""
    spec = kinds.spec_of(kind)
    if spec is None or not spec.local_disk_creator:
        raise LocalDiskError(path='-', reason=f'{kind} is not a local disk kind')
    creator = importutils.import_class(spec.local_disk_creator)
    if creator is ImageDisk:
        return ImageDisk(instances_path, image_source)
    return creator(instances_path)


def remove(path):
    """Remove one disk file and its temporary file by name; True when the disk was there."""
    fileutils.delete_if_exists(path + TEMP_SUFFIX)
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
