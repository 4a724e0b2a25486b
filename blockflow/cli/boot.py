"""`blockflow boot | resume | devices`: prepare an instance's block devices."""

import contextlib
import functools
import sys
import uuid

from blockflow import boot as boot_module
from blockflow import clients as clients_module
from blockflow import cloudconfig
from blockflow import engine as engine_module
from blockflow import exceptions
from blockflow import persistence
from blockflow import records
from blockflow.cli import cloudopts
from blockflow.cli import output
from blockflow.cli.progress import BootProgress
from blockflow.cli import validate as validate_cli
from blockflow.inspect import report


def _records_url(connection):
    return persistence.resolve_url(connection)


def _device_rows(instance_uuid, connection):
    return records.Records(_records_url(connection)).for_instance(instance_uuid)


def _print_devices(rows, fmt):
    if fmt == 'json':
        output.print_json({'devices': rows})
        return
    print(f'{"DEVICE":10} {"SOURCE→DEST":18} {"VOLUME":36}  {"CONNECTION":10} LOCAL FILE')
    for row in rows:
        conn_type = (row.get('connection_info') or {}).get('driver_volume_type') or '-'
        print(f'{row["device_name"]:10} {row["source_type"] + "→" + row["destination_type"]:18} '
              f'{row["volume_id"] or "-":36}  {conn_type:10} {row["local_path"] or "-"}')


def _summarise_failure(backend, flow_id):
    with contextlib.closing(backend.get_connection()) as conn:
        shown = report.flow_report(conn, flow_id)
    failed, undone = [], []
    for device, rows in shown['devices'].items():
        for row in rows:
            if row['failure']:
                failed.append(f'{device} {row["step"]}: {row["failure"]}')
            if row['state'] == 'REVERTED' and not row['failure']:
                undone.append(f'{device} {row["step"]}')
    return failed, undone, [leftover['line'] for leftover in shown.get('leftovers', [])]


def _boot_options(args, instance_uuid, cloud_ref):
    return boot_module.BootOptions(
        instance_uuid=instance_uuid, cloud_ref=cloud_ref, connection=args.connection,
        libvirt_uri=args.libvirt_uri, attach_api=args.attach_api,
        instances_path=args.instances_path, keep_on_failure=args.keep_on_failure,
        start=args.start, microversion=args.microversion,
        enable_backup_source=args.enable_backup_source,
        flavors=(cloud_catalog_flavors(args.flavor_file) if args.flavor_file else None))


def cloud_catalog_flavors(path):
    from blockflow.cloud_catalog import load_flavor_file
    return load_flavor_file(path)


def boot_command(args):
    body = validate_cli.load_request(args.request)
    instance_uuid = args.instance_uuid or str(uuid.uuid4())
    if not _is_uuid(instance_uuid):
        raise exceptions.UsageError('--instance-uuid: not a UUID')
    if args.submit:
        return _submit(args, body, instance_uuid)
    with cloudopts.selected(args) as cloud_ref:
        options = _boot_options(args, instance_uuid, cloud_ref)
        boot_module.prepare(options)        # fails fast, in one line
        if args.format != 'json' and not args.quiet:
            print(f'booting instance {instance_uuid} [request {options.request_id}]',
                  file=sys.stderr)
        progress = BootProgress(instance_uuid, quiet=args.quiet or args.format == 'json')
        try:
            _plan, outcome, rows = boot_module.boot(body, options, notifier=progress)
        except exceptions.BlockflowError as exc:
            if options.request_id and options.request_id not in exc.message:
                exc.message = f'{exc.message} [request {options.request_id}]'
                exc.args = (exc.message,)
            raise
        finally:
            progress.close()
    result = {'instance_uuid': instance_uuid, 'flow_id': outcome.flow_id,
              'state': outcome.state, 'devices': rows, 'request_id': options.request_id}
    if not outcome.ok:
        backend = persistence.get_backend(args.connection)
        try:
            failed, undone, left = _summarise_failure(backend, outcome.flow_id)
        finally:
            backend.close()
        result.update(failed=failed, undone=undone, error=outcome.failure, leftovers=left)
    if args.format == 'json':
        output.print_json(result)
    else:
        if outcome.ok:
            _print_devices(rows, 'table')
        else:
            print(f'boot failed ({outcome.state}): {outcome.failure} '
                  f'[request {options.request_id}]', file=sys.stderr)
            for line in result['failed']:
                print(f'  failed: {line}', file=sys.stderr)
            action = 'kept for inspection' if args.keep_on_failure else 'undone'
            for line in result['undone']:
                print(f'  {action}: {line}', file=sys.stderr)
            for line in result['leftovers']:
                print(f'  left behind: {line}', file=sys.stderr)
        print(f'flow {outcome.flow_id}: {outcome.state}')
    return 0 if outcome.ok else 1


