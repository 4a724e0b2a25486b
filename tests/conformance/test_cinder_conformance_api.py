"""More of Cinder's API, asserted against the embedded cloud and a real Cinder 29 alike:
microversion headers, list sort/pagination/counts, metadata items, snapshot lists,
zones, the default type, create refusals, the attachments API's rules, and the
admin discovery APIs (get_pools, os-services). Targets as in test_cinder_conformance.
"""

import uuid

import pytest

from tests.conformance.test_cinder_conformance import CONNECTOR
from tests.conformance.test_cinder_conformance import embedded_noauth_cloud  # noqa: F401
from tests.conformance.test_cinder_conformance import target  # noqa: F401

pytestmark = pytest.mark.realcinder


# --- microversions ------------------------------------------------------------------
def test_volume_latest_is_the_maximum(target):
    session = target.clients.session
    response = session.get('/volumes', endpoint_filter={'service_type': 'volumev3'},
                           headers={'OpenStack-API-Version': 'volume latest'})
    assert response.headers['OpenStack-API-Version'] == 'volume 3.71'


def test_malformed_version_is_400_with_cinders_message(target):
    assert target.http('GET', '/volumes', version='abc') == (400, {'badRequest': {
        'code': 400, 'message': 'API Version String abc is of invalid format. Must be of '
                                'format MajorNum.MinorNum.'}})


@pytest.mark.parametrize('header', ['compute 2.1', 'compute 2.1, image 2.0'])
def test_version_header_without_a_volume_version_is_400(target, header):
    session = target.clients.session
    response = session.get('/volumes', endpoint_filter={'service_type': 'volumev3'},
                           headers={'OpenStack-API-Version': header}, raise_exc=False)
    assert response.status_code == 400
    assert 'badRequest' in response.json()


# --- lists ----------------------------------------------------------------------------
def _named_volumes(target, tag, names):
    ids = {}
    for name in names:
        ids[name] = target.create(1, name=name, metadata={'conformance': tag})['id']
    for volume_id in ids.values():
        target.wait(volume_id)
    return ids


def _listed(target, query, version='3.71'):
    status, body = target.http('GET', '/volumes/detail?' + query, version=version)
    assert status == 200, body
    return body


def test_sort_by_name_both_ways(target):
    tag = uuid.uuid4().hex
    _named_volumes(target, tag, ['b', 'a', 'c'])
    meta = f'metadata={{"conformance": "{tag}"}}'
    assert [v['name'] for v in _listed(target, f'{meta}&sort=name:asc')['volumes']] == \
        ['a', 'b', 'c']
    assert [v['name'] for v in _listed(
        target, f'{meta}&sort_key=name&sort_dir=desc')['volumes']] == ['c', 'b', 'a']
    # Cinder's default order: newest first.
    assert [v['name'] for v in _listed(target, meta)['volumes']] == ['c', 'a', 'b']


def test_limit_and_marker_page_with_a_next_link(target):
    tag = uuid.uuid4().hex
    _named_volumes(target, tag, ['p1', 'p2', 'p3'])
    meta = f'metadata={{"conformance": "{tag}"}}'
    first = _listed(target, f'{meta}&sort=name:asc&limit=2')
    assert [v['name'] for v in first['volumes']] == ['p1', 'p2']
    (link,) = first['volumes_links']
    assert link['rel'] == 'next' and f"marker={first['volumes'][-1]['id']}" in link['href']
    marker = first['volumes'][-1]['id']
    rest = _listed(target, f'{meta}&sort=name:asc&limit=2&marker={marker}')
    assert [v['name'] for v in rest['volumes']] == ['p3']
    assert 'volumes_links' not in rest


def test_with_count_since_3_45(target):
    tag = uuid.uuid4().hex
    _named_volumes(target, tag, ['c1', 'c2', 'c3'])
    meta = f'metadata={{"conformance": "{tag}"}}'
    counted = _listed(target, f'{meta}&with_count=true&limit=1', version='3.45')
    assert counted['count'] == 3 and len(counted['volumes']) == 1
    assert 'count' not in _listed(target, f'{meta}&with_count=true', version='3.44')


# --- metadata items -----------------------------------------------------------------------
def test_volume_metadata_item_endpoints(target):
    vid = target.available_volume(metadata={'keep': 'me'})['id']
    assert target.http('PUT', f'/volumes/{vid}/metadata/color', {'meta': {'color': 'red'}}) \
        == (200, {'meta': {'color': 'red'}})
    assert target.http('GET', f'/volumes/{vid}/metadata/color') == \
        (200, {'meta': {'color': 'red'}})
    assert target.http('GET', f'/volumes/{vid}/metadata') == \
        (200, {'metadata': {'keep': 'me', 'color': 'red'}})
    status, body = target.http('PUT', f'/volumes/{vid}/metadata/color',
                               {'meta': {'other': 'x'}})
    assert (status, body['badRequest']['message']) == (400, 'Request body and URI mismatch')
    assert target.http('DELETE', f'/volumes/{vid}/metadata/color')[0] == 200
    assert target.http('GET', f'/volumes/{vid}/metadata/color') == (404, {'itemNotFound': {
        'code': 404, 'message': f'Volume {vid} has no metadata with key color.'}})
    assert target.volume(vid)['metadata'] == {'keep': 'me'}


