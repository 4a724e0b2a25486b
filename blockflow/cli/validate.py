"""``blockflow validate`` and ``blockflow plan``: Nova's verdict on a request.

Both read a ``POST /servers`` body from a file and run the same checks Nova's
compute API runs. ``validate`` prints the normalised block devices; ``plan``
prints, per device, the chain of steps blockflow would run to build it.
A request Nova would refuse exits 1 with Nova's error class, message and HTTP
status; an unusable file or option exits 2.
"""

import json
import logging
import sys

from blockflow.cli import base
from blockflow import exceptions
from blockflow.request import atom_names
from blockflow.request import kinds

LOG = logging.getLogger(__name__)

# Field order of the JSON device records (anything else follows, sorted).
_DEVICE_FIELDS = ('device_name', 'kind', 'source_type', 'destination_type',
                  'boot_index', 'boot_order', 'volume_size', 'disk_bus',
                  'device_type', 'guest_format')


class InternalError(exceptions.BlockflowError):
    """A check broke instead of answering; reported, never a traceback."""

    msg_fmt = 'internal error while checking the request: %(reason)s'
    http_status = 500


# --- input -------------------------------------------------------------------

def _read_error(path, exc):
    reason = exc.strerror or str(exc)
    return exceptions.UsageError(f'cannot read request file {path}: {reason}')


def load_request(path):
    """The JSON document in ``path``; UsageError naming what is wrong."""
    from blockflow.request.validation import request

    try:
        raw = request.read_request_body(path)
    except OSError as exc:
        raise _read_error(path, exc)
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise exceptions.UsageError(
            f'request file {path} is not UTF-8 text: byte '
            f'0x{raw[exc.start]:02x} at offset {exc.start}')
    if text.startswith('\ufeff'):
        text = text[1:]     # a BOM is an encoding mark, not content
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise exceptions.UsageError(
            f'request file {path} is not valid JSON: {exc.msg} at line '
            f'{exc.lineno} column {exc.colno}')
    except RecursionError:
        raise exceptions.UsageError(
            f'request file {path} is not usable JSON: nested too deeply')
    except ValueError as exc:       # e.g. integers past the digit limit
        raise exceptions.UsageError(
            f'request file {path} is not usable JSON: {exc}')


def _load_catalog(path):
    if path is None:
        return None
    from blockflow.request.validation import catalog

    try:
        return catalog.JsonCatalog.from_file(path)
    except RecursionError:
        raise exceptions.UsageError(
            f'catalog: {path} is not usable JSON: nested too deeply')


def _json_type(value):
    return {dict: 'an object', list: 'an array', str: 'a string',
            bool: 'a boolean', type(None): 'null', int: 'a number',
            float: 'a number'}.get(type(value), type(value).__name__)


SKIPPED_WITHOUT_CLOUD = ('flavor', 'image', 'volume', 'snapshot', 'backup', 'volume type',
                         'availability zone', 'image metadata')


def _validate(body, args, catalog, config=None):
    from blockflow import conf
    from blockflow.request.validation import pipeline
    return pipeline.validate(
        body, microversion=args.microversion, catalog=catalog,
        enable_backup_source=(args.enable_backup_source or
                              conf.CONF.blockflow.enable_backup_source),
        config=config)


def _with_config_file(catalog, args):
    """--config-file settings override a JSON catalog's defaults (not its own "config")."""
    from blockflow import conf
    from blockflow.request.validation import catalog as catalog_module
    own = {k: v for k, v in catalog.config().items()
           if catalog_module.DEFAULT_CONFIG.get(k) != v}
    catalog._config = dict(conf.validation_config(), **own)
    return catalog


def check_request(args):
    """Run Nova's checks on the request file; the Plan, or a BlockflowError."""
    body = load_request(args.request)
    catalog = _load_catalog(args.catalog)
    if not isinstance(body, dict):
        raise exceptions.RequestFormatError(
            reason=f'the request body must be a JSON object, '
                   f'not {_json_type(body)}')
    try:
        from blockflow import conf
        if catalog is not None:
            return _validate(body, args, _with_config_file(catalog, args))
        from blockflow.cli import cloudopts
        with cloudopts.selected(args, required=False) as ref:
            if ref is None:
                plan = _validate(body, args, None, conf.validation_config())
                args.skipped_checks = list(SKIPPED_WITHOUT_CLOUD)
                return plan
            from blockflow.runner import boot as boot_module
            options = boot_module.BootOptions(
                instance_uuid=PLANNED_INSTANCE, cloud_ref=ref,
                microversion=args.microversion,
                flavors=(_flavor_file(args.flavor_file) if args.flavor_file else None))
            clients = boot_module.prepare(options)
            return _validate(body, args, boot_module.catalog_for(clients, options))
    except exceptions.BlockflowError:
        raise
    except RecursionError:
        raise exceptions.RequestFormatError(
            reason='the request body is nested too deeply')
    except Exception as exc:
        # A check that crashes is a blockflow bug; say so in one line.
        LOG.debug('check crashed', exc_info=True)
        raise InternalError(reason=f'{type(exc).__name__}: {exc}')


def _flavor_file(path):
    from blockflow.clients.cloud_catalog import load_flavor_file
    return load_flavor_file(path)


# --- shaping the result --------------------------------------------------------

def _printable(value):
    """Text safe for any stdout: lone surrogates from JSON escaped."""
    if value is None or value == '':
        return '-'
    text = value if isinstance(value, str) else str(value)
    return text.encode('utf-8', 'backslashreplace').decode('utf-8')


