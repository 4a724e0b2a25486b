"""The commands of a boot's life speak the formats they offer: boot (cliff's formats
and -c), then list, devices, graph, resume and delete (-f json) on what it made.
A real boot on the embedded cloud (in-process) and libvirt test:///default."""

import json
import pathlib

import pytest
import yaml

from blockflow.cli import main as cli_main

REQUEST = str(pathlib.Path(__file__).resolve().parents[2] / 'examples'
              / 'seed-boot-from-image.json')
INSTANCE = '0b1ec7f1-0000-4000-8000-00000000f0a7'


@pytest.fixture
def cloud_env(clouds_yaml_env, tmp_path):
    return {'db': ['--connection', f'sqlite:///{tmp_path}/flows.sqlite'],
            'cloud': ['--os-cloud', 'embedded'],
            'instances': ['--instances-path', str(tmp_path / 'instances')]}


def _run(capsys, *argv):
    code = cli_main.main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_a_boot_and_what_follows_in_every_format(cloud_env, capsys, tmp_path):
    db = cloud_env['db']
    out = _run(capsys, 'boot', REQUEST, '--instance-uuid', INSTANCE, *cloud_env['cloud'],
               *db, *cloud_env['instances'], '--quiet', '-f', 'yaml', '-c', 'Device',
               '-c', 'Volume')
    made = yaml.safe_load(out)
    assert [list(row) for row in made] == [['Device', 'Volume']]
    volume_id = made[0]['Volume']
    assert volume_id and made[0]['Device'].startswith('/dev/')

    assert _run(capsys, 'devices', INSTANCE, *db, '-f', 'value',
                '-c', 'Volume').split() == [volume_id]
    flows = json.loads(_run(capsys, 'list', *db, '-f', 'json'))['flows']
    assert [(f['instance_uuid'], f['state']) for f in flows] == [(INSTANCE, 'SUCCESS')]
    flow_id = flows[0]['flow_id']
    steps = yaml.safe_load(_run(capsys, 'show', flow_id[:8], *db, '-f', 'yaml', '-c', 'Step',
                                '-c', 'Volume'))
    assert volume_id in [row['Volume'] for row in steps]

    written = json.loads(_run(capsys, 'graph', flow_id, *db, '-o', str(tmp_path / 'g.dot'),
                              '-f', 'json'))
    assert written == {'written': str(tmp_path / 'g.dot'), 'format': 'dot'}
    assert 'digraph' in (tmp_path / 'g.dot').read_text()

    resumed = json.loads(_run(capsys, 'resume', flow_id, *db, '--quiet', '-f', 'json'))
    assert [(r['flow_id'], r['state']) for r in resumed['flows']] == [(flow_id, 'SUCCESS')]

    deleted = json.loads(_run(capsys, 'delete', INSTANCE, *db, '-f', 'json'))
    assert deleted['instance_uuid'] == INSTANCE and deleted['done']
    assert cli_main.main(['devices', INSTANCE, *db]) == 1
