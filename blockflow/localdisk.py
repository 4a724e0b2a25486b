"""Local disks on the compute host, one creator per kind (image copy, ephemeral, swap).

Files live under ``<instances_path>/<instance_uuid>/`` with Nova's names
(``disk``, ``disk.eph<N>``, ``disk.swap``). Each is made under a temporary
name and renamed, so a crash never leaves a half-made disk that looks done.
"""

import abc
import hashlib
import os
import subprocess
import threading

from blockflow import exceptions
from blockflow import kinds

GiB = 1024 ** 3
MiB = 1024 ** 2
_CACHE_LOCKS = {}
_CACHE_LOCKS_GUARD = threading.Lock()
MKFS_FORMATS = ('ext2', 'ext3', 'ext4', 'xfs', 'vfat', 'btrfs')


class LocalDiskError(exceptions.BlockflowError):
    msg_fmt = 'local disk %(path)s: %(reason)s'
    http_status = 500


def _run(cmd, path):
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise LocalDiskError(path=path, reason=f'{cmd[0]} is not installed')
    except subprocess.CalledProcessError as exc:
        raise LocalDiskError(path=path, reason=(exc.stderr or exc.stdout).strip()[-300:])


def default_instances_path():
    base = os.environ.get('XDG_STATE_HOME') or os.path.expanduser('~/.local/state')
    return os.path.join(base, 'blockflow', 'instances')


class LocalDiskCreator(abc.ABC):
    def __init__(self, instances_path):
        self.instances_path = instances_path

    @abc.abstractmethod
    def file_name(self, device):
        """Nova's name of this disk inside the instance directory."""

    @abc.abstractmethod
    def make(self, tmp_path, device, image):
        """Create the disk at tmp_path; return its format."""

    def path(self, instance_uuid, device):
        return os.path.join(self.instances_path, instance_uuid, self.file_name(device))

    def create(self, instance_uuid, device, image=None):
        path = self.path(instance_uuid, device)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        if os.path.exists(path):
            return path, self.format_of(device)
        tmp = path + '.part'
        fmt = self.make(tmp, device, image)
        os.replace(tmp, path)
        return path, fmt

    def format_of(self, device):
        return 'raw'


class ImageDisk(LocalDiskCreator):
    """Copy-on-write qcow2 overlay on a cached copy of the Glance image."""

    def __init__(self, instances_path, image_source):
        super().__init__(instances_path)
        self.image_source = image_source

    def file_name(self, device):
        return 'disk'

    def format_of(self, device):
        return 'qcow2'

    def _cached_base(self, image):
        base_dir = os.path.join(self.instances_path, '_base')
        os.makedirs(base_dir, mode=0o700, exist_ok=True)
        base = os.path.join(base_dir, hashlib.sha1(image['id'].encode()).hexdigest())
        with _CACHE_LOCKS_GUARD:
            lock = _CACHE_LOCKS.setdefault(base, threading.Lock())
        with lock:
            if not os.path.exists(base):
                if self.image_source is None:
                    raise LocalDiskError(path=base, reason='no image source configured')
                self.image_source.download(image['id'], base + '.part')
                os.replace(base + '.part', base)
        return base

    def make(self, tmp_path, device, image):
        if not image:
            raise LocalDiskError(path=tmp_path, reason='image→local needs the image record')
        base = self._cached_base(image)
        fmt = image.get('disk_format') or 'raw'
        _run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', fmt, '-b', base, tmp_path],
             tmp_path)
        return 'qcow2'


class EphemeralDisk(LocalDiskCreator):
    def file_name(self, device):
        return f"disk.eph{device.get('ephemeral_index', 0)}"

    def make(self, tmp_path, device, image):
        fmt = device.get('guest_format') or 'ext4'
        if fmt not in MKFS_FORMATS:
            raise LocalDiskError(path=tmp_path, reason=f'guest_format {fmt} is not one of '
                                                       f'{", ".join(MKFS_FORMATS)}')
        with open(tmp_path, 'wb') as stream:
            stream.truncate(int(device.get('volume_size') or 1) * GiB)
        force = {'xfs': '-f', 'vfat': None, 'btrfs': '-f'}.get(fmt, '-F')
        _run(['mkfs', '-t', fmt] + ([force] if force else []) + [tmp_path], tmp_path)
        return 'raw'


class SwapDisk(LocalDiskCreator):
    def file_name(self, device):
        return 'disk.swap'

    def make(self, tmp_path, device, image):
        # A swap BDM's size is in MiB, like the flavor's swap.
        with open(tmp_path, 'wb') as stream:
            stream.truncate(max(int(device.get('volume_size') or 1), 1) * MiB)
        _run(['mkswap', tmp_path], tmp_path)
        return 'raw'


def creator_for(kind, instances_path, image_source=None):
    kind = kinds.Kind(kind)
    if kind is kinds.Kind.IMAGE_LOCAL:
        return ImageDisk(instances_path, image_source)
    creators = {kinds.Kind.EPHEMERAL: EphemeralDisk, kinds.Kind.SWAP: SwapDisk}
    try:
        return creators[kind](instances_path)
    except KeyError:
        raise LocalDiskError(path='-', reason=f'{kind} is not a local disk kind')


def remove(path):
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