def _kind_spec(device):
    return kinds.spec_of(device.get('kind'))


def device_record(device):
    """One device as JSON: the Nova BDM fields plus its kind."""
    record = {key: device.get(key) for key in _DEVICE_FIELDS}
    record['kind'] = None if device.get('kind') is None else str(device['kind'])
    for key in sorted(device):
        if key not in record:
            record[key] = device[key]
    return record


def plan_record(plan):
    return {'root_device_name': plan.root_device_name,
            'devices': [device_record(d) for d in plan.devices]}


def steps_of(device):
    spec = _kind_spec(device)
    return list(spec.steps) if spec else []


def _ids(device):
    parts = [f'{field}={device[field]}' for field in kinds.SOURCE_ID_FIELDS
             if device.get(field)]
    if device.get('volume_type'):
        parts.append(f'volume_type={device["volume_type"]}')
    if device.get('tag'):
        parts.append(f'tag={device["tag"]}')
    return ' '.join(parts)


def _size(device):
    size = device.get('volume_size')
    if size in (None, ''):
        return '-'
    # Nova sizes swap in MiB (flavor swap), every other device in GiB.
    unit = 'MiB' if str(device.get('kind')) == 'blank->local swap' else 'GiB'
    return f'{_printable(size)} {unit}'


COLUMNS = ('Device', 'Kind', 'Size', 'Boot Index', 'Bus', 'Type', 'IDs')


def _row(device):
    cells = (device.get('device_name'), device.get('kind'), _size(device),
             device.get('boot_index'), device.get('disk_bus'), device.get('device_type'),
             _ids(device))
    return tuple(_printable(cell) for cell in cells)


# --- commands ------------------------------------------------------------------

def _report_skipped(args, record=None):
    """Say which checks a run without cloud or catalog could not make."""
    skipped = getattr(args, 'skipped_checks', None)
    if not skipped:
        return
    if record is not None:
        record['skipped_checks'] = skipped
    if args.formatter != 'json' and not args.quiet:
        print('note: no cloud and no --catalog: the ' + ', '.join(skipped)
              + ' checks were skipped (give --os-cloud NAME, OS_* variables, --embedded '
                'or --catalog FILE)', file=sys.stderr)


class Validate(base.Lister):
    """Check a POST /servers body as Nova's API would; list the normalised block devices.

    A request Nova would refuse exits 1 with Nova's error class, message and
    HTTP status; an unusable file or option exits 2. ``-f json`` prints
    {"root_device_name", "devices": [...]} with every BDM field.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('request', metavar='REQUEST.json',
                            help='file with the POST /servers body ({"server": {...}})')
        base.add_microversion(parser)
        parser.add_argument('--catalog', metavar='FILE',
                            help='JSON catalog of flavors, images, volumes, snapshots, '
                                 'backups and volume types the checks consult')
        parser.add_argument('--enable-backup-source', action='store_true',
                            help='accept source_type "backup" (the seed\'s Nova fork; '
                                 'upstream Nova refuses it)')
        parser.add_argument('--flavor-file', metavar='FILE',
                            help='JSON flavors for a cloud without a Compute API')
        base.add_quiet(parser)
        from blockflow.cli import cloudopts
        cloudopts.add(parser)
        return parser

    def take_action(self, parsed_args):
        plan = check_request(parsed_args)
        self.document = plan_record(plan)
        _report_skipped(parsed_args, self.document)
        return COLUMNS, [_row(device) for device in plan.devices]


class Plan(Validate):
    """Check a request and list the steps each block device would run.

    ``-f json`` prints the validated devices, each with its "steps";
    ``--graph FILE`` also draws the flow the boot would run.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--graph', metavar='FILE',
                            help='also draw the flow the boot would run '
                                 '(FILE.svg, .png or .dot), every task pending')
        return parser

    def take_action(self, parsed_args):
        plan = check_request(parsed_args)
        if parsed_args.graph:
            _draw_plan(plan, parsed_args.graph)
        self.document = plan_record(plan)
        for entry, device in zip(self.document['devices'], plan.devices):
            entry['steps'] = steps_of(device)
        _report_skipped(parsed_args, self.document)
        return (('Device', 'Kind', 'Boot Index', 'Steps'),
                [(_printable(d.get('device_name')), _printable(d.get('kind')),
                  _printable(d.get('boot_index')), ' '.join(steps_of(d)))
                 for d in plan.devices])


PLANNED_INSTANCE = '00000000-0000-4000-8000-000000000000'


def _draw_plan(plan, path):
    """The boot flow the runner would load for this plan, drawn: all tasks pending."""
    from blockflow.runner import boot
    from blockflow.inspect import graph
    options = boot.BootOptions(instance_uuid=PLANNED_INSTANCE, cloud_ref={'type': 'env'},
                               connection='sqlite://', instances_path='/nonexistent')
    factory_kwargs, _meta = boot.factory_arguments(plan, options)
    dot = graph.build_dot(
        graph.factory_edges(boot.FACTORY, factory_kwargs), {},
        f'plan: {len(plan.devices)} devices',
        lambda name: graph.default_cluster_of(name, PLANNED_INSTANCE),
        {atom_names.device_key(d): f"{d['device_name']} ({d['kind']})"
         for d in plan.devices})
    try:
        graph.write(dot, path)
    except ValueError as exc:
        raise exceptions.UsageError(f'--graph: {exc}')
    except OSError as exc:
        raise exceptions.UsageError(f'--graph: cannot write {path}: {exc}')
