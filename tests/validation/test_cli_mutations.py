"""Valid requests, mutated, through the real CLI: always a clean answer.

Each example starts from a request Nova accepts (image-only, legacy root
volume, boot from a snapshot image, every kind at once), applies a few
mutations of the kinds fuzzing found crashes with (values past Python's int
digit limit, ids in the wrong field, repeated entries, wrong types, dropped
keys) and runs ``blockflow validate -f json`` in-process. The answer must be
exit 0, 1 or 2 with one JSON document on stdout, no traceback, and never the
catch-all InternalError. The budget is fixed (max_examples) so that the test
takes seconds.
"""

import contextlib
import copy
import io
import json
import os
import pathlib
import tempfile

from hypothesis import HealthCheck, given, settings, strategies as st

from blockflow.cli import main as cli_main

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / 'examples'
CATALOG = str(EXAMPLES / 'catalog.json')
IMAGE = 'ac408821-c95a-448f-9292-73986c790911'
SNAPSHOT_IMAGE = '5f6e7d8c-9b0a-4c1d-8e2f-3a4b5c6d7e8f'
BOOT_VOLUME = '9a53945a-b745-493e-8710-0f2c92e1fb5f'
VOLUME = '56494430-5460-4582-a3d0-e22cb4ef0cd2'
SNAPSHOT = '3c1d5f8e-7a2b-4c9d-9e0f-1a2b3c4d5e6f'


def _server(**fields):
    return {'server': dict({'name': 'vm', 'flavorRef': '42', 'networks': 'none'}, **fields)}


SEEDS = [
    _server(imageRef=IMAGE),
    _server(imageRef=IMAGE, block_device_mapping_v2=[]),
    _server(imageRef=SNAPSHOT_IMAGE),
    _server(imageRef=IMAGE, block_device_mapping=[
        {'volume_id': BOOT_VOLUME, 'device_name': 'vda'}]),
    _server(imageRef=IMAGE, block_device_mapping_v2=[
        {'source_type': 'image', 'uuid': IMAGE, 'destination_type': 'local', 'boot_index': 0},
        {'source_type': 'volume', 'uuid': VOLUME, 'destination_type': 'volume'}]),
    json.loads((EXAMPLES / 'all-kinds.json').read_text()),
    json.loads((EXAMPLES / 'seed-boot-from-image.json').read_text()),
]

HUGE_DIGITS = '9' * 4301
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 3), st.floats(allow_nan=False),
    st.sampled_from([
        '', '0', '0.0', 0.0, 1.0, '-1', HUGE_DIGITS, '-' + HUGE_DIGITS, 10 ** 30,
        IMAGE, VOLUME, SNAPSHOT, BOOT_VOLUME, SNAPSHOT_IMAGE, 'vda', '/dev/vda',
        '/dev/vdb', 'image', 'volume', 'snapshot', 'blank', 'local', 'swap',
        'xen', 'uml', 'lxc', 'virtio', 'cdrom', 'lun', 'ephemeral0', [], {}, [{}]]),
    st.text(max_size=8))
BDM_FIELDS = ('source_type', 'destination_type', 'uuid', 'boot_index', 'volume_size',
              'device_name', 'disk_bus', 'device_type', 'guest_format',
              'delete_on_termination', 'tag', 'volume_type', 'no_device', 'volume_id',
              'snapshot_id', 'image_id', 'virtual_name')
SERVER_FIELDS = ('imageRef', 'flavorRef', 'min_count', 'max_count',
                 'availability_zone', 'block_device_mapping', 'block_device_mapping_v2')


def _entries(server):
    for key in ('block_device_mapping_v2', 'block_device_mapping'):
        if isinstance(server.get(key), list):
            return server[key]
    return None


def _mutate(body, mutation, field, value, index):
    server = body['server']
    value = copy.deepcopy(value)    # sampled lists/dicts are shared objects
    entries = _entries(server)
    if mutation == 'server-set':
        server[field[1]] = value
    elif mutation == 'server-drop':
        server.pop(field[1], None)
    elif entries is None:
        server['block_device_mapping_v2'] = [{field[0]: value}]
    elif mutation == 'entry-set' and entries:
        entries[index % len(entries)][field[0]] = value
    elif mutation == 'entry-drop' and entries:
        entries[index % len(entries)].pop(field[0], None)
    elif mutation == 'entry-repeat' and entries:
        entries.append(copy.deepcopy(entries[index % len(entries)]))
    else:
        entries.append({field[0]: value})


MUTATIONS = st.lists(st.tuples(
    st.sampled_from(['server-set', 'server-drop', 'entry-set', 'entry-drop',
                     'entry-repeat', 'entry-add']),
    st.tuples(st.sampled_from(BDM_FIELDS), st.sampled_from(SERVER_FIELDS)),
    VALUES, st.integers(0, 10)), min_size=1, max_size=4)


def _validate_json(body, extra):
    handle, path = tempfile.mkstemp(suffix='.json')
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as stream:
            json.dump(body, stream)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli_main.main(['validate', path, '-f', 'json', *extra])
        return code, out.getvalue(), err.getvalue()
    finally:
        os.unlink(path)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), mutations=MUTATIONS,
       extra=st.sampled_from([['--catalog', CATALOG], ['--catalog', CATALOG,
                                                       '--microversion', '2.67'],
                              [], ['--microversion', '2.' + HUGE_DIGITS]]))
def test_mutated_valid_requests_get_a_clean_answer(seed, mutations, extra):
    body = copy.deepcopy(seed)
    for mutation in mutations:
        _mutate(body, *mutation)
    code, out, err = _validate_json(body, extra)
    assert code in (0, 1, 2), (code, out, err)
    assert 'Traceback' not in out + err
    document = json.loads(out)
    if code == 0:
        assert isinstance(document['devices'], list)
    else:
        assert set(document['error']) == {'class', 'message', 'http_status'}
        assert document['error']['class'] != 'InternalError', document


def test_every_seed_is_accepted():
    for seed in SEEDS:
        code, out, err = _validate_json(seed, ['--catalog', CATALOG, '--microversion', '2.67'])
        assert code == 0, out
