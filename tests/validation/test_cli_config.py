import json

from blockflow.cli import main as cli


def test_backup_source_enabled_by_config_file(tmp_path, capsys):
    request = tmp_path / 'backup.json'
    request.write_text(json.dumps({'server': {
        'name': 'vm', 'flavorRef': '1', 'imageRef': '', 'networks': 'none',
        'block_device_mapping_v2': [{
            'source_type': 'backup', 'uuid': '00000000-0000-4000-8000-00000000dead',
            'destination_type': 'volume', 'volume_size': 1, 'boot_index': 0}]}}))
    assert cli.main(['validate', str(request), '-f', 'json']) == 1
    assert json.loads(capsys.readouterr().out)['error']['class'] == 'ValidationError'
    config = tmp_path / 'blockflow.conf'
    config.write_text('[blockflow]\nenable_backup_source = true\n')
    try:
        assert cli.main(['--config-file', str(config), 'validate', str(request),
                         '-f', 'json']) == 0
        devices = json.loads(capsys.readouterr().out)['devices']
        assert devices[0]['kind'] == 'backup->volume'
    finally:
        from blockflow import conf
        conf.CONF(args=[], project='blockflow', default_config_files=[])
        assert conf.CONF.blockflow.enable_backup_source is False


def test_missing_config_file_is_a_usage_error(tmp_path, capsys):
    assert cli.main(['--config-file', str(tmp_path / 'nope.conf'), 'validate',
                     str(tmp_path / 'x.json')]) == 2
    assert 'does not exist' in capsys.readouterr().err