def _submit(args, body, instance_uuid):
    """Validate here, then post the boot for a conductor to run."""
    from blockflow import jobboard
    if not args.jobboard:
        raise exceptions.UsageError('--submit needs --jobboard URL')
    if args.embedded and not cloudopts.served_elsewhere(args.embedded):
        raise exceptions.UsageError(
            f'--submit --embedded {args.embedded}: conductors must reach the cloud; serve it '
            f'first (blockflow cloud serve --name {args.embedded})')
    with cloudopts.selected(args) as cloud_ref:
        options = _boot_options(args, instance_uuid, cloud_ref)
        plan = boot_module.plan_for(body, options)
    records.Records(_records_url(args.connection)).save_instance(
        instance_uuid, options.cloud_ref, options.request_id)
    factory_kwargs, meta = boot_module.factory_arguments(plan, options)
    backend = persistence.get_backend(args.connection)
    board = jobboard.get_jobboard(args.jobboard, backend)
    try:
        job_id = jobboard.post_boot(board, backend, boot_module.FACTORY, factory_kwargs, meta)
    finally:
        board.close()
        backend.close()
    if args.format == 'json':
        output.print_json({'job_id': job_id, 'instance_uuid': instance_uuid,
                           'request_id': options.request_id})
    else:
        print(f'job {job_id} posted for instance {instance_uuid} '
              f'[request {options.request_id}]')
    return 0


def _is_uuid(text):
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False


def devices_command(args):
    rows = _device_rows(args.instance_uuid, args.connection)
    if args.format == 'json':
        boot = records.Records(_records_url(args.connection)).instance(args.instance_uuid)
        output.print_json({'devices': rows,
                           'cloud': boot['cloud_ref'] if boot else None,
                           'request_id': boot['request_id'] if boot else None})
        return 0
    _print_devices(rows, args.format)
    return 0


def _override(args):
    """Explicit cloud options on resume/delete win over the persisted reference."""
    if not cloudopts.explicit(args):
        return contextlib.nullcontext(None)
    return cloudopts.selected(args)


def _reachable(ref, request_id):
    """One line, within seconds, if the boot's cloud cannot be used now."""
    from blockflow.cloud_catalog import check_cloud
    clients = clients_module.Clients(dict(ref, request_id=request_id))
    check_cloud(clients, attach_api='legacy')


def delete_command(args):
    from blockflow import teardown
    boot = records.Records(_records_url(args.connection)).instance(args.instance_uuid)
    with _override(args) as explicit_ref:
        ref = explicit_ref or (boot or {}).get('cloud_ref')
        if ref is None:
            if not _device_rows(args.instance_uuid, args.connection):
                raise exceptions.UsageError(
                    f'no recorded devices for instance {args.instance_uuid}')
            raise exceptions.UsageError(
                f'instance {args.instance_uuid}: no cloud recorded for its boot; '
                'give --os-cloud NAME or other cloud options')
        request_id = clients_module.new_request_id()
        with cloudopts.serving(ref, args.latency_profile):
            try:
                _reachable(ref, request_id)
                done = teardown.teardown(args.instance_uuid,
                                         dict(ref, request_id=request_id),
                                         _records_url(args.connection), args.libvirt_uri)
            except exceptions.BlockflowError as exc:
                exc.message = f'{exc.message} [request {request_id}]' \
                    if request_id not in exc.message else exc.message
                raise
    if args.format == 'json':
        output.print_json({'instance_uuid': args.instance_uuid, 'done': done,
                           'request_id': request_id})
    else:
        for line in done:
            print(f'  {line}')
        print(f'instance {args.instance_uuid}: devices removed')
    return 0


