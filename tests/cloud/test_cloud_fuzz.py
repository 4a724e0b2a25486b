"""Every route of the embedded cloud, every method, hostile ids, bodies and queries:
never a 5xx, and the cloud still serves a normal client afterwards."""

import itertools
import json
import random
import re
import time
import uuid

import requests

from blockflow.cloud import identity

HOSTILE_IDS = ('00000000-0000-4000-8000-000000000000', 'x' * 300, '..', '%00', '%ff%fe',
               'ü', '[]', '{}', '0', '-1', 'None')
ELEMENTS = ('volume', 'snapshot', 'backup', 'attachment', 'quota_set', 'metadata', 'meta',
            'auth', 'os-extend', 'os-attach', 'os-initialize_connection', 'os-complete',
            'fail', 'latency')
ODD_VALUES = ({}, [], [1, [2]], None, True, -1, 1.9, 10 ** 40, 'x' * 300, {'a': {'b': 1}})
QUERIES = ('limit=-1', 'limit=x', 'limit=99999999999999999999', 'marker=nope',
           'sort=name:up', 'sort=__class__', 'sort_key=id&sort=name', 'metadata=[1]',
           'metadata={"a":{"b":1}}', 'metadata=%7B', 'all_tenants=1', 'with_count=yes',
           'updated_at=gt:never', 'created_at=lol:2020', 'id=[1', 'name=%00', 'detail=1')
VERSIONS = ('volume 3.0', 'volume 3.27', 'volume 3.71', 'volume latest', 'volume 9.9',
            'volume abc', '')
METHODS = ('GET', 'POST', 'PUT', 'DELETE', 'PATCH')


def _bodies(rng):
    yield b''
    for raw in (b'null', b'[]', b'{}', b'"x"', b'1', b'{not json', b'\xff\xfe',
                b'[' * 10000 + b']' * 10000):
        yield raw
    for element in ELEMENTS:
        yield json.dumps({element: rng.choice(ODD_VALUES)}).encode()
        fields = {key: rng.choice(ODD_VALUES) for key in (
            'size', 'name', 'volume_id', 'snapshot_id', 'source_volid', 'backup_id',
            'imageRef', 'volume_uuid', 'instance_uuid', 'connector', 'new_size', 'mode',
            'metadata', 'volume_type', 'availability_zone', 'volumes', 'identity')}
        yield json.dumps({element: fields}).encode()


def _templates(cloud):
    return sorted({route.routepath for route in cloud.app.mapper.matchlist})


def _fill(template, values):
    return re.sub(r'\{(\w+)\}', lambda m: values[m.group(1)], template)


def test_no_route_answers_5xx_to_hostile_requests(embedded_cloud):
    cloud = embedded_cloud
    rng = random.Random(14)
    session = requests.Session()
    token = cloud.session(service=True).get_token()     # admin + service: every route
    cinder = cloud.cinder_client('3.44')
    volume = cinder.volumes.create(1, name='fuzz-target')
    real = {'project_id': cloud.project_id, 'volume_id': volume.id,
            'snapshot_id': '3c1d5f8e-7a2b-4c9d-9e0f-1a2b3c4d5e6f',
            'image_id': 'ac408821-c95a-448f-9292-73986c790911', 'type_id': 'local',
            'target_id': uuid.uuid4().hex, 'backup_id': str(uuid.uuid4()),
            'attachment_id': str(uuid.uuid4()), 'key': 'k'}
    hostile = itertools.cycle(HOSTILE_IDS)
    bodies = list(_bodies(rng))
    failures = []
    seen = []

    def send(method, url, body=b'', headers=None):
        response = session.request(method, url, data=body, timeout=30, headers=dict(
            {'X-Auth-Token': token, 'Content-Type': 'application/json',
             'OpenStack-API-Version': rng.choice(VERSIONS)}, **(headers or {})))
        seen.append(response.status_code)
        if response.status_code >= 500:
            failures.append((method, url[:120], body[:120], response.status_code,
                             response.text[:200]))

    for template in _templates(cloud):
        for method in METHODS:
            for index, body in enumerate(bodies):
                values = dict(real)
                if index % 3 == 1:      # a third of the calls with hostile ids
                    values = {k: next(hostile) if k != 'project_id' else v
                              for k, v in values.items()}
                send(method, cloud.url + _fill(template, values), body)
        for query in QUERIES:
            send('GET', f'{cloud.url}{_fill(template, real)}?{query}')
    # No token, someone else's token, a token for another project's URL.
    demo = requests.post(f'{cloud.auth_url}/auth/tokens', timeout=10, json={'auth': {
        'identity': {'methods': ['password'], 'password': {'user': {
            'name': 'demo', 'password': identity.ACCOUNTS['demo'].password,
            'domain': {'name': 'Default'}}}}}}).headers['X-Subject-Token']
    for template in _templates(cloud):
        for auth in ('', demo, 'admin:' + cloud.project_id):
            send('GET', cloud.url + _fill(template, real), headers={'X-Auth-Token': auth})
            send('POST', cloud.url + _fill(template, real), b'{}',
                 headers={'X-Auth-Token': auth})
    assert failures == []

    assert len(seen) > 5000 and {200, 202, 400, 401, 404} <= set(seen)

    # The cloud still serves a plain client, and nothing the fuzz made is left
    # half-made: every volume it created settles.
    cinder = cloud.cinder_client('3.71')
    after = cinder.volumes.create(1, name='after-fuzz')
    deadline = time.monotonic() + 30
    while any(v['status'] in ('creating', 'downloading') for v in cloud.store.list('volumes')):
        assert time.monotonic() < deadline, 'a volume stayed creating'
        time.sleep(0.05)
    assert cinder.volumes.get(after.id).status == 'available'
    cinder.volumes.delete(after.id)
