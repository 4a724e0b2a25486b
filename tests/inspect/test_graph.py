import contextlib

import pytest
from taskflow import engines
from taskflow.persistence import backends
from taskflow import states

from blockflow.inspect import graph
from tests.inspect import toyflows

PREFIX = '0f0e0d0c-0000-4000-8000-000000000001'


@pytest.fixture
def backend(tmp_path):
    be = backends.fetch({'connection': f'sqlite:///{tmp_path}/flows.sqlite'})
    with contextlib.closing(be.get_connection()) as conn:
        conn.upgrade()
    yield be
    be.close()


def _run(backend, fail_on=None):
    engine = engines.load_from_factory(
        toyflows.make_flow, factory_args=[PREFIX, ['vda', 'vdb'],
                                          ['create-volume', 'wait-available']],
        backend=backend, store={'fail_on': fail_on})
    with contextlib.suppress(RuntimeError):
        engine.run()
    return engine.storage.flow_uuid


def test_graph_of_failed_flow_colours_states_and_clusters_devices(backend, tmp_path):
    flow_id = _run(backend, fail_on=f'{PREFIX}-vdb-wait-available')
    with contextlib.closing(backend.get_connection()) as conn:
        dot = graph.flow_dot(conn, flow_id[:8], cluster_of=lambda n: graph.default_cluster_of(n, PREFIX))
        summary = graph.atom_summary(graph.find_flow_detail(conn, flow_id)[1])
    failed = summary[f'{PREFIX}-vdb-wait-available']
    # The failed task itself ends REVERTED but keeps its failure, masked.
    assert failed['state'] == states.REVERTED
    assert 'vdb-wait-available failed' in failed['failure']
    assert 'hunter2' not in failed['failure']
    # Revert-all: the other device's finished work was reverted too.
    assert summary[f'{PREFIX}-vda-create-volume']['state'] == states.REVERTED
    text = dot.to_string()
    assert 'cluster_vda' in text and 'cluster_vdb' in text
    assert graph.STATE_COLOURS[states.REVERTED] in text.split('cluster_legend')[0]
    assert f'"{PREFIX}-vda-create-volume" -> "{PREFIX}-vda-wait-available"' in text
    assert 'hunter2' not in text
    svg = tmp_path / 'flow.svg'
    assert graph.write(dot, svg) == 'svg'
    body = svg.read_text()
    assert body.lstrip().startswith('<?xml') and 'wait&#45;available' in body
    assert 'hunter2' not in body


def test_graph_of_successful_flow_and_bad_output_name(backend, tmp_path):
    flow_id = _run(backend)
    with contextlib.closing(backend.get_connection()) as conn:
        dot = graph.flow_dot(conn, flow_id)
    assert graph.STATE_COLOURS[states.FAILURE] not in dot.to_string().split('cluster_legend')[0]
    assert graph.write(dot, tmp_path / 'f.dot') == 'dot'
    with pytest.raises(ValueError, match='must end in one of'):
        graph.write(dot, tmp_path / 'f.gif')
    with pytest.raises(graph.FlowNotFound):
        graph.flow_dot(conn, 'ffffffff')


def test_report_and_listing_of_a_failed_flow(backend):
    from blockflow.inspect import report
    flow_id = _run(backend, fail_on=f'{PREFIX}-vdb-wait-available')
    with contextlib.closing(backend.get_connection()) as conn:
        _book, flow_detail = graph.find_flow_detail(conn, flow_id)
        flow_detail.meta['atom_prefix'] = PREFIX
        conn.update_flow_details(flow_detail)
        shown = report.flow_report(conn, flow_id)
        rows = report.list_flows(conn)
    assert set(shown['devices']) == {'vda', 'vdb'}
    steps = {row['step']: row for row in shown['devices']['vdb']}
    assert steps['wait-available']['failure'].endswith('vdb-wait-available failed: password=***')
    assert 'hunter2' not in str(shown)
    assert rows[0]['flow_id'] == flow_id and rows[0]['state'] == states.REVERTED
    assert rows[0]['devices_total'] == 2 and rows[0]['devices_done'] == 0


def test_web_view_serves_list_flow_page_json_and_svg(backend):
    import requests

    from blockflow.inspect import web
    flow_id = _run(backend, fail_on=f'{PREFIX}-vda-wait-available')
    server = web.InspectServer(backend).start()
    try:
        index = requests.get(server.url + '/', timeout=10)
        page = requests.get(f'{server.url}/flows/{flow_id}', timeout=10)
        api = requests.get(f'{server.url}/api/flows/{flow_id}', timeout=10).json()
        svg = requests.get(f'{server.url}/flows/{flow_id}/graph.svg', timeout=10)
        missing = requests.get(f'{server.url}/flows/ffffffff', timeout=10)
    finally:
        server.stop()
    assert index.status_code == 200 and flow_id in index.text
    assert page.status_code == 200 and '<svg' in page.text and 'id="tasks"' in page.text
    assert api['flow']['state'] == states.REVERTED
    assert svg.headers['Content-Type'].startswith('image/svg+xml')
    assert missing.status_code == 404
    for body in (index.text, page.text, str(api), svg.text):
        assert 'hunter2' not in body
