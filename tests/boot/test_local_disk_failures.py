"""Local disks that cannot be made leave nothing behind and say why in one line.

ENOSPC comes from a real small tmpfs (root may mount one; the tests skip
cleanly where mounting is not permitted), EFBIG from RLIMIT_FSIZE in a child
process. Real mke2fs, mkswap and qemu-img run in every case.
"""

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from blockflow.clients import localdisk
from blockflow.request import kinds
from tasks.local_disk import CreateLocalDisk

INSTANCE = '0f5a3c1e-6d7b-4e8f-9a0b-1c2d3e4f5a6b'
EPHEMERAL = {'kind': kinds.Kind.EPHEMERAL.value, 'volume_size': 1, 'guest_format': 'ext4',
             'ephemeral_index': 0}
SWAP = {'kind': kinds.Kind.SWAP.value, 'volume_size': 512}


@pytest.fixture
def small_fs(tmp_path):
    """Mount a tmpfs of the given size; skip when this process may not mount."""
    mounted = []

    def mount(size):
        where = tmp_path / f'fs-{size}'
        where.mkdir()
        done = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs',
                               str(where)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f'cannot mount a tmpfs here: {done.stderr.strip()}')
        mounted.append(where)
        return str(where)
    yield mount
    for where in mounted:
        subprocess.run(['umount', '-l', str(where)], capture_output=True)


def _files_under(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _dirs, files in os.walk(root) for f in files)


def _assert_one_line(error, *parts):
    text = str(error)
    assert '\n' not in text, text
    for part in parts:
        assert part in text, text


def _instance_dir(root):
    return os.path.join(root, INSTANCE)


def test_free_space_refused_before_anything_is_written(small_fs):
    root = small_fs('2m')
    creator = localdisk.creator_for(kinds.Kind.EPHEMERAL, root)
    with pytest.raises(localdisk.LocalDiskError) as info:
        creator.create(INSTANCE, EPHEMERAL)
    _assert_one_line(info.value, os.path.join(root, INSTANCE, 'disk.eph0'), 'needs 37 MiB free',
                     '2 MiB free')
    assert os.listdir(root) == []


def test_mkfs_enospc_leaves_no_part_file_and_names_the_reason(small_fs):
    root = small_fs('256k')
    creator = localdisk.creator_for(kinds.Kind.EPHEMERAL, root)
    path = creator.path(INSTANCE, EPHEMERAL)
    os.makedirs(os.path.dirname(path))
    # Past the free-space check (conservative for hole-punching tmpfs), into mkfs.
    with pytest.raises(localdisk.LocalDiskError) as info:
        creator.build(path, EPHEMERAL, None)
    _assert_one_line(info.value, path, 'No space left on device')
    assert 'mke2fs 1.' not in str(info.value)          # not the banner
    assert _files_under(root) == []
    CreateLocalDisk(root, name='eph0').revert(None, instance_uuid=INSTANCE, device=EPHEMERAL)
    assert os.listdir(root) == []


CHILD = r'''
import json, resource, signal, sys
from blockflow.clients import localdisk
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
root, instance, device = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
try:
    localdisk.creator_for(device['kind'], root).create(instance, device)
except localdisk.LocalDiskError as exc:
    print(exc)
    sys.exit(3)
'''


