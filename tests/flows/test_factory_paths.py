"""Flows persisted before the folder moves name their factory by import path
(``flows.instance.create_boot_flow``, ``flows.delete.create_delete_flow``):
those paths must keep working, so a flow saved under them still resumes."""

import contextlib
import copy
import json
import pathlib
import uuid

from blockflow.clients import openstack as clients_module
from blockflow import persistence
from blockflow.runner import boot as boot_module
from blockflow.runner import engine as engine_module
from blockflow.runner import resume as resume_module
from flows import delete as delete_flows

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / 'examples'
# The import paths flows were persisted under before the moves; never change them.
PERSISTED_BOOT_FACTORY = 'flows.instance.create_boot_flow'
PERSISTED_DELETE_FACTORY = 'flows.delete.create_delete_flow'


def test_the_factory_paths_flows_are_saved_under_are_the_persisted_ones():
    assert boot_module.FACTORY == PERSISTED_BOOT_FACTORY
    assert delete_flows.FACTORY == PERSISTED_DELETE_FACTORY
    for path in (PERSISTED_BOOT_FACTORY, PERSISTED_DELETE_FACTORY):
        assert callable(engine_module.reflection_import(path))


def test_boot_flow_saved_under_the_old_factory_path_resumes(embedded_cloud, tmp_path):
    body = json.loads((EXAMPLES / 'all-kinds.json').read_text())
    bdms = [bdm for bdm in body['server']['block_device_mapping_v2']
            if bdm['source_type'] == 'blank']        # a blank volume and local disks
    next(b for b in bdms if b['destination_type'] == 'volume')['boot_index'] = 0
    body['server']['block_device_mapping_v2'] = bdms
    options = boot_module.BootOptions(
        instance_uuid=str(uuid.uuid4()), cloud_ref=clients_module.embedded_ref(embedded_cloud),
        connection=f'sqlite:///{tmp_path}/flows.sqlite',
        instances_path=str(tmp_path / 'instances'))
    plan = boot_module.plan_for(copy.deepcopy(body), options)
    factory_kwargs, meta = boot_module.factory_arguments(plan, options)
    backend = persistence.get_backend(options.connection)
    try:
        # Saved, never run: as a process that crashed right after saving leaves it.
        _flow, _book, flow_detail = engine_module.save_new_flow(
            backend, PERSISTED_BOOT_FACTORY, factory_kwargs, meta, claim=False)
        assert flow_detail.meta['factory']['name'] == PERSISTED_BOOT_FACTORY
        result = resume_module.resume_flow(backend, flow_detail.uuid)
    finally:
        with contextlib.suppress(Exception):
            backend.close()
    assert result.state == 'SUCCESS', result.to_dict()
    created = [v for v in embedded_cloud.store.list('volumes')
               if v['metadata'].get('blockflow_instance') == options.instance_uuid]
    assert len(created) == 1 and created[0]['status'] == 'in-use'
