"""What every ``blockflow`` command shares, on cliff/osc-lib's command classes.

Listers and ShowOnes get cliff's formatters (``-f table|json|value|yaml|csv``,
``-c``, ``--max-width``, ``--fit-width``, ``--noindent``). For ``-f json``
without ``-c`` a command may keep the richer JSON document it always printed
(``{"flows": [...]}``, ``{"devices": ...}``); with ``-c`` JSON is cliff's rows.
Secrets are masked before any formatter sees a value.
"""

import contextlib
import sys

from osc_lib.command import command

from blockflow import exceptions


@contextlib.contextmanager
def without_eventlet():
    """Imports of a read-only view: TaskFlow and oslo.utils probe for eventlet
    (``try_import``, a quarter of a second here) only to tune green threads,
    which a view never runs. Inside the block the probes find nothing;
    eventlet stays importable afterwards for whoever needs it."""
    if 'eventlet' in sys.modules:
        yield
        return
    sys.modules['eventlet'] = None
    try:
        yield
    finally:
        if sys.modules.get('eventlet', 0) is None:
            del sys.modules['eventlet']


class NotFound(exceptions.BlockflowError):
    """A flow, instance or job the user named does not exist (exit 1)."""

    msg_fmt = '%(what)s: not found'
    http_status = 404


def table_ok(value):
    """A cell: empty is None (shown '-' in tables, '' in value/csv, null in json/yaml)."""
    return None if value == '' else value


_EMPTY = {'table': '-', 'value': '', 'csv': ''}


def _shown(formatter, data):
    empty = _EMPTY.get(formatter)
    if empty is None:
        return data
    return [tuple(empty if cell is None else cell for cell in row) for row in data]


class _OwnEpilog:
    def get_epilog(self):
        # Every command is blockflow's own; cliff's "provided by the X plugin"
        # note reads every installed distribution's metadata (~0.2 s) to find that out.
        return self._epilog or ''


class _Display(_OwnEpilog):
    """JSON documents and masking for Listers/ShowOnes."""

    document = None
    exit_code = 0

    def run(self, parsed_args):
        super().run(parsed_args)
        return self.exit_code

    def produce_output(self, parsed_args, column_names, data):
        if (parsed_args.formatter == 'json' and self.document is not None
                and not parsed_args.columns):
            from blockflow.cli import output
            output.print_json(self.document, self.app.stdout,
                              indent=None if getattr(parsed_args, 'noindent', False) else 2)
            return 0
        if isinstance(self, command.ShowOne):
            data = _shown(parsed_args.formatter, [data])[0]
        else:
            data = _shown(parsed_args.formatter, data)
        return super().produce_output(parsed_args, column_names, data)


class Command(_OwnEpilog, command.Command):
    """A command that prints what it does (no cliff formatter)."""


def add_format(parser):
    """-f for commands whose result is a message or a document, not rows."""
    parser.add_argument('-f', '--format', dest='formatter',
                        choices=('table', 'json'), default='table',
                        help='table (lines for people) or json (one document, errors '
                             'too); default: table')


class Lister(_Display, command.Lister):
    pass


class ShowOne(_Display, command.ShowOne):
    pass


def add_connection(parser, what='persistence backend'):
    parser.add_argument(
        '--connection', metavar='URL', default=None,
        help=f'{what} (SQLAlchemy URL: sqlite:///FILE, mysql+pymysql://..., '
             'postgresql://...); default: the sqlite file in $XDG_STATE_HOME/blockflow/')


def add_quiet(parser):
    parser.add_argument('--quiet', action='store_true',
                        help='no progress and no notes on stderr')


def add_libvirt_uri(parser):
    parser.add_argument('--libvirt-uri', metavar='URI', default='test:///default',
                        help='libvirt connection URI (default: test:///default)')


def add_jobboard(parser, required=False):
    parser.add_argument('--jobboard', metavar='URL', required=required,
                        help='jobboard URL: redis://HOST:PORT[/DB] or zookeeper://HOST:PORT '
                             '(needs the blockflow[zookeeper] extra)')


def add_microversion(parser):
    parser.add_argument('--microversion', metavar='X.Y', default=None,
                        help='compute API microversion of the request')
