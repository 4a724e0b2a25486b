"""`blockflow boot | resume | devices`: prepare an instance's block devices."""

import contextlib
import os
import sys
import tempfile
import uuid

from blockflow import boot as boot_module
from blockflow import clients as clients_module
from blockflow import exceptions
from blockflow import persistence
from blockflow import records
from blockflow.cli import output
from blockflow.cli.progress import BootProgress
from blockflow.cli import validate as validate_cli
from blockflow.inspect import report

@contextlib.contextmanager
def _cloud(args):
    """The configured cloud, or the embedded one started in-process."""
    if args.cloud_url:
        yield {'type': 'embedded', 'auth_url': args.cloud_url.rstrip('/') + '/identity/v3'}, None
        return
    if args.os_cloud or os.environ.get('OS_AUTH_URL'):
        yield clients_module.env_ref(), None
        return
    from blockflow.cloud.server import EmbeddedCloud
    state_dir = args.cloud_state_dir or tempfile.mkdtemp(prefix='blockflow-cloud-')
    cloud = EmbeddedCloud(state_dir, latency_profile=args.latency_profile)
    cloud.start()
    try:
        yield clients_module.embedded_ref(cloud), cloud
    finally:
        cloud.stop()


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


def boot_command(args):
    body = validate_cli.load_request(args.request)
    instance_uuid = args.instance_uuid or str(uuid.uuid4())
    if not _is_uuid(instance_uuid):
        raise exceptions.UsageError('--instance-uuid: not a UUID')
    if args.submit:
        return _submit(args, body, instance_uuid)
    with _cloud(args) as (cloud_ref, cloud):
        options = boot_module.BootOptions(
            instance_uuid=instance_uuid, cloud_ref=cloud_ref, connection=args.connection,
            libvirt_uri=args.libvirt_uri, attach_api=args.attach_api,
            instances_path=args.instances_path, keep_on_failure=args.keep_on_failure,
            start=args.start, microversion=args.microversion,
            enable_backup_source=args.enable_backup_source)
        if args.format != 'json' and not args.quiet:
            print(f'booting instance {instance_uuid}', file=sys.stderr)
        progress = BootProgress(instance_uuid, quiet=args.quiet or args.format == 'json')
        try:
            _plan, outcome, rows = boot_module.boot(body, options, notifier=progress)
        finally:
            progress.close()
    result = {'instance_uuid': instance_uuid, 'flow_id': outcome.flow_id,
              'state': outcome.state, 'devices': rows}
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
            print(f'boot failed ({outcome.state}): {outcome.failure}', file=sys.stderr)
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
    if not (args.cloud_url or os.environ.get('OS_AUTH_URL')):
        raise exceptions.UsageError('--submit needs a cloud the conductors can reach: '
                                    '--cloud-url or OS_* variables')
    cloud_ref = ({'type': 'embedded', 'auth_url': args.cloud_url.rstrip('/') + '/identity/v3'}
                 if args.cloud_url else clients_module.env_ref())
    options = boot_module.BootOptions(
        instance_uuid=instance_uuid, cloud_ref=cloud_ref, connection=args.connection,
        libvirt_uri=args.libvirt_uri, attach_api=args.attach_api,
        instances_path=args.instances_path, start=args.start,
        microversion=args.microversion, enable_backup_source=args.enable_backup_source)
    plan = boot_module.plan_for(body, options)
    factory_kwargs, meta = boot_module.factory_arguments(plan, options)
    backend = persistence.get_backend(args.connection)
    board = jobboard.get_jobboard(args.jobboard, backend)
    try:
        job_id = jobboard.post_boot(board, backend, boot_module.FACTORY, factory_kwargs, meta)
    finally:
        board.close()
        backend.close()
    if args.format == 'json':
        output.print_json({'job_id': job_id, 'instance_uuid': instance_uuid})
    else:
        print(f'job {job_id} posted for instance {instance_uuid}')
    return 0


def _is_uuid(text):
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False


def devices_command(args):
    _print_devices(_device_rows(args.instance_uuid, args.connection), args.format)
    return 0


def delete_command(args):
    from blockflow import teardown
    with _cloud(args) as (cloud_ref, _cloud_obj):
        done = teardown.teardown(args.instance_uuid, cloud_ref,
                                 _records_url(args.connection), args.libvirt_uri)
    if args.format == 'json':
        output.print_json({'instance_uuid': args.instance_uuid, 'done': done})
    else:
        for line in done:
            print(f'  {line}')
        print(f'instance {args.instance_uuid}: devices removed')
    return 0


def resume_command(args):
    from blockflow import resume
    quiet = args.quiet or args.format == 'json'
    backend = persistence.get_backend(args.connection)
    done = []
    try:
        for result in resume.resume(backend, args.flow_id, args.all, lambda flow_detail:
                                    BootProgress(resume.instance_of(flow_detail), quiet=quiet)):
            done.append(result)
            if args.format != 'json':
                print(result.line(), flush=True)     # as each flow ends
    finally:
        backend.close()
    if args.format == 'json':
        output.print_json({'flows': [r.to_dict() for r in done]})
    elif not done:
        print('nothing to resume')
    return resume.exit_code(done, args.all)


def register(subparsers):
    boot = subparsers.add_parser('boot', help='prepare every block device of a request')
    boot.add_argument('request', metavar='REQUEST.json')
    boot.add_argument('--instance-uuid')
    boot.add_argument('--microversion', default=None)
    boot.add_argument('--enable-backup-source', action='store_true')
    boot.add_argument('--os-cloud', help='use the cloud from OS_* variables')
    boot.add_argument('--cloud-url', help='an embedded cloud already serving '
                      '(blockflow cloud serve), e.g. http://127.0.0.1:8776')
    boot.add_argument('--cloud-state-dir',
                      help='state of the embedded cloud (default: a new temporary one)')
    boot.add_argument('--latency-profile', default=None,
                      help='embedded cloud latency profile: none, fast, bench or a JSON file')
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
    boot.set_defaults(func=boot_command)

    devices = subparsers.add_parser('devices', help="an instance's recorded devices")
    devices.add_argument('instance_uuid', metavar='INSTANCE')
    devices.add_argument('--connection', metavar='URL')
    devices.add_argument('-f', '--format', choices=('table', 'json'), default='table')
    devices.set_defaults(func=devices_command)

    delete = subparsers.add_parser('delete', help="tear an instance's devices down")
    delete.add_argument('instance_uuid', metavar='INSTANCE')
    delete.add_argument('--connection', metavar='URL')
    delete.add_argument('--cloud-url')
    delete.add_argument('--os-cloud')
    delete.add_argument('--cloud-state-dir')
    delete.add_argument('--latency-profile', default=None)
    delete.add_argument('--libvirt-uri', default='test:///default')
    delete.add_argument('-f', '--format', choices=('table', 'json'), default='table')
    delete.set_defaults(func=delete_command)

    resume = subparsers.add_parser('resume', help='resume unfinished boots')
    resume.add_argument('flow_id', nargs='?', metavar='FLOW_ID')
    resume.add_argument('--all', action='store_true')
    resume.add_argument('--connection', metavar='URL')
    resume.add_argument('--quiet', action='store_true')
    resume.add_argument('-f', '--format', choices=('table', 'json'), default='table')
    resume.set_defaults(func=resume_command)
