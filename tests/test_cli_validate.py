"""``blockflow validate`` / ``blockflow plan`` on the shipped examples."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from blockflow.cli import main as cli_main
from blockflow.cli import validate as cli_validate
from blockflow.request import kinds
from blockflow.request.validation import catalog as catalog_module

REPO = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = REPO / 'examples'
CATALOG = str(EXAMPLES / 'catalog.json')
ALL_KINDS = str(EXAMPLES / 'all-kinds.json')
SEED = str(EXAMPLES / 'seed-boot-from-image.json')
# The examples use fields (tag, volume_type) of later microversions.
MICROVERSION = ['--microversion', '2.67']
VERDICTS = json.loads((EXAMPLES / 'invalid' / 'verdicts.json').read_text())
INVALID = sorted(name for name in VERDICTS if not name.startswith('_'))

IMAGE = 'ac408821-c95a-448f-9292-73986c790911'
SNAPSHOT = '3c1d5f8e-7a2b-4c9d-9e0f-1a2b3c4d5e6f'
VOLUME = '56494430-5460-4582-a3d0-e22cb4ef0cd2'


def run(capsys, *argv):
    code = cli_main.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, '-f', 'json')
    return code, json.loads(out), err


# --- accepted requests ---------------------------------------------------------

def test_validate_seed_request(capsys):
    code, result, _ = run_json(capsys, 'validate', SEED, *MICROVERSION,
                               '--catalog', CATALOG)
    assert code == 0
    assert result['root_device_name'] == '/dev/sda'
    (device,) = result['devices']
    assert device['kind'] == str(kinds.Kind.IMAGE_VOLUME)
    assert (device['device_name'], device['disk_bus'], device['image_id'],
            device['volume_size'], device['boot_index']) == (
        '/dev/sda', 'scsi', IMAGE, 25, 0)


def test_validate_all_kinds_names_every_device_once(capsys):
    code, result, _ = run_json(capsys, 'validate', ALL_KINDS, *MICROVERSION,
                               '--catalog', CATALOG)
    assert code == 0
    by_kind = {d['kind']: d for d in result['devices']}
    assert set(by_kind) == {str(k) for k in (
        kinds.Kind.IMAGE_VOLUME, kinds.Kind.SNAPSHOT_VOLUME,
        kinds.Kind.BLANK_VOLUME, kinds.Kind.VOLUME, kinds.Kind.EPHEMERAL,
        kinds.Kind.SWAP)}
    assert result['root_device_name'] == '/dev/vda'
    # Nova's order: root, ephemerals, swap, then volumes by source type
    # (existing, snapshot, image, blank) whatever the request order.
    assert {kind: d['device_name'] for kind, d in by_kind.items()} == {
        'image->volume': '/dev/vda', 'blank->local': '/dev/vdb',
        'blank->local swap': '/dev/vdc', 'volume': '/dev/vdd',
        'snapshot->volume': '/dev/vde', 'blank->volume': '/dev/vdf'}
    assert by_kind['snapshot->volume']['snapshot_id'] == SNAPSHOT
    assert by_kind['volume']['volume_id'] == VOLUME


def test_validate_table_lists_devices(capsys):
    code, out, err = run(capsys, 'validate', ALL_KINDS, *MICROVERSION,
                         '--catalog', CATALOG)
    assert code == 0 and err == ''
    for header in ('Device', 'Kind', 'Size', 'Boot Index', 'Bus', 'Type', 'IDs'):
        assert header in out
    for name in ('/dev/vda', '/dev/vdf', f'snapshot_id={SNAPSHOT}',
                 'image->volume', '2 GiB', 'volume_type=SAS-public'):
        assert name in out
    assert '→' not in out


def test_plan_json_gives_each_device_its_kind_steps(capsys):
    code, result, _ = run_json(capsys, 'plan', ALL_KINDS, *MICROVERSION,
                               '--catalog', CATALOG)
    assert code == 0
    assert len(result['devices']) == 6
    for device in result['devices']:
        spec = kinds.KINDS[kinds.Kind(device['kind'])]
        assert device['steps'] == list(spec.steps)


def test_plan_value_lists_each_device_with_its_steps(capsys):
    code, out, _ = run(capsys, 'plan', ALL_KINDS, *MICROVERSION,
                       '--catalog', CATALOG, '-f', 'value', '-c', 'Device', '-c', 'Steps')
    assert code == 0
    steps = kinds.KINDS[kinds.Kind.VOLUME].steps
    assert f"/dev/vdd {' '.join(steps)}" in out.splitlines()


# --- refused requests ------------------------------------------------------------

@pytest.mark.parametrize('name', INVALID)
def test_invalid_examples_get_novas_verdict_as_json(capsys, name):
    path = str(EXAMPLES / 'invalid' / name)
    code, result, err = run_json(capsys, 'validate', path, *MICROVERSION,
                                 '--catalog', CATALOG)
    assert code == 1
    assert result == {'error': VERDICTS[name]}


@pytest.mark.parametrize('name', INVALID)
def test_invalid_examples_as_one_stderr_line(capsys, name):
    path = str(EXAMPLES / 'invalid' / name)
    code, out, err = run(capsys, 'plan', path, *MICROVERSION,
                         '--catalog', CATALOG)
    verdict = VERDICTS[name]
    assert code == 1 and out == ''
    assert err == f'{verdict["class"]}: {verdict["message"]}\n'


def test_body_that_is_not_an_object_is_refused(capsys, tmp_path):
    path = tmp_path / 'list.json'
    path.write_text('[1, 2]')
    code, out, err = run(capsys, 'validate', str(path))
    assert code == 1
    assert err.strip() == ('RequestFormatError: Invalid request body: the '
                           'request body must be a JSON object, not an array')


# --- unusable input: exit 2 ----------------------------------------------------

def test_missing_file(capsys, tmp_path):
    path = tmp_path / 'nope.json'
    code, out, err = run(capsys, 'validate', str(path))
    assert code == 2 and out == ''
    assert err == (f'UsageError: cannot read request file {path}: '
                   'No such file or directory\n')


def test_directory_instead_of_file(capsys, tmp_path):
    code, _, err = run(capsys, 'plan', str(tmp_path))
    assert code == 2
    assert 'Is a directory' in err and len(err.splitlines()) == 1


def test_invalid_json_names_line_and_column(capsys, tmp_path):
    path = tmp_path / 'bad.json'
    path.write_text('{"server": {\n  "name": }\n}')
    code, _, err = run(capsys, 'validate', str(path))
    assert code == 2
    assert err == (f'UsageError: request file {path} is not valid JSON: '
                   'Expecting value at line 2 column 11\n')


def test_non_utf8_file(capsys, tmp_path):
    path = tmp_path / 'latin1.json'
    path.write_bytes('{"server": {"name": "café"}}'.encode('latin-1'))
    code, out, err = run(capsys, 'validate', str(path), '-f', 'json')
    assert code == 2
    error = json.loads(out)['error']
    assert error['class'] == 'UsageError'
    assert error['message'] == (f'request file {path} is not UTF-8 text: '
                                'byte 0xe9 at offset 24')


def test_deeply_nested_json(capsys, tmp_path):
    path = tmp_path / 'deep.json'
    path.write_text('[' * 50000 + ']' * 50000)     # within Nova's body limit
    code, _, err = run(capsys, 'validate', str(path))
    assert code == 2
    assert 'nested too deeply' in err


def test_missing_catalog(capsys, tmp_path):
    code, _, err = run(capsys, 'validate', ALL_KINDS, '--catalog',
                       str(tmp_path / 'none.json'))
    assert code == 2
    assert err.startswith('UsageError: catalog: cannot read ')


@pytest.mark.parametrize('version, cls, status', [
    ('two', 'InvalidAPIVersionString', 400), ('2.x', 'InvalidAPIVersionString', 400),
    ('2.105', 'InvalidGlobalAPIVersion', 406),
    ('2.' + '9' * 4301, 'InvalidGlobalAPIVersion', 406)])
def test_microversion_refused_as_nova_does(capsys, version, cls, status):
    # Nova's wsgi layer: 400 for an unparsable header, 406 outside 2.1-2.104.
    code, result, err = run_json(capsys, 'validate', ALL_KINDS, '--microversion', version)
    assert code == 1 and err == ''
    assert (result['error']['class'], result['error']['http_status']) == (cls, status)


# --- sizes: Nova's body limit, bounded reads ---------------------------------------

TOO_LARGE = ('HTTPRequestEntityTooLarge: Request is too large. Larger than '
             'max_request_body_size (114688).\n')


def test_request_over_novas_body_limit_is_413(capsys, tmp_path):
    # oslo.middleware sizelimit in Nova's paste pipeline: 114,688 bytes.
    body = json.loads(pathlib.Path(ALL_KINDS).read_text())
    body['server']['name'] = 'x'
    path = tmp_path / 'big.json'
    text = json.dumps(body)
    path.write_text(text + ' ' * (114688 - len(text)))
    assert run(capsys, 'validate', str(path), *MICROVERSION)[0] == 0
    path.write_text(text + ' ' * (114689 - len(text)))
    code, out, err = run(capsys, 'validate', str(path), *MICROVERSION)
    assert (code, out, err) == (1, '', TOO_LARGE)


def test_body_limit_is_configurable(capsys, tmp_path):
    config = tmp_path / 'blockflow.conf'
    config.write_text('[oslo_middleware]\nmax_request_body_size = 100\n')
    try:
        code, result, _ = run_json(capsys, '--config-file', str(config), 'validate', ALL_KINDS)
        assert code == 1
        assert result['error'] == {
            'class': 'HTTPRequestEntityTooLarge', 'http_status': 413,
            'message': 'Request is too large. Larger than max_request_body_size (100).'}
    finally:
        from blockflow import conf
        conf.CONF(args=[], project='blockflow', default_config_files=[])


@pytest.mark.skipif(not os.path.exists('/dev/zero'), reason='no /dev/zero')
def test_endless_files_are_read_no_further_than_the_limits(capsys):
    assert run(capsys, 'validate', '/dev/zero') == (1, '', TOO_LARGE)
    code, out, err = run(capsys, 'validate', ALL_KINDS, '--catalog', '/dev/zero')
    assert code == 2 and out == ''
    assert err == ('UsageError: catalog: /dev/zero is larger than '
                   f'{catalog_module.MAX_CATALOG_BYTES} bytes\n')


def test_table_of_two_thousand_devices(capsys, tmp_path):
    items = [{'source_type': 'blank', 'destination_type': 'volume', 'volume_size': 1}
             for _ in range(2000)]
    items[0]['boot_index'] = 0
    path = tmp_path / 'many.json'
    path.write_text(json.dumps({'server': {
        'name': 'vm', 'flavorRef': '1', 'imageRef': '', 'networks': 'none',
        'block_device_mapping_v2': items}}, separators=(',', ':')))
    config = tmp_path / 'blockflow.conf'
    config.write_text('[oslo_middleware]\nmax_request_body_size = 1000000\n')
    try:
        code, out, err = run(capsys, '--config-file', str(config), 'validate', str(path))
    finally:
        from blockflow import conf
        conf.CONF(args=[], project='blockflow', default_config_files=[])
    assert code == 0 and (err == '' or err.startswith('note: no cloud')), err
    lines = out.splitlines()
    assert [cell.strip() for cell in lines[1].split('|')[1:-1]] == [
        'Device', 'Kind', 'Size', 'Boot Index', 'Bus', 'Type', 'IDs']
    rows = [[cell.strip() for cell in line.split('|')[1:-1]] for line in lines[3:-1]]
    assert len(rows) == 2000 and len({row[0] for row in rows}) == 2000
    assert rows[0][:3] == ['/dev/vda', 'blank->volume', '1 GiB']
    assert rows[-1][0] == '/dev/vdbxx'


# --- the installed console script ------------------------------------------------

def _script():
    script = pathlib.Path(sys.executable).parent / 'blockflow'
    if not script.exists():
        pytest.skip('console script not installed')
    return str(script)


def test_console_script_plans_all_kinds():
    result = subprocess.run(
        [_script(), 'plan', ALL_KINDS, '--catalog', CATALOG, *MICROVERSION],
        capture_output=True, text=True, cwd=REPO, timeout=60,
        env=dict(os.environ, COLUMNS='120'))
    assert result.returncode == 0, result.stderr
    assert 'Traceback' not in result.stderr
    for step in kinds.KINDS[kinds.Kind.SNAPSHOT_VOLUME].steps:
        assert step in result.stdout


def test_console_script_refuses_bad_bytes(tmp_path):
    path = tmp_path / 'junk.json'
    path.write_bytes(b'\xff\xfe\x00garbage')
    result = subprocess.run([_script(), 'validate', str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ''
    assert result.stderr.startswith('UsageError: request file ')
    assert 'Traceback' not in result.stderr
