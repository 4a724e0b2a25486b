"""A boot whose volumes come with rbd connection_info carrying a Ceph keyring:
the keyring appears in no log, output, persisted state, graph or web page."""

import json
import os
import subprocess
import sys
import uuid

import requests
from taskflow.persistence import backends

from tests.boot.test_crash_resume import _cinder
from blockflow.inspect import web

RBD_REQUEST = {'server': {
    'name': 'vm', 'flavorRef': '42', 'imageRef': '', 'networks': 'none',
    'block_device_mapping_v2': [
        {'source_type': 'blank', 'destination_type': 'volume', 'volume_size': 1,
         'boot_index': 0, 'volume_type': 'rbd'},
        {'source_type': 'blank', 'destination_type': 'volume', 'volume_size': 1,
         'volume_type': 'rbd'}]}}


def _run(args, env):
    return subprocess.run([sys.executable, '-m', 'blockflow.cli.main', *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_keyring_never_leaks(embedded_cloud_process, tmp_path):
    request = tmp_path / 'rbd.json'
    request.write_text(json.dumps(RBD_REQUEST))
    db = f'sqlite:///{tmp_path}/flows.sqlite'
    env = embedded_cloud_process.env(dict(os.environ, XDG_STATE_HOME=str(tmp_path / 'state')))
    instance_uuid = str(uuid.uuid4())
    boot = _run(['--debug', 'boot', str(request), *embedded_cloud_process.cloud_args,
                 '--instance-uuid', instance_uuid, '--connection', db, '-f', 'json'], env)
    assert boot.returncode == 0, boot.stderr[-3000:]
    result = json.loads(boot.stdout)
    # What Cinder handed out: the keyring blockflow must never show or keep.
    cinder = _cinder(embedded_cloud_process)
    keys = []
    for device in [d for d in result['devices'] if d['attachment_id']]:
        info = cinder.attachments.show(device['attachment_id']).connection_info
        assert info['driver_volume_type'] == 'rbd'
        # Cinder's attachments API hands connection_info out flat (no 'data' level).
        keys.append(info['keyring'].split('key = ')[1].strip())
    assert len(keys) == 2 and all(len(k) > 20 for k in keys)

    show = _run(['show', result['flow_id'], '-f', 'json', '--connection', db], env)
    devices = _run(['devices', instance_uuid, '-f', 'json', '--connection', db], env)
    svg = tmp_path / 'flow.svg'
    graph = _run(['graph', result['flow_id'], '-o', str(svg), '--connection', db], env)
    assert graph.returncode == 0, graph.stderr
    backend = backends.fetch({'connection': db})
    server = web.InspectServer(backend).start()
    try:
        pages = [requests.get(server.url + path, timeout=10).text for path in
                 ('/', f"/flows/{result['flow_id']}", f"/api/flows/{result['flow_id']}")]
    finally:
        server.stop()
        backend.close()
    artifacts = {
        'boot stdout': boot.stdout, 'boot stderr (debug log)': boot.stderr,
        'show': show.stdout, 'devices': devices.stdout, 'svg': svg.read_text(),
        'web': '\n'.join(pages),
    }
    # The database and its write-ahead log (WAL mode keeps recent commits there).
    for path in tmp_path.glob('flows.sqlite*'):
        artifacts[f'sqlite file {path.name}'] = path.read_bytes().decode('latin-1')
    assert 'sqlite file flows.sqlite' in artifacts
    assert 'secret_uuid' in devices.stdout          # the reference is kept...
    for name, text in artifacts.items():
        for key in keys:
            assert key not in text, f'keyring leaked into {name}'
    # The debug log really carried Cinder's answer with the keyring, masked.
    assert 'key = ***' in boot.stderr
