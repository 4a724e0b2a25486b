"""`blockflow delete`: run (or resume) the instance's persisted delete flow.

The release sequence itself lives in flows/delete.py and the tasks it is
built from, which call the same undo functions as the boot's reverts. This
module finds the records, resumes an unfinished delete of the same instance
if there is one (a crashed ``blockflow delete``), else saves a new one, runs
it and reports.
"""

import contextlib

from blockflow.clients import localdisk
from blockflow import exceptions
from blockflow.clients import hypervisor
from blockflow import persistence
from blockflow.persistence import records as records_module
from blockflow.request import atom_names
from blockflow.runner import engine as engine_module
from flows import delete as delete_flows

DELETE_KIND = 'delete'


class TeardownErrors(exceptions.BlockflowError):
    msg_fmt = 'teardown left %(count)d problem(s): %(details)s'
    http_status = 500


def _unfinished_delete(backend, instance_uuid):
    for book, flow_detail in engine_module.unfinished(backend):
        meta = flow_detail.meta or {}
        if meta.get('kind') == DELETE_KIND and meta.get('instance_uuid') == instance_uuid:
            return book, flow_detail
    return None


def _done_lines(engine, instance_uuid):
    """What each step did, device by device in step order, then the instance's."""
    order = {step: i for i, step in enumerate(delete_flows.DEVICE_STEPS
                                              + delete_flows.INSTANCE_STEPS)}

    def key(atom_name):
        _uuid, group, step = atom_names.parse(atom_name, instance_uuid)
        return (group == delete_flows.INSTANCE_GROUP, group, order.get(step, len(order)))
    # Private: Storage has no public iterator over its atom details' results
    # in flow order (checked against TaskFlow 6.5.0; tests/test_private_api.py).
    atoms = [ad for ad in engine.storage._flowdetail if ad.name.startswith(instance_uuid)]
    return [ad.results for ad in sorted(atoms, key=lambda ad: key(ad.name))
            if isinstance(ad.results, str)]


def teardown(instance_uuid, cloud_ref, records_url, libvirt_uri=None, instances_path=None):
    """Delete the instance's devices; returns what was done, one line per step.

    Raises UsageError when nothing is recorded for the instance, and
    TeardownErrors (the flow kept, ``blockflow delete`` again resumes it)
    when a step still failed after its retries."""
    records_url = persistence.resolve_url(records_url)
    rows = records_module.Records(records_url).for_instance(instance_uuid)
    leftovers = records_module.Leftovers(records_url).open_for(instance_uuid)
    if rows or leftovers:
        hypervisor.warm_up(libvirt_uri)
    backend = persistence.get_backend(records_url)
    try:
        pending = _unfinished_delete(backend, instance_uuid)
        if pending:
            book, flow_detail = pending
            engine = engine_module.load_existing(backend, flow_detail, book,
                                                 keep_on_failure=True)
        else:
            if not rows and not leftovers:
                raise exceptions.UsageError(
                    f'no recorded devices for instance {instance_uuid}')
            factory_kwargs = delete_flows.delete_arguments(
                instance_uuid, rows, cloud_ref, records_url, libvirt_uri or 'test:///default',
                instances_path or localdisk.default_instances_path())
            meta = {'instance_uuid': instance_uuid, 'atom_prefix': instance_uuid,
                    'kind': DELETE_KIND, 'non_device_groups': [delete_flows.INSTANCE_GROUP]}
            engine = engine_module.load_boot(backend, delete_flows.FACTORY, factory_kwargs,
                                             meta, keep_on_failure=True)
        outcome = engine_module.run(engine)
        done = _done_lines(engine, instance_uuid)
    finally:
        with contextlib.suppress(Exception):
            backend.close()
    if not outcome.ok:
        problems = [outcome.failure or outcome.state] + [
            records_module.describe_leftover(row)
            for row in records_module.Leftovers(records_url).open_for(instance_uuid)]
        raise TeardownErrors(count=len(problems), details='; '.join(problems))
    return done