@pytest.mark.parametrize('device', [EPHEMERAL, SWAP], ids=['ephemeral', 'swap'])
def test_file_too_large_leaves_no_part_file(tmp_path, device):
    root = str(tmp_path / 'instances')
    child = subprocess.run([sys.executable, '-c', CHILD, root, INSTANCE, json.dumps(device)],
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == 3, child.stderr
    line = child.stdout.strip()
    name = localdisk.creator_for(device['kind'], root).file_name(device)
    _assert_one_line(line, os.path.join(root, INSTANCE, name), 'File too large')
    assert _files_under(root) == []


def test_revert_removes_the_disk_by_its_path_when_the_result_was_lost(tmp_path):
    root = str(tmp_path)
    task = CreateLocalDisk(root, name='swap')
    made = task.execute(INSTANCE, SWAP)
    assert os.path.exists(made['path'])
    with open(made['path'] + localdisk.TEMP_SUFFIX, 'wb'):
        pass                        # a crash's leftover of an earlier attempt
    task.revert(None, instance_uuid=INSTANCE, device=SWAP)
    assert os.listdir(root) == []


def test_two_ephemerals_get_their_own_files(tmp_path):
    root = str(tmp_path)
    task = CreateLocalDisk(root, name='eph')
    first = task.execute(INSTANCE, dict(EPHEMERAL, ephemeral_index=0))
    second = task.execute(INSTANCE, dict(EPHEMERAL, ephemeral_index=1, guest_format='ext2'))
    assert (os.path.basename(first['path']), os.path.basename(second['path'])) == \
        ('disk.eph0', 'disk.eph1')


class _FileImageSource:
    """Glance's bytes from a local file (what GlanceImageSource streams)."""

    def __init__(self, source):
        self.source = source

    def download(self, image_id, dest_path):
        shutil.copyfile(self.source, dest_path)


@pytest.fixture
def qcow2_image(tmp_path):
    path = tmp_path / 'image.raw'
    with open(path, 'wb') as stream:
        stream.write(os.urandom(4 << 20))     # 4 MiB of bytes a tmpfs must hold
    return str(path)


def test_image_copy_refused_when_the_image_does_not_fit(small_fs, qcow2_image):
    root = small_fs('2m')
    image = {'id': str(uuid.uuid4()), 'size': os.path.getsize(qcow2_image),
             'disk_format': 'raw'}
    creator = localdisk.creator_for(kinds.Kind.IMAGE_LOCAL, root, _FileImageSource(qcow2_image))
    with pytest.raises(localdisk.LocalDiskError) as info:
        creator.create(INSTANCE, {'kind': kinds.Kind.IMAGE_LOCAL.value}, image)
    _assert_one_line(info.value, os.path.join(root, INSTANCE, 'disk'), 'needs 5 MiB free')
    assert os.listdir(root) == []


def test_image_download_enospc_leaves_no_partial_base(small_fs, qcow2_image):
    root = small_fs('2m')
    image = {'id': str(uuid.uuid4()), 'size': None, 'disk_format': 'raw'}   # size unknown
    creator = localdisk.creator_for(kinds.Kind.IMAGE_LOCAL, root, _FileImageSource(qcow2_image))
    with pytest.raises(localdisk.LocalDiskError) as info:
        creator.create(INSTANCE, {'kind': kinds.Kind.IMAGE_LOCAL.value}, image)
    _assert_one_line(info.value, image['id'], 'No space left on device')
    assert [f for f in _files_under(root) if not f.startswith('locks/')] == []


def test_boot_on_a_full_instances_path_says_why_and_leaves_nothing(embedded_cloud, small_fs):
    import copy
    import pathlib
    from blockflow.runner import boot as boot_module
    from blockflow.clients import openstack as clients_module
    root = small_fs('2m')
    request = json.loads((pathlib.Path(__file__).resolve().parents[2] / 'examples' /
                          'all-kinds.json').read_text())
    options = boot_module.BootOptions(
        instance_uuid=str(uuid.uuid4()), cloud_ref=clients_module.embedded_ref(embedded_cloud),
        connection=f'sqlite:///{root}/../flows.sqlite', attach_api='attachments',
        instances_path=root)
    _plan, outcome, _rows = boot_module.boot(copy.deepcopy(request), options)
    assert not outcome.ok
    _assert_one_line(outcome.failure, os.path.join(root, options.instance_uuid, 'disk.eph0'),
                     'needs 37 MiB free')
    assert _files_under(root) == [] and os.listdir(root) == []
    assert not [v for v in embedded_cloud.store.list('volumes')
                if v['metadata'].get('blockflow_instance') == options.instance_uuid]
