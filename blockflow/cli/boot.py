"""`blockflow boot`: prepare every block device of a request (or post it as a job)."""

import contextlib
import sys
import uuid

from blockflow.cli import base
from blockflow import exceptions

DEVICE_COLUMNS = ('Device', 'Source', 'Destination', 'Volume', 'Connection', 'Local File')


def device_rows(rows):
    return [(r['device_name'], r['source_type'], r['destination_type'],
             base.table_ok(r['volume_id']),
             base.table_ok((r.get('connection_info') or {}).get('driver_volume_type')),
             base.table_ok(r['local_path'])) for r in rows]


def records_url(connection):
    from blockflow import persistence
    return persistence.resolve_url(connection)


def _summarise_failure(backend, flow_id):
    from blockflow.inspect import report
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
    from blockflow.runner import boot as boot_module
    return boot_module.BootOptions(
        instance_uuid=instance_uuid, cloud_ref=cloud_ref, connection=args.connection,
        libvirt_uri=args.libvirt_uri, attach_api=args.attach_api,
        instances_path=args.instances_path, keep_on_failure=args.keep_on_failure,
        start=args.start, microversion=args.microversion,
        enable_backup_source=args.enable_backup_source,
        flavors=(cloud_catalog_flavors(args.flavor_file) if args.flavor_file else None))


def cloud_catalog_flavors(path):
    from blockflow.clients.cloud_catalog import load_flavor_file
    return load_flavor_file(path)


def _is_uuid(text):
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False


class Boot(base.Lister):
    """Prepare every block device of a POST /servers request, as Nova's compute manager would.

    Validates the request, then runs one TaskFlow flow per device (create
    volume, wait, reserve, connect, attach) persisted so a crashed boot
    resumes. Lists the devices made; a failed boot exits 1 after undoing what
    it made (unless --keep-on-failure) and says what failed on stderr.
    ``--submit --jobboard URL`` posts the boot for ``blockflow conductor``.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('request', metavar='REQUEST.json',
                            help='file with the POST /servers body ({"server": {...}})')
        parser.add_argument('--instance-uuid', metavar='UUID',
                            help='the instance to prepare devices for (default: a new UUID)')
        base.add_microversion(parser)
        parser.add_argument('--enable-backup-source', action='store_true',
                            help='accept source_type "backup" (the seed\'s Nova fork)')
        parser.add_argument('--flavor-file', metavar='FILE',
                            help='JSON flavors for a cloud without a Compute API '
                                 '({"ID": {"name", "root_gb", "ephemeral_gb", "swap", ...}})')
        base.add_libvirt_uri(parser)
        parser.add_argument('--attach-api', choices=('attachments', 'legacy'),
                            default='attachments', metavar='{attachments,legacy}',
                            help='Cinder attach API: attachments (3.27+, default) or '
                                 'legacy os-reserve/os-initialize_connection')
        parser.add_argument('--instances-path', metavar='DIR',
                            help='where local disks (ephemeral, swap, image) are written')
        parser.add_argument('--keep-on-failure', action='store_true',
                            help='leave everything in place when a device fails')
        parser.add_argument('--start', action='store_true',
                            help='start the domain once every device is attached')
        base.add_connection(parser)
        base.add_quiet(parser)
        parser.add_argument('--submit', action='store_true',
                            help='post the boot as a job for a conductor (with --jobboard)')
        base.add_jobboard(parser)
        from blockflow.cli import cloudopts
        cloudopts.add(parser)
        return parser

    def take_action(self, args):
        from blockflow.cli import validate as validate_cli
        body = validate_cli.load_request(args.request)
        instance_uuid = args.instance_uuid or str(uuid.uuid4())
        if not _is_uuid(instance_uuid):
            raise exceptions.UsageError('--instance-uuid: not a UUID')
        if args.submit:
            return self._submit(args, body, instance_uuid)
        return self._boot(args, body, instance_uuid)

    def _boot(self, args, body, instance_uuid):
        from blockflow.runner import boot as boot_module
        from blockflow.cli import cloudopts
        from blockflow.cli.progress import BootProgress
        quiet = args.quiet or args.formatter == 'json'
        with cloudopts.selected(args) as cloud_ref:
            options = _boot_options(args, instance_uuid, cloud_ref)
            boot_module.prepare(options)        # fails fast, in one line
            if not quiet:
                print(f'booting instance {instance_uuid} [request {options.request_id}]',
                      file=sys.stderr)
            progress = BootProgress(instance_uuid, quiet=quiet)
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
            self._report_failure(args, options, outcome, result)
        elif not args.quiet and args.formatter == 'table':
            print(f'flow {outcome.flow_id}: {outcome.state}', file=sys.stderr)
        self.document = result
        self.exit_code = 0 if outcome.ok else 1
        return DEVICE_COLUMNS, device_rows(rows)

    @staticmethod
    def _report_failure(args, options, outcome, result):
        from blockflow import persistence
        backend = persistence.get_backend(args.connection)
        try:
            failed, undone, left = _summarise_failure(backend, outcome.flow_id)
        finally:
            backend.close()
        result.update(failed=failed, undone=undone, error=outcome.failure, leftovers=left)
        if args.formatter == 'json':
            return
        print(f'boot failed ({outcome.state}): {outcome.failure} '
              f'[request {options.request_id}]', file=sys.stderr)
        for line in failed:
            print(f'  failed: {line}', file=sys.stderr)
        action = 'kept for inspection' if args.keep_on_failure else 'undone'
        for line in undone:
            print(f'  {action}: {line}', file=sys.stderr)
        for line in left:
            print(f'  left behind: {line}', file=sys.stderr)
        print(f'flow {outcome.flow_id}: {outcome.state}', file=sys.stderr)

    def _submit(self, args, body, instance_uuid):
        """Validate here, then post the boot for a conductor to run."""
        from blockflow.runner import boot as boot_module
        from blockflow import persistence
        from blockflow.persistence import records
        from blockflow.cli import cloudopts
        from blockflow.cli import jobs
        if not args.jobboard:
            raise exceptions.UsageError('--submit needs --jobboard URL')
        if args.embedded and not cloudopts.served_elsewhere(args.embedded):
            raise exceptions.UsageError(
                f'--submit --embedded {args.embedded}: conductors must reach the cloud; serve '
                f'it first (blockflow cloud serve --name {args.embedded})')
        with cloudopts.selected(args) as cloud_ref:
            options = _boot_options(args, instance_uuid, cloud_ref)
            plan = boot_module.plan_for(body, options)
        records.Records(records_url(args.connection)).save_instance(
            instance_uuid, options.cloud_ref, options.request_id)
        factory_kwargs, meta = boot_module.factory_arguments(plan, options)
        backend = persistence.get_backend(args.connection)
        try:
            with jobs.board(args.jobboard, backend) as board:
                from blockflow.runner import jobboard
                job_id = jobboard.post_boot(board, backend, boot_module.FACTORY,
                                            factory_kwargs, meta)
        finally:
            backend.close()
        self.document = {'job_id': job_id, 'instance_uuid': instance_uuid,
                         'request_id': options.request_id}
        if args.formatter == 'table' and not args.quiet:
            print(f'job {job_id} posted for instance {instance_uuid} '
                  f'[request {options.request_id}]', file=sys.stderr)
        return ('Job', 'Instance', 'Request'), [(job_id, instance_uuid, options.request_id)]
