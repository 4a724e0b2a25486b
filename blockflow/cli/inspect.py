"""`blockflow list | show | graph | ui`: read-only views of persisted flows."""

import contextlib
import json
import sys

from blockflow import exceptions
from blockflow.cli import output
from blockflow.inspect import graph
from blockflow.inspect import report


def _backend(connection_url):
    # The persistence layer owns the default location and schema upgrades.
    from blockflow import persistence
    return persistence.get_backend(connection_url)


@contextlib.contextmanager
def _connection(args):
    backend = _backend(args.connection)
    try:
        with contextlib.closing(backend.get_connection()) as conn:
            yield conn
    finally:
        backend.close()


def _flow_not_found(exc):
    return exceptions.UsageError(f'flow {exc}: no such flow in the persistence backend')


def _list(args):
    with _connection(args) as conn:
        rows = report.list_flows(conn)
    if args.format == 'json':
        output.print_json({'flows': rows})
        return 0
    if not rows:
        print('no flows')
        return 0
    print(f'{"FLOW":36}  {"INSTANCE":36}  {"STATE":9}  {"STARTED":19}  DEVICES')
    for row in rows:
        print(f'{row["flow_id"]:36}  {row["instance_uuid"] or "-":36}  '
              f'{row["state"]:9}  {row["created_at"] or "-":19}  '
              f'{row["devices_done"]}/{row["devices_total"]}')
    return 0


def _show(args):
    try:
        with _connection(args) as conn:
            shown = report.flow_report(conn, args.flow_id)
    except graph.FlowNotFound as exc:
        raise _flow_not_found(exc)
    if args.format == 'json':
        output.print_json(shown)
        return 0
    print(f'flow {shown["flow_id"]}  instance {shown["instance_uuid"] or "-"}  '
          f'state {shown["state"]}  request {shown.get("request_id") or "-"}')
    for device, rows in sorted(shown['devices'].items()):
        print(f'  {device}')
        for row in rows:
            extra = ''
            if row['volume_id']:
                extra += f'  volume {row["volume_id"]}'
            if row['failure']:
                extra += f'  FAILED: {row["failure"]}'
            duration = '-' if row['duration_s'] is None else f'{row["duration_s"]}s'
            print(f'    {row["step"]:24} {row["state"]:10} {duration:>8}  '
                  f'attempts {row["attempts"]}{extra}')
    for leftover in shown.get('leftovers', []):
        print(f'  left behind: {leftover["line"]}')
    return 0


def _graph(args):
    try:
        with _connection(args) as conn:
            _book, flow_detail = graph.find_flow_detail(conn, args.flow_id)
            prefix = report.flow_prefix(flow_detail)
            dot = graph.flow_dot(
                conn, flow_detail.uuid,
                cluster_of=lambda name: graph.default_cluster_of(name, prefix))
    except graph.FlowNotFound as exc:
        raise _flow_not_found(exc)
    if args.output in (None, '-'):
        sys.stdout.write(dot.to_string())
        return 0
    try:
        fmt = graph.write(dot, args.output)
    except ValueError as exc:
        raise exceptions.UsageError(f'-o/--output: {exc}')
    except OSError as exc:
        raise exceptions.UsageError(f'-o/--output: cannot write {args.output}: {exc}')
    print(json.dumps({'written': args.output, 'format': fmt})
          if args.format == 'json' else f'{fmt} written to {args.output}')
    return 0


def _ui(args):
    from blockflow.inspect import web
    backend = _backend(args.connection)
    server = web.InspectServer(backend, host=args.host, port=args.port)
    print(f'blockflow ui on http://{args.host}:{args.port or "(free port)"}  '
          '(Ctrl-C to stop)', flush=True)
    try:
        server.serve_forever()
    finally:
        backend.close()
    return 0


def register(subparsers):
    common = {'--connection': dict(
        default=None, metavar='URL',
        help='persistence backend (SQLAlchemy URL); default: the sqlite file '
             'in $XDG_STATE_HOME/blockflow/')}

    def add(name, func, help_text):
        parser = subparsers.add_parser(name, help=help_text, description=help_text)
        for flag, kwargs in common.items():
            parser.add_argument(flag, **kwargs)
        parser.add_argument('-f', '--format', choices=('table', 'json'), default='table')
        parser.set_defaults(func=func)
        return parser

    add('list', _list, 'list flows: instance, state, start time, devices done/total')
    show = add('show', _show, "one flow: each device's tasks with state, "
                              'duration, attempts, volume id and failure')
    show.add_argument('flow_id', metavar='FLOW_ID', help='flow uuid or unique prefix')
    graph_parser = add('graph', _graph, 'draw a flow with the state of each task')
    graph_parser.add_argument('flow_id', metavar='FLOW_ID')
    graph_parser.add_argument('-o', '--output', metavar='FILE',
                              help='FILE.svg, FILE.png or FILE.dot (default: DOT on stdout)')
    ui = add('ui', _ui, 'serve the live web view on loopback')
    ui.add_argument('--port', type=int, default=8780)
    ui.add_argument('--host', default='127.0.0.1',
                    help='address to bind (loopback unless you ask otherwise)')
