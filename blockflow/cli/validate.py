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

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from blockflow import exceptions
from blockflow import kinds
from blockflow.cli import cloudopts
from blockflow.cli import output

LOG = logging.getLogger(__name__)

# Fields that hold the id of the device's source (or of the volume itself).
_ID_FIELDS = ('image_id', 'snapshot_id', 'volume_id', 'backup_id')
# Field order of the JSON device records (anything else follows, sorted).
_DEVICE_FIELDS = ('device_name', 'kind', 'source_type', 'destination_type',
                  'boot_index', 'boot_order', 'volume_size', 'disk_bus',
                  'device_type', 'guest_format')


class InternalError(exceptions.BlockflowError):
    """A check broke instead of answering; reported, never a traceback."""

    msg_fmt = 'internal error while checking the request: %(reason)s'
    http_status = 500


def register(subparsers):
    for name, handler, summary in (
            ('validate', validate_command,
             "check a POST /servers body as Nova's API would; print the "
             'normalised block devices'),
            ('plan', plan_command,
             'check a request and show the steps each block device runs')):
        parser = subparsers.add_parser(name, help=summary, description=summary)
        parser.add_argument('request', metavar='REQUEST.json',
                            help='file with the POST /servers body '
                                 '({"server": {...}})')
        parser.add_argument('--microversion', metavar='X.Y',
                            help='compute API microversion of the request')
        parser.add_argument('--catalog', metavar='FILE',
                            help='JSON catalog of flavors, images, volumes, '
                                 'snapshots, backups and volume types the '
                                 'checks consult')
        parser.add_argument('--enable-backup-source', action='store_true',
                            help='accept source_type "backup" (the seed\'s '
                                 'Nova fork; upstream Nova refuses it)')
        parser.add_argument('-f', '--format', choices=('table', 'json'),
                            default='table', help='output format')
        parser.add_argument('--flavor-file', metavar='FILE',
                            help='JSON flavors for a cloud without a Compute API')
        cloudopts.add(parser)
        if name == 'plan':
            parser.add_argument('--graph', metavar='FILE',
                                help='also draw the flow the boot would run '
                                     '(FILE.svg, .png or .dot), every task pending')
        parser.set_defaults(func=handler)


# --- input -------------------------------------------------------------------

def _read_error(path, exc):
    reason = exc.strerror or str(exc)
    return exceptions.UsageError(f'cannot read request file {path}: {reason}')


def load_request(path):
    """The JSON document in ``path``; UsageError naming what is wrong."""
    from blockflow.validation import request

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
    from blockflow.validation import catalog

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
    from blockflow.validation import pipeline
    return pipeline.validate(
        body, microversion=args.microversion, catalog=catalog,
        enable_backup_source=(args.enable_backup_source or
                              conf.CONF.blockflow.enable_backup_source),
        config=config)


def _with_config_file(catalog, args):
    """--config-file settings override a JSON catalog's defaults (not its own "config")."""
    from blockflow import conf
    from blockflow.validation import catalog as catalog_module
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
        with cloudopts.selected(args, required=False) as ref:
            if ref is None:
                plan = _validate(body, args, None, conf.validation_config())
                args.skipped_checks = list(SKIPPED_WITHOUT_CLOUD)
                return plan
            from blockflow import boot as boot_module
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
    from blockflow.cloud_catalog import load_flavor_file
    return load_flavor_file(path)


# --- shaping the result --------------------------------------------------------

def _printable(value):
    """Text safe for any stdout: lone surrogates from JSON escaped."""
    if value is None or value == '':
        return '-'
    text = value if isinstance(value, str) else str(value)
    return text.encode('utf-8', 'backslashreplace').decode('utf-8')


