"""No input of any shape makes the validation pipeline fail with anything but
a BlockflowError (a clean, classified verdict)."""

import json

from hypothesis import given, settings, HealthCheck
from hypothesis import strategies as st

from blockflow import exceptions
from blockflow.request.validation import pipeline
from tests.validation.test_rules import catalog_data
from blockflow.request.validation.catalog import JsonCatalog

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=30), st.sampled_from(
                        ['0', '-1', '1', 'volume', 'blank', 'image', 'snapshot', 'local',
                         'swap', 'vda', '/dev/vdb', 'yes', 'virtio', 'cdrom',
                         'ac408821-c95a-448f-9292-73986c790911']))
JSONISH = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=25)
BDM_KEYS = st.sampled_from(['source_type', 'destination_type', 'uuid', 'boot_index',
                            'volume_size', 'device_name', 'guest_format', 'disk_bus',
                            'device_type', 'delete_on_termination', 'tag', 'volume_type',
                            'no_device', 'image_id'])
BDM = st.dictionaries(BDM_KEYS, SCALARS, max_size=8)
SERVER = st.fixed_dictionaries(
    {'name': st.just('vm'), 'flavorRef': st.sampled_from(['42', '1', 'x', 5]),
     'networks': st.just('none')},
    optional={'imageRef': st.sampled_from(['', 'ac408821-c95a-448f-9292-73986c790911', 7]),
              'block_device_mapping_v2': st.lists(BDM, max_size=6),
              'min_count': SCALARS, 'max_count': SCALARS})
CATALOG = JsonCatalog(catalog_data())


def _check(body, version, catalog):
    try:
        pipeline.validate(body, version, catalog)
    except exceptions.BlockflowError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=JSONISH, version=st.sampled_from([None, '2.1', '2.42', '2.67', 'x', '3.0']))
def test_arbitrary_json_never_escapes(body, version):
    _check(body, version, None)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(server=SERVER, version=st.sampled_from(['2.1', '2.37', '2.60', '2.67', None]),
       with_catalog=st.booleans())
def test_plausible_requests_never_escape(server, version, with_catalog):
    _check({'server': server}, version, CATALOG if with_catalog else None)


def test_deep_nesting_and_huge_lists_are_clean_errors():
    deep = current = {}
    for _ in range(5000):
        current['server'] = {}
        current = current['server']
    _check(deep, None, None)
    _check({'server': {'name': 'vm', 'flavorRef': '1', 'networks': 'none',
                       'block_device_mapping_v2': [{}] * 100000}}, None, CATALOG)


IMAGE_ENTRY = st.dictionaries(st.sampled_from(
    ['source_type', 'destination_type', 'snapshot_id', 'volume_id', 'image_id',
     'boot_index', 'device_name', 'volume_size', 'virtual_name', 'no_device',
     'disk_bus', 'device_type', 'guest_format', 'virtual', 'device']), SCALARS, max_size=6)
IMAGE_PROPERTIES = st.fixed_dictionaries({}, optional={
    'bdm_v2': SCALARS,
    'block_device_mapping': st.one_of(st.lists(IMAGE_ENTRY, max_size=4), JSONISH,
                                      st.lists(IMAGE_ENTRY, max_size=4).map(json.dumps)),
    'mappings': st.one_of(st.lists(IMAGE_ENTRY, max_size=4), JSONISH),
    'root_device_name': SCALARS,
    'hw_disk_bus': SCALARS,
    'cinder_encryption_key_id': SCALARS})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(properties=IMAGE_PROPERTIES, server=SERVER, glance_shape=st.booleans())
def test_any_image_properties_never_escape(properties, server, glance_shape):
    data = catalog_data()
    image = data['images']['ac408821-c95a-448f-9292-73986c790911']
    if glance_shape:
        image.pop('properties')
        image.update(properties)
    else:
        image['properties'] = properties
    server = dict(server, imageRef='ac408821-c95a-448f-9292-73986c790911')
    _check({'server': server}, '2.67', JsonCatalog(data))
