"""A clean boot asks Cinder only what it must; a lost answer still finds by identity.

Counted by the embedded cloud (its per-operation counters), over HTTP. A
first attempt of a step that never ran makes no look-up list; the connector
goes into the attachment create, so no separate export; the volume's facts
come from the poll that saw it available, so no GET. An attachment create
whose answer is lost is followed by the look-up, which finds it: no
duplicate.
"""

import uuid

from blockflow.clients import openstack as clients_module
from blockflow.runner import boot as boot_module
from tests.fixtures.lossy_proxy import proxied_ref
from tests.fixtures.lossy_proxy import LossyProxy

DEVICES = 3


def _request(devices=DEVICES):
    return {'server': {
        'name': 'vm', 'flavorRef': '42', 'networks': 'none', 'imageRef': '',
        'block_device_mapping_v2': [
            {'source_type': 'blank', 'destination_type': 'volume', 'volume_size': 1,
             'boot_index': 0 if i == 0 else -1} for i in range(devices)]}}


def _options(cloud_ref, tmp_path):
    return boot_module.BootOptions(
        instance_uuid=str(uuid.uuid4()), cloud_ref=cloud_ref,
        connection=f'sqlite:///{tmp_path}/flows.sqlite',
        instances_path=str(tmp_path / 'instances'))


def _attachments(cloud, instance_uuid):
    return [a for a in cloud.store.list('attachments') if a['instance'] == instance_uuid]


def test_clean_boot_makes_no_lookup_export_or_get(embedded_cloud, tmp_path):
    options = _options(clients_module.embedded_ref(embedded_cloud), tmp_path)
    embedded_cloud.faults.reset_counters()
    _plan, outcome, _rows = boot_module.boot(_request(), options)
    assert outcome.ok, outcome.failure
    counters = embedded_cloud.faults.counters()
    assert counters.get('volume.create') == DEVICES
    assert counters.get('attachment.create') == DEVICES
    assert counters.get('attachment.complete') == DEVICES
    for op in ('attachment.list', 'attachment.update', 'volume.get'):
        assert counters.get(op, 0) == 0, (op, counters)
    attachments = _attachments(embedded_cloud, options.instance_uuid)
    assert len(attachments) == DEVICES
    assert all(a['connection_info'] for a in attachments)


def test_lost_attachment_answer_is_found_not_repeated(embedded_cloud, tmp_path, fast_retries):
    proxy = LossyProxy(embedded_cloud.url)
    try:
        options = _options(proxied_ref(embedded_cloud, proxy.url, tmp_path), tmp_path)
        embedded_cloud.faults.reset_counters()
        proxy.fail('attachment.create', 'lost', nth=1, times=1)
        _plan, outcome, _rows = boot_module.boot(_request(), options)
    finally:
        proxy.stop()
    assert outcome.ok, outcome.failure
    counters = embedded_cloud.faults.counters()
    # The lost attempt acted; the retry looked first and found it.
    assert counters.get('attachment.list', 0) >= 1
    assert counters.get('attachment.create') == DEVICES
    assert counters.get('attachment.update') == 1      # its export, asked separately
    assert len(_attachments(embedded_cloud, options.instance_uuid)) == DEVICES
