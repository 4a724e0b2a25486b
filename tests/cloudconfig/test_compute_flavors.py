"""Flavors come from the cloud's Compute API (by id or by name) when it has one; the
built-in table is the embedded cloud's only. Cinder and Glance are the embedded cloud's
(reached as a noauth clouds.yaml entry, so its built-in flavors do not apply); Nova's
flavor API is a minimal HTTP server answering as Nova 2.1 does."""

import json
import pathlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from blockflow.cli import main as cli
from blockflow.cloud.server import EmbeddedCloud

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / 'examples' / 'all-kinds.json'
FLAVOR = {'id': 'f-small', 'name': 'site.small', 'ram': 256, 'vcpus': 1, 'disk': 1,
          'OS-FLV-EXT-DATA:ephemeral': 2, 'swap': 1024, 'links': []}
NO_SWAP = dict(FLAVOR, id='f-noswap', name='site.noswap', swap='')   # Nova says '' for 0
FLAVORS = {f['id']: f for f in (FLAVOR, NO_SWAP)}


class _FlavorAPI(BaseHTTPRequestHandler):
    calls = []

    def log_message(self, *args):
        pass

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.calls.append((self.path, self.headers.get('X-OpenStack-Request-ID')))
        parts = self.path.split('?')[0].split('/')[3:]      # after /v2.1/flavors
        if parts == ['detail']:
            return self._answer(200, {'flavors': list(FLAVORS.values())})
        if len(parts) == 1 and parts[0] in FLAVORS:
            return self._answer(200, {'flavor': FLAVORS[parts[0]]})
        if len(parts) == 2 and parts[0] in FLAVORS and parts[1] == 'os-extra_specs':
            return self._answer(200, {'extra_specs': {'hw:cpu_policy': 'shared'}})
        return self._answer(404, {'itemNotFound': {'code': 404, 'message': 'not found'}})


@pytest.fixture
def nova():
    server = ThreadingHTTPServer(('127.0.0.1', 0), _FlavorAPI)
    _FlavorAPI.calls = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{server.server_address[1]}/v2.1'
    server.shutdown()
    server.server_close()


@pytest.fixture
def noauth_cloud(tmp_path):
    # Cinder's noauth strategy: 'user:project' tokens, no Keystone.
    with EmbeddedCloud(str(tmp_path / 'noauth-cloud'), latency_profile='fast',
                       auth_strategy='noauth') as cloud:
        yield cloud


@pytest.fixture
def cloud_env(noauth_cloud, nova, monkeypatch, tmp_path):
    embedded_cloud = noauth_cloud
    clouds = tmp_path / 'clouds.yaml'
    clouds.write_text(yaml.safe_dump({'clouds': {'site': {
        'auth_type': 'noauth',
        'auth': {'user_id': 'admin', 'project_id': embedded_cloud.project_id,
                 'endpoint': f'{embedded_cloud.url}/volume/v3'},
        'image_endpoint_override': f'{embedded_cloud.url}/image',
        'compute_endpoint_override': nova}}}))
    for name in ('OS_CLOUD', 'OS_AUTH_URL', 'OS_AUTH_TYPE'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('OS_CLIENT_CONFIG_FILE', str(clouds))
    monkeypatch.setenv('XDG_STATE_HOME', str(tmp_path / 'state'))
    return tmp_path


def _validate(tmp_path, capsys, flavor_ref):
    body = json.loads(EXAMPLE.read_text())
    body['server']['flavorRef'] = flavor_ref
    request = tmp_path / 'request.json'
    request.write_text(json.dumps(body))
    code = cli.main(['validate', str(request), '--os-cloud', 'site', '-f', 'json'])
    captured = capsys.readouterr()
    return code, json.loads(captured.out)


@pytest.mark.parametrize('flavor_ref', [FLAVOR['id'], FLAVOR['name']])
def test_flavor_by_id_or_name_from_the_compute_api(cloud_env, capsys, flavor_ref):
    code, result = _validate(cloud_env, capsys, flavor_ref)
    assert code == 0, result
    assert any(path.endswith('/os-extra_specs') for path, _rid in _FlavorAPI.calls)
    assert all(rid and rid.startswith('req-') for _path, rid in _FlavorAPI.calls)


def test_the_compute_flavor_is_what_the_checks_use(cloud_env, capsys):
    code, result = _validate(cloud_env, capsys, NO_SWAP['name'])
    assert code == 1                                   # the request's swap needs flavor swap
    assert result['error']['class'] == 'InvalidBDMSwapSize', result


def test_builtin_flavors_are_not_offered_to_another_cloud(cloud_env, capsys):
    code, result = _validate(cloud_env, capsys, '42')         # built-in bf.small
    assert code == 1
    assert result['error']['class'] == 'FlavorNotFound', result