def flow_cloud(flow_detail):
    """The cloud reference a persisted boot flow was made with."""
    meta = flow_detail.meta or {}
    if meta.get('cloud'):
        return meta['cloud']
    return ((meta.get('factory') or {}).get('kwargs') or {}).get('cloud_ref')


def resume_command(args):
    from blockflow import resume
    quiet = args.quiet or args.format == 'json'
    backend = persistence.get_backend(args.connection)
    done = []
    try:
        with _override(args) as explicit_ref:
            cloudconfig.set_override(explicit_ref)
            try:
                for result in resume.resume(
                        backend, args.flow_id, args.all,
                        lambda flow_detail: BootProgress(resume.instance_of(flow_detail),
                                                         quiet=quiet),
                        around=functools.partial(_flow_cloud, args, explicit_ref)):
                    done.append(result)
                    if args.format != 'json':
                        print(result.line(), flush=True)     # as each flow ends
            finally:
                cloudconfig.set_override(None)
    finally:
        backend.close()
    if args.format == 'json':
        output.print_json({'flows': [r.to_dict() for r in done]})
    elif not done:
        print('nothing to resume')
    return resume.exit_code(done, args.all)


@contextlib.contextmanager
def _flow_cloud(args, explicit_ref, flow_detail):
    """Around one resumed flow: its own cloud (served here if it is an embedded
    one), found reachable within seconds, unless an explicit option overrides it."""
    meta = flow_detail.meta or {}
    ref = explicit_ref or flow_cloud(flow_detail) or {}
    request_id = meta.get('request_id') or ref.get('request_id')
    with cloudopts.serving(ref, args.latency_profile):
        if ref:
            _reachable(ref, request_id)
        yield


def register(subparsers):
    boot = subparsers.add_parser('boot', help='prepare every block device of a request')
    boot.add_argument('request', metavar='REQUEST.json')
    boot.add_argument('--instance-uuid')
    boot.add_argument('--microversion', default=None)
    boot.add_argument('--enable-backup-source', action='store_true')
    boot.add_argument('--flavor-file', metavar='FILE',
                      help='JSON flavors for a cloud without a Compute API '
                           '({"ID": {"name", "root_gb", "ephemeral_gb", "swap", ...}})')
    boot.add_argument('--libvirt-uri', default='test:///default')
    boot.add_argument('--attach-api', choices=('attachments', 'legacy'),
                      default='attachments')
    boot.add_argument('--instances-path')
    boot.add_argument('--keep-on-failure', action='store_true',
                      help='leave everything in place when a device fails')
    boot.add_argument('--start', action='store_true', help='start the domain at the end')
    boot.add_argument('--connection', metavar='URL', help='persistence backend URL')
    boot.add_argument('--quiet', action='store_true')
    boot.add_argument('--submit', action='store_true',
                      help='post the boot as a job for a conductor (with --jobboard)')
    boot.add_argument('--jobboard', metavar='URL', help='redis://HOST:PORT[/db]')
    boot.add_argument('-f', '--format', choices=('table', 'json'), default='table')
    cloudopts.add(boot)
    boot.set_defaults(func=boot_command)

    devices = subparsers.add_parser('devices', help="an instance's recorded devices")
    devices.add_argument('instance_uuid', metavar='INSTANCE')
    devices.add_argument('--connection', metavar='URL')
    devices.add_argument('-f', '--format', choices=('table', 'json'), default='table')
    devices.set_defaults(func=devices_command)

    delete = subparsers.add_parser(
        'delete', help="tear an instance's devices down (in the cloud its boot used)")
    delete.add_argument('instance_uuid', metavar='INSTANCE')
    delete.add_argument('--connection', metavar='URL')
    delete.add_argument('--libvirt-uri', default='test:///default')
    delete.add_argument('-f', '--format', choices=('table', 'json'), default='table')
    cloudopts.add(delete)
    delete.set_defaults(func=delete_command)

    resume = subparsers.add_parser(
        'resume', help='resume unfinished boots (each in the cloud it used)')
    resume.add_argument('flow_id', nargs='?', metavar='FLOW_ID')
    resume.add_argument('--all', action='store_true')
    resume.add_argument('--connection', metavar='URL')
    resume.add_argument('--quiet', action='store_true')
    resume.add_argument('-f', '--format', choices=('table', 'json'), default='table')
    cloudopts.add(resume)
    resume.set_defaults(func=resume_command)