# --- snapshots ----------------------------------------------------------------------------
def test_snapshot_list_detail_and_filters(target):
    first = target.available_volume()['id']
    second = target.available_volume()['id']
    snap_a = target.available_snapshot(first, 'snap-a')
    snap_b = target.available_snapshot(second, 'snap-b')
    status, body = target.http('GET', '/snapshots/detail')
    assert status == 200 and {snap_a, snap_b} <= {s['id'] for s in body['snapshots']}
    shown = next(s for s in body['snapshots'] if s['id'] == snap_a)
    assert (shown['volume_id'], shown['name'], shown['size'], shown['status']) == \
        (first, 'snap-a', 1, 'available')
    status, body = target.http('GET', f'/snapshots?volume_id={second}')
    assert [s['id'] for s in body['snapshots']] == [snap_b]
    status, body = target.http('GET', '/snapshots/detail?name=snap-a')
    assert [s['id'] for s in body['snapshots']] == [snap_a]


# --- create refusals ----------------------------------------------------------------------
def test_unknown_availability_zone_is_400(target):
    assert target.http('POST', '/volumes', {'volume': {
        'size': 1, 'availability_zone': 'no-such-zone'}}) == (400, {'badRequest': {
            'code': 400, 'message': "Availability zone 'no-such-zone' is invalid."}})


def test_zone_list_has_nova(target):
    status, body = target.http('GET', '/os-availability-zone')
    assert status == 200
    assert 'nova' in [z['zoneName'] for z in body['availabilityZoneInfo']]


def test_multiattach_in_the_create_body_is_400(target):
    status, body = target.http('POST', '/volumes', {'volume': {'size': 1,
                                                               'multiattach': True}})
    assert status == 400
    assert body['badRequest']['message'].startswith('multiattach parameter has been removed')


def test_clone_smaller_than_its_source_is_400(target):
    source = target.available_volume(2)['id']
    status, body = target.http('POST', '/volumes', {'volume': {'size': 1,
                                                               'source_volid': source}})
    assert status == 400, body


def test_default_volume_type(target):
    status, body = target.http('GET', '/types/default')
    assert status == 200, body
    default = body['volume_type']
    assert default['name'] == '__DEFAULT__'
    volume = target.available_volume()
    assert (volume['volume_type'], volume['volume_type_id']) == ('__DEFAULT__', default['id'])


# --- attachments API ------------------------------------------------------------------------
def _attach(target, volume_id, instance, version='3.44'):
    return target.http('POST', '/attachments', {'attachment': {
        'volume_uuid': volume_id, 'instance_uuid': instance}}, version=version)


def test_attachments_api_is_absent_below_3_27(target):
    vid = target.available_volume()['id']
    status, _body = _attach(target, vid, str(uuid.uuid4()), version='3.26')
    assert status == 404
    assert target.volume(vid)['status'] == 'available'


def test_same_instance_twice_on_a_single_attach_volume(target):
    vid = target.available_volume()['id']
    instance = str(uuid.uuid4())
    first = _attach(target, vid, instance)
    assert first[0] == 200, first
    again = _attach(target, vid, instance)
    assert again[0] == 200, again
    other = _attach(target, vid, str(uuid.uuid4()))
    assert other[0] == 400, other
    status, body = target.http('DELETE', f"/attachments/{again[1]['attachment']['id']}",
                               version='3.44')
    assert status == 200
    assert [a['id'] for a in body['attachments']] == [first[1]['attachment']['id']]


def test_update_of_an_attached_attachment_reconnects_it(target):
    vid = target.available_volume()['id']
    status, body = target.http('POST', '/attachments', {'attachment': {
        'volume_uuid': vid, 'instance_uuid': str(uuid.uuid4()), 'connector': CONNECTOR}},
        version='3.44')
    assert status == 200, body
    url = f"/attachments/{body['attachment']['id']}"
    assert target.http('POST', url + '/action', {'os-complete': None},
                       version='3.44')[0] == 204
    status, body = target.http('PUT', url, {'attachment': {'connector': CONNECTOR}},
                               version='3.44')
    assert (status, body['attachment']['status']) == (200, 'attached')
    assert target.http('GET', url, version='3.44')[1]['attachment']['status'] == 'attaching'
    assert target.volume(vid)['status'] == 'attaching'


# --- admin discovery -----------------------------------------------------------------------
def test_get_pools_names_a_pool(target):
    status, body = target.http('GET', '/scheduler-stats/get_pools')
    assert status == 200, body
    assert body['pools'] and all('#' in pool['name'] for pool in body['pools'])


def test_service_list_has_an_up_volume_service(target):
    status, body = target.http('GET', '/os-services')
    assert status == 200, body
    volume_services = [s for s in body['services'] if s['binary'] == 'cinder-volume']
    assert volume_services and all(s['state'] == 'up' and s['status'] == 'enabled'
                                   for s in volume_services)
