"""`blockflow devices | delete | resume`: an instance's devices after its boot."""

import contextlib
import functools

from blockflow.cli import base
from blockflow.cli import boot as boot_cli
from blockflow import exceptions


class Devices(base.Lister):
    """List an instance's recorded block devices (volume, connection, local file).

    An instance with no recorded devices is not found (exit 1). ``-f json``
    prints {"devices": [...], "cloud", "request_id"}.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('instance_uuid', metavar='INSTANCE', help='the instance UUID')
        base.add_connection(parser)
        return parser

    def take_action(self, args):
        from blockflow.persistence import reader
        url = boot_cli.records_url(args.connection)
        rows = reader.device_records(url, args.instance_uuid)
        if not rows:
            raise base.NotFound(f'instance {args.instance_uuid}: no recorded devices')
        boot = reader.instance_boot(url, args.instance_uuid)
        self.document = {'devices': rows,
                         'cloud': boot['cloud_ref'] if boot else None,
                         'request_id': boot['request_id'] if boot else None}
        return boot_cli.DEVICE_COLUMNS, boot_cli.device_rows(rows)


def _override(args):
    """Explicit cloud options on resume/delete win over the persisted reference."""
    from blockflow.cli import cloudopts
    if not cloudopts.explicit(args):
        return contextlib.nullcontext(None)
    return cloudopts.selected(args)


def _reachable(ref, request_id):
    """One line, within seconds, if the boot's cloud cannot be used now."""
    from blockflow.clients import openstack as clients_module
    from blockflow.clients.cloud_catalog import check_cloud
    clients = clients_module.Clients(dict(ref, request_id=request_id))
    check_cloud(clients, attach_api='legacy')


class Delete(base.Command):
    """Tear an instance's devices down, in the cloud its boot used.

    Detaches from the domain, disconnects the host (os-brick), deletes the
    attachments and the volumes blockflow created, removes local disks. An
    instance with nothing recorded is not found (exit 1).
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('instance_uuid', metavar='INSTANCE', help='the instance UUID')
        base.add_connection(parser)
        base.add_libvirt_uri(parser)
        base.add_format(parser)
        from blockflow.cli import cloudopts
        cloudopts.add(parser)
        return parser

    def take_action(self, args):
        from blockflow.clients import openstack as clients_module
        from blockflow.persistence import records
        from blockflow.runner import teardown
        from blockflow.cli import cloudopts
        from blockflow.cli import output
        url = boot_cli.records_url(args.connection)
        boot = records.Records(url).instance(args.instance_uuid)
        with _override(args) as explicit_ref:
            ref = explicit_ref or (boot or {}).get('cloud_ref')
            if ref is None:
                if not records.Records(url).for_instance(args.instance_uuid):
                    raise base.NotFound(f'instance {args.instance_uuid}: no recorded devices')
                raise exceptions.UsageError(
                    f'instance {args.instance_uuid}: no cloud recorded for its boot; '
                    'give --os-cloud NAME or other cloud options')
            request_id = clients_module.new_request_id()
            with cloudopts.serving(ref, args.latency_profile):
                try:
                    _reachable(ref, request_id)
                    done = teardown.teardown(args.instance_uuid,
                                             dict(ref, request_id=request_id),
                                             url, args.libvirt_uri)
                except exceptions.BlockflowError as exc:
                    exc.message = f'{exc.message} [request {request_id}]' \
                        if request_id not in exc.message else exc.message
                    raise
        if args.formatter == 'json':
            output.print_json({'instance_uuid': args.instance_uuid, 'done': done,
                               'request_id': request_id}, self.app.stdout)
        else:
            for line in done:
                print(f'  {line}', file=self.app.stdout)
            print(f'instance {args.instance_uuid}: devices removed', file=self.app.stdout)
        return 0


def flow_cloud(flow_detail):
    """The cloud reference a persisted boot flow was made with."""
    meta = flow_detail.meta or {}
    if meta.get('cloud'):
        return meta['cloud']
    return ((meta.get('factory') or {}).get('kwargs') or {}).get('cloud_ref')


class Resume(base.Command):
    """Resume unfinished boots, each in the cloud it used (one line per flow as it ends).

    FLOW_ID resumes one flow (also a finished one, which is reported);
    --all every unfinished flow not posted to a jobboard. Exit 1 if a flow is
    left undone; a flow id that matches nothing is not found (exit 1).
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('flow_id', nargs='?', metavar='FLOW_ID',
                            help='flow uuid or unique prefix (or --all)')
        parser.add_argument('--all', action='store_true',
                            help='every unfinished flow in the persistence backend')
        base.add_connection(parser)
        base.add_quiet(parser)
        base.add_format(parser)
        from blockflow.cli import cloudopts
        cloudopts.add(parser)
        return parser

    def take_action(self, args):
        from blockflow.clients import cloudconfig
        from blockflow import persistence
        from blockflow.runner import resume
        from blockflow.cli import output
        from blockflow.cli.progress import BootProgress
        quiet = args.quiet or args.formatter == 'json'
        backend = persistence.get_backend(args.connection)
        done = []
        try:
            with _override(args) as explicit_ref:
                cloudconfig.set_override(explicit_ref)
                try:
                    for result in _not_found_is_exit_1(resume.resume(
                            backend, args.flow_id, args.all,
                            lambda flow_detail: BootProgress(resume.instance_of(flow_detail),
                                                             quiet=quiet),
                            around=functools.partial(_flow_cloud, args, explicit_ref))):
                        done.append(result)
                        if args.formatter != 'json':
                            print(result.line(), file=self.app.stdout, flush=True)
                finally:
                    cloudconfig.set_override(None)
        finally:
            backend.close()
        if args.formatter == 'json':
            output.print_json({'flows': [r.to_dict() for r in done]}, self.app.stdout)
        elif not done:
            print('nothing to resume', file=self.app.stdout)
        return resume.exit_code(done, args.all)


def _not_found_is_exit_1(results):
    try:
        yield from results
    except exceptions.UsageError as exc:
        if 'no such flow' in exc.message:
            raise base.NotFound(exc.message) from None
        raise


@contextlib.contextmanager
def _flow_cloud(args, explicit_ref, flow_detail):
    """Around one resumed flow: its own cloud (served here if it is an embedded
    one), found reachable within seconds, unless an explicit option overrides it."""
    from blockflow.cli import cloudopts
    meta = flow_detail.meta or {}
    ref = explicit_ref or flow_cloud(flow_detail) or {}
    request_id = meta.get('request_id') or ref.get('request_id')
    with cloudopts.serving(ref, args.latency_profile):
        if ref:
            _reachable(ref, request_id)
        yield
