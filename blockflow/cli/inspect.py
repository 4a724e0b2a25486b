"""`blockflow list | show | graph | ui`: read-only views of persisted flows."""

import contextlib
import sys

from blockflow import exceptions
from blockflow.cli import base


@contextlib.contextmanager
def _connection(connection_url):
    # The persistence layer owns the default location and schema upgrades.
    from blockflow import persistence
    backend = persistence.get_backend(connection_url)
    try:
        with contextlib.closing(backend.get_connection()) as conn:
            yield conn
    finally:
        backend.close()


def flow_not_found(flow_id, matches=0):
    if matches > 1:
        return base.NotFound(f'flow {flow_id}: {matches} flows start with it; '
                             'give more of the uuid')
    return base.NotFound(f'flow {flow_id}: no such flow in the persistence backend')


FLOW_COLUMNS = ('Flow', 'Instance', 'State', 'Started', 'Devices')


class ListFlows(base.Lister):
    """List persisted flows: instance, state, start time, devices done/total.

    Newest first. ``-f json`` prints {"flows": [...]} with every field.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        base.add_connection(parser)
        return parser

    def take_action(self, parsed_args):
        from blockflow.inspect import report
        from blockflow.persistence import reader
        with reader.opened(parsed_args.connection) as flows:
            rows = report.list_flows(flows)
        self.document = {'flows': rows}
        return FLOW_COLUMNS, [
            (r['flow_id'], base.table_ok(r['instance_uuid']), r['state'],
             base.table_ok(r['created_at']), f"{r['devices_done']}/{r['devices_total']}")
            for r in rows]


STEP_COLUMNS = ('Device', 'Step', 'State', 'Duration', 'Attempts', 'Volume', 'Failure')


class ShowFlow(base.Lister):
    """Show one flow: each device's tasks with state, duration, attempts, volume and failure.

    ``-f json`` prints the whole report ({"flow_id", "instance_uuid", "state",
    "request_id", "devices": {DEVICE: [...]}, "leftovers"}); the table has one
    row per task. What a revert could not undo is listed after the table.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('flow_id', metavar='FLOW_ID', help='flow uuid or unique prefix')
        base.add_connection(parser)
        return parser

    def take_action(self, parsed_args):
        from blockflow.inspect import report
        from blockflow.persistence import reader
        self.check_columns(parsed_args, STEP_COLUMNS)   # before the header line
        try:
            with reader.opened(parsed_args.connection) as flows:
                shown = report.flow_report(flows, parsed_args.flow_id)
        except reader.FlowNotFound as exc:
            raise flow_not_found(parsed_args.flow_id, exc.matches)
        self.document = shown
        if parsed_args.formatter == 'table':
            print(f'flow {shown["flow_id"]}  instance {shown["instance_uuid"] or "-"}  '
                  f'state {shown["state"]}  request {shown.get("request_id") or "-"}',
                  file=self.app.stdout)
            for leftover in shown.get('leftovers', []):
                print(f'left behind: {leftover["line"]}', file=sys.stderr)
        rows = []
        for device, steps in sorted(shown['devices'].items()):
            for row in steps:
                duration = None if row['duration_s'] is None else f'{row["duration_s"]}s'
                rows.append((device, row['step'], row['state'], base.table_ok(duration),
                             row['attempts'], base.table_ok(row['volume_id']),
                             base.table_ok(row['failure'])))
        return STEP_COLUMNS, rows


class GraphFlow(base.Command):
    """Draw a flow with the state of each task (DOT on stdout, or SVG/PNG/DOT to a file)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('flow_id', metavar='FLOW_ID', help='flow uuid or unique prefix')
        parser.add_argument('-o', '--output', metavar='FILE',
                            help='FILE.svg, FILE.png or FILE.dot (default: DOT on stdout)')
        base.add_connection(parser)
        base.add_format(parser)
        return parser

    def take_action(self, parsed_args):
        from blockflow.inspect import report
        from blockflow.persistence import reader
        try:
            with reader.opened(parsed_args.connection) as flows:
                flow = flows.find_flow(parsed_args.flow_id)
        except reader.FlowNotFound as exc:
            raise flow_not_found(parsed_args.flow_id, exc.matches)
        prefix = report.flow_prefix(flow)
        with base.without_eventlet():
            from blockflow import persistence  # noqa: F401
            from blockflow.inspect import graph
        with _connection(parsed_args.connection) as conn:
            dot = graph.flow_dot(conn, flow.uuid,
                                 cluster_of=lambda name: graph.default_cluster_of(name, prefix))
        if parsed_args.output in (None, '-'):
            self.app.stdout.write(dot.to_string())
            return 0
        try:
            fmt = graph.write(dot, parsed_args.output)
        except ValueError as exc:
            raise exceptions.UsageError(f'-o/--output: {exc}')
        except OSError as exc:
            raise exceptions.UsageError(f'-o/--output: cannot write {parsed_args.output}: {exc}')
        if parsed_args.formatter == 'json':
            from blockflow.cli import output
            output.print_json({'written': parsed_args.output, 'format': fmt}, self.app.stdout)
        else:
            print(f'{fmt} written to {parsed_args.output}', file=self.app.stdout)
        return 0


class ServeUi(base.Command):
    """Serve the live web view of persisted flows on loopback (Ctrl-C to stop)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--port', type=int, default=8780, metavar='PORT',
                            help='TCP port to listen on (default: 8780; 0: a free port)')
        parser.add_argument('--host', default='127.0.0.1', metavar='ADDRESS',
                            help='address to bind (loopback unless you ask otherwise)')
        base.add_connection(parser)
        return parser

    def take_action(self, parsed_args):
        import time

        from blockflow import persistence
        from blockflow.inspect import web
        backend = persistence.get_backend(parsed_args.connection)
        try:
            server = web.InspectServer(backend, host=parsed_args.host, port=parsed_args.port)
            server.start()      # binds now: a busy port is one line, before any banner
            print(f'blockflow ui on {server.url}  (Ctrl-C to stop)', flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
            finally:
                server.stop()
        finally:
            backend.close()
        return 0