def _kind_spec(device):
    try:
        return kinds.KINDS[kinds.Kind(str(device.get('kind')))]
    except (ValueError, KeyError):
        return None


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
    parts = [f'{field}={device[field]}' for field in _ID_FIELDS
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
    unit = 'MiB' if str(device.get('kind')) == str(kinds.Kind.SWAP) else 'GiB'
    return f'{_printable(size)} {unit}'


def _console():
    # Piped output gets no colour and no width limit, so ids stay whole.
    if sys.stdout.isatty():
        return Console(file=sys.stdout)
    return Console(file=sys.stdout, width=1000, no_color=True,
                   highlight=False)


# Beyond this many rows rich's layout costs seconds; plain columns cost nothing.
RICH_TABLE_MAX_ROWS = 200
_TABLE_HEADERS = ('device', 'kind', 'source→dest', 'size', 'boot index',
                  'bus', 'type', 'ids')


def _table_rows(plan):
    for device in plan.devices:
        route = (f'{_printable(device.get("source_type"))}→'
                 f'{_printable(device.get("destination_type"))}')
        cells = (device.get('device_name'), device.get('kind'), route,
                 _size(device), device.get('boot_index'),
                 device.get('disk_bus'), device.get('device_type'),
                 _ids(device))
        yield [_printable(cell) for cell in cells]


def _print_plain_table(plan, rows):
    widths = [max(len(header), *(len(row[i]) for row in rows))
              for i, header in enumerate(_TABLE_HEADERS)]
    lines = [f'root device: {_printable(plan.root_device_name)}',
             '  '.join(h.ljust(w) for h, w in zip(_TABLE_HEADERS, widths)).rstrip(),
             '  '.join('-' * w for w in widths)]
    lines.extend('  '.join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
                 for row in rows)
    sys.stdout.write('\n'.join(lines) + '\n')


def print_devices_table(plan):
    rows = list(_table_rows(plan))
    if len(rows) > RICH_TABLE_MAX_ROWS:
        _print_plain_table(plan, rows)
        return
    table = Table(box=box.SIMPLE)
    for header in _TABLE_HEADERS:
        table.add_column(header, no_wrap=header != 'ids')
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    console = _console()
    console.print(Text(f'root device: {_printable(plan.root_device_name)}'))
    console.print(table)


def _device_label(device):
    label = (f'{_printable(device.get("device_name"))}  '
             f'{_printable(device.get("kind"))}')
    if device.get('boot_index') not in (None, -1, '-1'):
        label += f'  boot_index={_printable(device.get("boot_index"))}'
    details = [f'{field}={_printable(device.get(field))}'
               for field in ('disk_bus', 'device_type') if device.get(field)]
    ids = _ids(device)
    if ids:
        details.append(_printable(ids))
    return label + ('  (' + ', '.join(details) + ')' if details else '')


def print_plan_tree(plan, console=None):
    """The plan as a rich tree (terminals) or indented text (pipes, files)."""
    root_label = f'server  root device {_printable(plan.root_device_name)}'
    if console is None and not sys.stdout.isatty():
        lines = [root_label]
        for device in plan.devices:
            lines.append('  ' + _device_label(device))
            for number, step in enumerate(steps_of(device), 1):
                lines.append(f'    {number}. {step}')
        print('\n'.join(lines))
        return
    tree = Tree(Text(root_label))
    for device in plan.devices:
        branch = tree.add(Text(_device_label(device)))
        for number, step in enumerate(steps_of(device), 1):
            branch.add(Text(f'{number}. {step}'))
    (console or _console()).print(tree)


# --- commands ------------------------------------------------------------------

def _report_skipped(args, record=None):
    """Say which checks a run without cloud or catalog could not make."""
    skipped = getattr(args, 'skipped_checks', None)
    if not skipped:
        return
    if record is not None:
        record['skipped_checks'] = skipped
    else:
        print('note: no cloud and no --catalog: the ' + ', '.join(skipped)
              + ' checks were skipped (give --os-cloud NAME, OS_* variables, --embedded '
                'or --catalog FILE)', file=sys.stderr)


def validate_command(args):
    plan = check_request(args)
    if args.format == 'json':
        record = plan_record(plan)
        _report_skipped(args, record)
        output.print_json(record)
    else:
        print_devices_table(plan)
        _report_skipped(args)
    return 0


PLANNED_INSTANCE = '00000000-0000-4000-8000-000000000000'


def _draw_plan(plan, path):
    """The boot flow of this plan, built (not run) and drawn: all tasks pending."""
    from blockflow.inspect import graph
    from flows import instance
    flow = instance.create_boot_flow(
        PLANNED_INSTANCE, plan.devices, {}, {'type': 'env'}, 'test:///default',
        'attachments', '/nonexistent', 'sqlite://')
    dot = graph.build_dot(
        graph.task_graph(flow), {}, f'plan: {len(plan.devices)} devices',
        lambda name: graph.default_cluster_of(name, PLANNED_INSTANCE),
        {d['device_name'].replace('/dev/', ''): f"{d['device_name']} ({d['kind']})"
         for d in plan.devices})
    try:
        graph.write(dot, path)
    except ValueError as exc:
        raise exceptions.UsageError(f'--graph: {exc}')
    except OSError as exc:
        raise exceptions.UsageError(f'--graph: cannot write {path}: {exc}')


def plan_command(args):
    plan = check_request(args)
    if args.graph:
        _draw_plan(plan, args.graph)
    if args.format == 'json':
        record = plan_record(plan)
        for entry, device in zip(record['devices'], plan.devices):
            entry['steps'] = steps_of(device)
        _report_skipped(args, record)
        output.print_json(record)
    else:
        print_plan_tree(plan)
        _report_skipped(args)
    return 0
