"""Whatever the request file holds, the CLI answers with an exit code, not a crash.

Bodies range from arbitrary JSON to request-shaped documents whose fields carry
wrong types, unicode, huge lists and deep nesting; files may be arbitrary bytes.
Each run must end with exit 0, 1 or 2, print no traceback, and - when it
refuses - print a well-formed error naming a class other than the CLI's
catch-all for crashed checks.
"""

import contextlib
import io
import json
import os
import tempfile

from hypothesis import HealthCheck, given, settings, strategies as st

from blockflow.cli import main as cli_main

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'examples')
CATALOG = os.path.join(EXAMPLES, 'catalog.json')

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

scalars = (st.none() | st.booleans() | st.integers()
           | st.floats(allow_nan=False) | st.text(max_size=20)
           | st.sampled_from(['', '0', '-1', '1', 'latest', '\ud800',
                              'ac408821-c95a-448f-9292-73986c790911',
                              '/dev/vda', 'swap', 'scsi', 'cdrom', 'lun',
                              '9' * 40]))
json_values = st.recursive(
    scalars,
    lambda children: (st.lists(children, max_size=5)
                      | st.dictionaries(st.text(max_size=10), children,
                                        max_size=5)),
    max_leaves=20)

BDM_FIELDS = ('source_type', 'destination_type', 'uuid', 'boot_index',
              'volume_size', 'device_name', 'disk_bus', 'device_type',
              'guest_format', 'delete_on_termination', 'tag', 'volume_type',
              'no_device', 'image_id', 'volume_id', 'snapshot_id',
              'backup_id', 'connection_info', 'virtual_name')
bdm_values = (json_values
              | st.sampled_from(['image', 'volume', 'snapshot', 'blank',
                                 'backup', 'local', 'virtio', 'ide', 'disk',
                                 'floppy', 0, 1, 25, 512, -1, True]))
bdms = st.dictionaries(st.sampled_from(BDM_FIELDS), bdm_values, max_size=8)
servers = st.fixed_dictionaries(
    {'block_device_mapping_v2': st.lists(bdms, max_size=6) | json_values},
    optional={'name': json_values, 'flavorRef': st.just('42') | json_values,
              'imageRef': st.sampled_from(
                  ['', 'ac408821-c95a-448f-9292-73986c790911']) | json_values,
              'networks': st.just('none') | json_values,
              'block_device_mapping': json_values,
              'min_count': json_values, 'max_count': json_values,
              'availability_zone': json_values})
bodies = (json_values
          | st.builds(lambda server: {'server': server}, servers)
          | st.builds(lambda server: {'server': server},
                      st.dictionaries(st.text(max_size=10), json_values)))
argv_options = st.lists(
    st.sampled_from([['--catalog', CATALOG], ['--microversion', '2.1'],
                     ['--microversion', '2.67'], ['--microversion', '9.9'],
                     ['--enable-backup-source'], ['-f', 'json']]),
    max_size=3, unique_by=lambda option: option[0])


def run_cli(command, path, options):
    argv = [command, path] + [word for option in options for word in option]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main.main(argv)
    return code, out.getvalue(), err.getvalue(), '-f' in argv


def assert_clean_answer(code, out, err, as_json):
    assert code in (0, 1, 2)
    assert 'Traceback' not in out and 'Traceback' not in err
    if code == 0:
        return
    if as_json:
        error = json.loads(out)['error']
        assert set(error) == {'class', 'message', 'http_status'}
        error_class = error['class']
    else:
        assert out == ''
        assert len(err.splitlines()) == 1, err
        error_class = err.split(':', 1)[0]
    # The catch-all means a check crashed: a bug, even if cleanly reported.
    assert error_class != 'InternalError', out + err


def with_file(data):
    handle, path = tempfile.mkstemp(suffix='.json')
    with os.fdopen(handle, 'wb') as stream:
        stream.write(data)
    return path


@SETTINGS
@given(body=bodies, command=st.sampled_from(['validate', 'plan']),
       options=argv_options)
def test_any_json_body_gets_a_clean_answer(body, command, options):
    path = with_file(json.dumps(body).encode('utf-8', 'surrogatepass'))
    try:
        assert_clean_answer(*run_cli(command, path, options))
    finally:
        os.unlink(path)


@SETTINGS
@given(data=st.binary(max_size=200) | st.text(max_size=100).map(
           lambda text: text.encode('utf-8', 'surrogatepass')),
       options=argv_options)
def test_any_bytes_get_a_clean_answer(data, options):
    path = with_file(data)
    try:
        assert_clean_answer(*run_cli('validate', path, options))
    finally:
        os.unlink(path)


@settings(max_examples=10, deadline=None)
@given(depth=st.integers(min_value=1, max_value=50000),
       wrapper=st.sampled_from(['[{}]', '{{"server": {}}}',
                                '{{"server": {{"block_device_mapping_v2": '
                                '[{}]}}}}']))
def test_deep_nesting_gets_a_clean_answer(depth, wrapper):
    nested = '[' * depth + ']' * depth
    path = with_file(wrapper.format(nested).encode())
    try:
        assert_clean_answer(*run_cli('plan', path, [['-f', 'json']]))
    finally:
        os.unlink(path)


def test_huge_device_list_gets_a_clean_answer():
    device = {'source_type': 'blank', 'destination_type': 'volume',
              'volume_size': 1}
    body = {'server': {'name': 'many', 'flavorRef': '42', 'imageRef': '',
                       'networks': 'none',
                       'block_device_mapping_v2': [device] * 5000}}
    path = with_file(json.dumps(body).encode())
    try:
        for options in ([], [['--catalog', CATALOG], ['-f', 'json']]):
            assert_clean_answer(*run_cli('validate', path, options))
    finally:
        os.unlink(path)
