"""Inspection draws a flow from its stored factory arguments and the kind
table alone; the shape it draws must be the one TaskFlow runs."""

import subprocess
import sys

import pytest

from blockflow.inspect import graph
from blockflow.request import kinds
from flows import delete as delete_flows
from flows import instance as instance_flows

INSTANCE = '3f7c1d2e-0000-4000-8000-00000000abcd'


def _compiled_edges(flow):
    """Task → next tasks of TaskFlow's own compiled execution graph."""
    return graph.task_graph(flow)


def _devices(count):
    all_kinds = list(kinds.Kind)
    return [{'device_name': f'/dev/vd{chr(ord("a") + i % 26)}{i // 26 or ""}',
             'kind': str(all_kinds[i % len(all_kinds)])} for i in range(count)]


@pytest.mark.parametrize('count', [0, 1, len(kinds.Kind), 20])
def test_boot_shape_matches_the_compiled_flow(count):
    devices = _devices(count)
    flow = instance_flows.create_boot_flow(
        INSTANCE, devices, {}, {'type': 'env'}, 'test:///default', 'attachments',
        '/nonexistent', 'sqlite://')
    drawn = graph.factory_edges('flows.instance.create_boot_flow',
                                {'instance_uuid': INSTANCE, 'devices': devices})
    assert drawn == _compiled_edges(flow)


@pytest.mark.parametrize('devices', [
    [],
    [{'device_name': '/dev/vda', 'volume_id': 'v1', 'local_path': None}],
    [{'device_name': '/dev/vda', 'volume_id': None, 'local_path': '/i/disk'},
     {'device_name': '/dev/vdb', 'volume_id': 'v2', 'local_path': None}],
])
def test_delete_shape_matches_the_compiled_flow(devices):
    devices = [dict(d, key=d['device_name'], attach_api='attachments',
                    delete_on_termination=True, created_volume=False) for d in devices]
    flow = delete_flows.create_delete_flow(INSTANCE, devices, {'type': 'env'}, 'sqlite://',
                                           'test:///default', '/nonexistent')
    drawn = graph.factory_edges(delete_flows.FACTORY,
                                {'instance_uuid': INSTANCE, 'devices': devices})
    assert drawn == _compiled_edges(flow)


def test_unknown_factory_has_no_shape():
    assert graph.factory_edges('elsewhere.make_flow', {'devices': []}) is None


def test_inspection_imports_no_tasks_clients_or_libvirt():
    code = ('import sys; import blockflow.inspect.graph, blockflow.inspect.web; '
            'print(sorted(m for m in sys.modules if m.split(".")[0] in '
            '("tasks", "flows", "cinderclient", "libvirt", "os_brick", "glanceclient")))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == '[]'
