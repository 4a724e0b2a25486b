"""Boot as a library call: validate against the cloud, build the flow, run it.

TaskFlow, SQLAlchemy and the flow's modules are imported while the cloud
checks wait for their answers (``prepare``), not before them.
"""

import concurrent.futures
import dataclasses
import importlib

from blockflow.clients import hypervisor
from blockflow.clients import openstack as clients_module

FACTORY = 'flows.instance.create_boot_flow'
# What running a boot needs beyond the checks: imported during them.
FLOW_MODULES = ('blockflow.runner.engine', 'blockflow.persistence.records',
                'blockflow.clients.localdisk',
                FACTORY.rpartition('.')[0])


@dataclasses.dataclass
class BootOptions:
    instance_uuid: str
    cloud_ref: dict
    connection: str | None = None
    libvirt_uri: str = 'test:///default'
    attach_api: str = 'attachments'
    instances_path: str | None = None
    keep_on_failure: bool = False
    start: bool = False
    microversion: str | None = None
    enable_backup_source: bool = False
    # Nova's deployment settings for the checks (validation.catalog.DEFAULT_CONFIG
    # keys); None: from the loaded oslo.config files.
    config: dict | None = None
    # Flavors for a cloud without a Compute API ({id: {...}}); None: [cloud] flavor_file.
    flavors: dict | None = None
    # The boot's global request id (req-<uuid>); made by prepare() if None.
    request_id: str | None = None
    # The checked clients prepare() returned (not persisted).
    clients: object = None


def prepare(options):
    """Fail fast: log in, find Cinder, agree on a microversion — before anything is made.

    Fixes the boot's request id and records the negotiated microversion in its
    cloud reference (both travel with the flow, so a resume continues alike).
    """
    from blockflow.clients.cloud_catalog import check_cloud
    hypervisor.warm_up(options.libvirt_uri)
    options.request_id = options.request_id or clients_module.new_request_id()
    ref = dict(options.cloud_ref, request_id=options.request_id)
    ref.pop('volume_api_version', None)
    clients = clients_module.Clients(ref)
    # cinderclient's v3 modules: imported here, not by the check beside the imports below.
    importlib.import_module('cinderclient.v3.client')
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix='blockflow-check') as pool:
        checked = pool.submit(check_cloud, clients, options.attach_api)
        for module in FLOW_MODULES:
            importlib.import_module(module)
        ref['volume_api_version'] = checked.result()
    options.cloud_ref = ref
    options.clients = clients_module.Clients(ref)
    return options.clients


def catalog_for(clients, options):
    from blockflow import conf
    from blockflow.clients.cloud_catalog import CloudCatalog, load_flavor_file
    config = options.config if options.config is not None else conf.validation_config()
    flavors = options.flavors
    if flavors is None and conf.CONF.cloud.flavor_file:
        flavors = load_flavor_file(conf.CONF.cloud.flavor_file)
    return CloudCatalog(clients, flavors=flavors, config=config)


def plan_for(body, options):
    from blockflow.request.validation import pipeline
    clients = options.clients or prepare(options)
    return pipeline.validate(body, options.microversion, catalog_for(clients, options),
                             options.enable_backup_source)


def factory_arguments(plan, options):
    """The boot flow factory's JSON arguments and the flow detail's meta."""
    from blockflow.clients import localdisk
    from blockflow import persistence
    factory_kwargs = {
        'instance_uuid': options.instance_uuid, 'devices': plan.devices,
        'flavor': {k: (plan.flavor or {}).get(k) for k in ('memory_mb', 'vcpus')},
        'cloud_ref': options.cloud_ref, 'libvirt_uri': options.libvirt_uri,
        'attach_api': options.attach_api,
        'instances_path': options.instances_path or localdisk.default_instances_path(),
        'records_url': persistence.resolve_url(options.connection),
        'start': options.start}
    meta = {'instance_uuid': options.instance_uuid, 'atom_prefix': options.instance_uuid,
            'non_device_groups': ['domain'], 'request_id': options.request_id,
            'cloud': options.cloud_ref}
    return factory_kwargs, meta


def load(body, options, backend, notifier=None):
    from blockflow.runner import engine as engine_module
    from blockflow import persistence
    from blockflow.persistence import records
    plan = plan_for(body, options)
    if hasattr(notifier, 'set_plan'):
        notifier.set_plan(plan)
    factory_kwargs, meta = factory_arguments(plan, options)
    records.Records(persistence.resolve_url(options.connection)).save_instance(
        options.instance_uuid, options.cloud_ref, options.request_id)
    return plan, engine_module.load_boot(backend, FACTORY, factory_kwargs, meta,
                                         keep_on_failure=options.keep_on_failure,
                                         notifier=notifier)


def boot(body, options, notifier=None):
    """Run a whole boot; returns (plan, outcome, device records)."""
    from blockflow.runner import engine as engine_module
    from blockflow import persistence
    from blockflow.persistence import records
    backend = persistence.get_backend(options.connection)
    try:
        plan, engine = load(body, options, backend, notifier)
        outcome = engine_module.run(engine)
    finally:
        backend.close()
    rows = records.Records(persistence.resolve_url(options.connection)).for_instance(
        options.instance_uuid)
    return plan, outcome, rows
