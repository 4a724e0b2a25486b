"""Bad input, oversized requests and idle or trickling clients against the embedded cloud."""

import contextlib
import json
import socket
import threading
import time

import pytest
import requests
from taskflow.persistence import backends

from blockflow import wsgi_server
from blockflow.inspect import web


class Api:
    """Raw admin requests to the cloud's Cinder, errors included."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.session = cloud.session()
        self.base = f'{cloud.url}/volume/v3/{cloud.project_id}'

    def __call__(self, method, path, body=None, raw=None, version='volume 3.71', **kw):
        headers = {'OpenStack-API-Version': version} if version is not None else {}
        headers.update(kw.pop('headers', {}))
        if body is not None:
            raw = json.dumps(body)
        if raw is not None:
            headers.setdefault('Content-Type', 'application/json')
        response = self.session.request(self.base + path, method, data=raw, headers=headers,
                                        raise_exc=False, **kw)
        return response


@pytest.fixture
def api(embedded_cloud):
    return Api(embedded_cloud)


def _wait_available(api, volume_id):
    for _attempt in range(400):
        if api('GET', f'/volumes/{volume_id}').json()['volume']['status'] == 'available':
            return
        time.sleep(0.02)
    raise AssertionError(volume_id)


def test_body_over_cinders_limit_is_413(api):
    big = {'volume': {'size': 1, 'metadata': {'k': 'x' * 200}, 'description': 'x' * 120_000}}
    response = api('POST', '/volumes', big)
    assert response.status_code == 413
    assert response.json()['overLimit']['message'] == 'Request is too large.'
    assert api('GET', '/volumes').status_code == 200


def test_long_url_and_huge_headers_are_refused(api):
    assert api('GET', '/volumes?name=' + 'x' * 20_000).status_code == 414
    huge = api('GET', '/volumes', headers={'X-Junk': 'x' * 100_000})
    assert huge.status_code in (400, 413, 431)
    assert api('GET', '/volumes').status_code == 200


@pytest.mark.parametrize('header, status, message', [
    ('volume abc', 400, 'API Version String abc is of invalid format. Must be of format '
                        'MajorNum.MinorNum.'),
    ('volume 3.' + '9' * 5000, 406, None),
    ('volume 3.71 extra', 400, None),
    ('', 400, 'API version None is not supported on this method.'),
])
def test_malformed_version_headers_are_400s(api, header, status, message):
    response = api('GET', '/volumes', version=header)
    assert response.status_code == status
    if message:
        assert response.json()['badRequest']['message'] == message


def test_volume_latest_is_3_71(api):
    response = api('GET', '/volumes', version='volume latest')
    assert response.headers['OpenStack-API-Version'] == 'volume 3.71'


@pytest.mark.parametrize('volume', [
    {'size': 1, 'name': {'nested': 'object'}}, {'size': 1.9}, {'size': [1]},
    {'size': 1, 'snapshot_id': {'id': 'x'}}, {'size': 1, 'imageRef': ['x']},
    {'size': 1, 'source_volid': {}}, {'size': 1, 'backup_id': [1, 2]},
    {'size': 1, 'metadata': {'k': {'v': 1}}}, {'size': 1, 'availability_zone': 'mars'},
    {'size': 1, 'multiattach': True}, {'size': 10 ** 30},
])
def test_bad_create_bodies_are_400_and_store_nothing(api, embedded_cloud, volume):
    before = len(embedded_cloud.store.list('volumes'))
    response = api('POST', '/volumes', {'volume': volume})
    assert response.status_code == 400, response.text
    assert 'badRequest' in response.json()
    assert len(embedded_cloud.store.list('volumes')) == before


def test_deep_json_and_odd_queries_are_400s(api):
    deep = '{"volume": ' + '[' * 50_000 + ']' * 50_000 + '}'
    assert api('POST', '/volumes', raw=deep).status_code in (400, 413)
    shallow_deep = '{"volume": {"size": 1, "metadata": ' + '{"a": ' * 40 + '1' + '}' * 41 + '}'
    assert api('POST', '/volumes', raw=shallow_deep).status_code == 400
    for query in ('metadata=[1]', 'metadata={"a": {"b": 1}}', 'limit=-1', 'limit=x',
                  'marker=nope', 'sort=evil:asc', 'sort=name:sideways'):
        response = api('GET', '/volumes/detail?' + query)
        assert 400 <= response.status_code < 500, query


@pytest.mark.parametrize('action', ['volume', '_init__', '__class__', '_reserve', 'os-',
                                    'store', 'os-nonsense'])
def test_action_names_never_reach_internals(api, action):
    volume_id = api('POST', '/volumes', {'volume': {'size': 1}}).json()['volume']['id']
    response = api('POST', f'/volumes/{volume_id}/action', {action: {}})
    assert response.status_code == 400
    assert response.json()['badRequest']['message'].startswith('There is no such action')


@pytest.mark.parametrize('action, args', [
    ('os-attach', {'instance_uuid': {'x': 1}, 'mountpoint': '/dev/vdb'}),
    ('os-attach', {'instance_uuid': 'i', 'mountpoint': ['/dev/vdb']}),
    ('os-detach', {'attachment_id': [1]}), ('os-initialize_connection', {'connector': 'h'}),
    ('os-reserve', [1]),
])
def test_action_arguments_of_the_wrong_type_are_400s(api, embedded_cloud, action, args):
    volume_id = api('POST', '/volumes', {'volume': {'size': 1}}).json()['volume']['id']
    _wait_available(api, volume_id)
    response = api('POST', f'/volumes/{volume_id}/action', {action: args})
    assert response.status_code == 400, response.text
    assert embedded_cloud.store.list('attachments',
                                     where=lambda a: a['volume_id'] == volume_id) == []


def test_extend_checks_the_gigabytes_quota_and_integer_sizes(api, embedded_cloud):
    volume_id = api('POST', '/volumes', {'volume': {'size': 1}}).json()['volume']['id']
    _wait_available(api, volume_id)
    used = sum(embedded_cloud.store.field('volumes', 'size'))
    embedded_cloud.cinder.set_quota(embedded_cloud.project_id, gigabytes=used + 1)
    over = api('POST', f'/volumes/{volume_id}/action', {'os-extend': {'new_size': 3}})
    assert over.status_code == 413 and 'gigabytes quota' in over.json()['overLimit']['message']
    assert api('POST', f'/volumes/{volume_id}/action',
               {'os-extend': {'new_size': 1.5}}).status_code == 400
    assert api('POST', f'/volumes/{volume_id}/action',
               {'os-extend': {'new_size': 2}}).status_code == 202
    assert api('GET', f'/volumes/{volume_id}').json()['volume']['size'] == 2


def _idle_sockets(url, count):
    host, port = url.split('//')[1].split(':')
    sockets = []
    for _i in range(count):
        sock = socket.create_connection((host, int(port)), timeout=5)
        sockets.append(sock)
    return sockets


def test_hundreds_of_idle_connections_do_not_hold_the_workers(embedded_cloud, api):
    sockets = _idle_sockets(embedded_cloud.url, 300)
    try:
        # Stock cheroot would make this wait out the idle sockets' timeout.
        response = requests.get(embedded_cloud.url + '/volume/',
                                timeout=wsgi_server.IDLE_TIMEOUT_S - 1)
        assert response.status_code == 300
    finally:
        for sock in sockets:
            sock.close()


def _trickle(url, stop, path='/'):
    host, port = url.split('//')[1].split(':')
    try:
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            for byte in f'GET {path} HTTP/1.1\r\nHost: x\r\nX-Slow: '.encode():
                sock.sendall(bytes([byte]))
                if stop.wait(0.2):
                    return
            while not stop.wait(0.2):
                sock.sendall(b'a')
    except OSError:       # the server cut us off: what it should do
        pass


def test_ui_keeps_serving_under_idle_and_trickling_clients(tmp_path):
    backend = backends.fetch({'connection': f'sqlite:///{tmp_path}/flows.sqlite'})
    with contextlib.closing(backend.get_connection()) as conn:
        conn.upgrade()
    server = web.InspectServer(backend).start()
    stop = threading.Event()
    trickles = [threading.Thread(target=_trickle, args=(server.url, stop), daemon=True)
                for _i in range(2 * web.UI_THREADS)]
    sockets = _idle_sockets(server.url, 4 * web.UI_THREADS)
    try:
        for thread in trickles:
            thread.start()
        time.sleep(1)         # let the trickles take every worker they can
        # Trickling clients are cut off at the read deadline: the page is served
        # within it (stock cheroot would wait for as long as they trickle).
        response = requests.get(server.url + '/', timeout=wsgi_server.READ_DEADLINE_S + 5)
        assert response.status_code == 200
    finally:
        stop.set()
        for sock in sockets:
            sock.close()
        server.stop()
