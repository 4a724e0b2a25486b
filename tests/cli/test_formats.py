"""Each listing command speaks cliff's formats: json, value, yaml, csv, with -c."""

import csv
import io
import json
import pathlib

import pytest
import yaml

from blockflow.cli import main as cli_main

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / 'examples' / 'all-kinds.json')
CATALOG = str(ROOT / 'examples' / 'catalog.json')
OFFLINE = ['--catalog', CATALOG, '--microversion', '2.67']


def _run(capsys, *argv):
    code = cli_main.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _commands(db):
    """name -> (argv, the column -c selects, a value that column holds)."""
    return {
        'validate': (['validate', EXAMPLE, *OFFLINE], 'Device', '/dev/vdf'),
        'plan': (['plan', EXAMPLE, *OFFLINE], 'Kind', 'image->volume'),
        'list': (['list', '--connection', db['url']], 'Flow', db['flow_id']),
        'show': (['show', db['flow_id'], '--connection', db['url']], 'Step', 'reserve'),
        'devices': (['devices', db['instance'], '--connection', db['url']], 'Volume',
                    '11111111-2222-4333-8444-555555555555'),
    }


@pytest.mark.parametrize('name', ['validate', 'plan', 'list', 'show', 'devices'])
def test_yaml_value_csv_parse_and_c_selects(capsys, flow_db, name):
    argv, column, expected = _commands(flow_db)[name]
    code, out, err = _run(capsys, *argv, '-f', 'yaml', '-c', column)
    assert code == 0, err
    rows = yaml.safe_load(out)
    assert all(list(row) == [column] for row in rows) and expected in [r[column] for r in rows]

    code, out, _ = _run(capsys, *argv, '-f', 'value', '-c', column)
    assert code == 0 and expected in out.splitlines()

    code, out, _ = _run(capsys, *argv, '-f', 'csv')
    table = list(csv.reader(io.StringIO(out)))
    assert code == 0 and column in table[0] and len(table) > 1

    code, out, _ = _run(capsys, *argv, '-f', 'json', '-c', column)
    assert code == 0 and expected in [row[column] for row in json.loads(out)]


@pytest.mark.parametrize('name,key', [('validate', 'devices'), ('plan', 'devices'),
                                      ('list', 'flows'), ('show', 'devices'),
                                      ('devices', 'devices')])
def test_json_without_c_is_the_whole_document(capsys, flow_db, name, key):
    argv, _column, _expected = _commands(flow_db)[name]
    code, out, err = _run(capsys, *argv, '-f', 'json')
    assert code == 0, err
    assert key in json.loads(out)
    code, out, _ = _run(capsys, *argv, '-f', 'json', '--noindent')
    assert code == 0 and len(out.strip().splitlines()) == 1


def test_table_max_width_and_secrets_masked(capsys, flow_db):
    code, out, _ = _run(capsys, 'validate', EXAMPLE, *OFFLINE)
    assert code == 0 and max(len(line) for line in out.splitlines()) > 100
    code, out, _ = _run(capsys, 'validate', EXAMPLE, *OFFLINE, '--max-width', '100')
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 100
    code, out, _ = _run(capsys, 'devices', flow_db['instance'], '--connection',
                        flow_db['url'], '-f', 'json')
    assert code == 0 and 'sekrit' not in out


def test_debug_is_accepted_anywhere(capsys):
    from blockflow.cli import errors
    try:
        code, out, _ = _run(capsys, 'validate', EXAMPLE, *OFFLINE, '-f', 'value',
                            '-c', 'Device', '--debug')
    finally:
        errors.setup_logging(False)
    assert code == 0 and '/dev/vda' in out.splitlines()


@pytest.mark.parametrize('name', ['validate', 'plan', 'list', 'show', 'devices'])
def test_unknown_column_is_a_usage_error_naming_the_columns(capsys, flow_db, name):
    argv, column, _expected = _commands(flow_db)[name]
    code, out, err = _run(capsys, *argv, '-c', column, '-c', 'Nosuch')
    assert code == 2 and out == ''
    assert len(err.splitlines()) == 1 and "-c/--column: no column 'Nosuch'" in err
    assert column in err and 'Traceback' not in err
