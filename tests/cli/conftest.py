"""A persistence backend with one finished flow and its device records."""

import uuid

import pytest

INSTANCE = '0b1ec7f1-0000-4000-8000-00000000c11f'


@pytest.fixture
def flow_db(tmp_path):
    from taskflow.persistence import models

    from blockflow import persistence
    from blockflow.persistence import records
    url = f'sqlite:///{tmp_path}/flows.sqlite'
    backend = persistence.get_backend(url)
    try:
        conn = backend.get_connection()
        conn.upgrade()
        book = models.LogBook('cli')
        flow = models.FlowDetail(f'boot-{INSTANCE}', str(uuid.uuid4()))
        flow.meta = {'instance_uuid': INSTANCE, 'request_id': 'req-cli'}
        flow.state = 'SUCCESS'
        for step in ('create-volume', 'wait-available', 'reserve', 'os-attach'):
            atom = models.TaskDetail(f'{INSTANCE}-vdb-{step}', str(uuid.uuid4()))
            atom.state = 'SUCCESS'
            flow.add(atom)
        book.add(flow)
        conn.save_logbook(book)
        conn.close()
    finally:
        backend.close()
    records.Records(persistence.resolve_url(url)).upsert(
        INSTANCE, {'device_name': '/dev/vdb', 'source_type': 'blank',
                   'destination_type': 'volume', 'volume_size': 1},
        volume_id='11111111-2222-4333-8444-555555555555',
        connection_info={'driver_volume_type': 'local', 'data': {'auth_password': 'sekrit'}})
    return {'url': url, 'flow_id': flow.uuid, 'instance': INSTANCE, 'tmp': tmp_path}
