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


class _Common:
    """What every blockflow command does, in ``blockflow`` and under python-openstackclient
    (``openstack blockflow ...``): errors as one line (exit 1, or 2 for usage), help as
    plain text."""

    # Under python-openstackclient: blockflow makes its own clients from the cloud options.
    auth_required = False

    def get_epilog(self):
        # Every command is blockflow's own; cliff's "provided by the X plugin"
        # note reads every installed distribution's metadata (~0.2 s) to find that out.
        return self._epilog or ''

    def get_description(self):
        # Docstrings are reStructuredText; a terminal shows ``x`` as literal backquotes.
        return super().get_description().replace('``', "'")

    def run(self, parsed_args):
        if getattr(self.app, 'reports_errors', False):     # blockflow's own app
            return super().run(parsed_args)
        from blockflow.cli import errors
        debug = bool(getattr(self.app.options, 'debug', False))
        errors.quiet_libraries(debug)
        _from_osc_options(parsed_args, self.app.options)
        return errors.run(_Runs(super().run), parsed_args, debug)


class _Runs:
    def __init__(self, run):
        self.run = run


def _from_osc_options(parsed_args, osc_options):
    """The cloud options ``openstack`` parsed (``openstack --os-cloud NAME blockflow ...``).

    OSC takes every option it knows from anywhere on the line before the command
    parses the rest (``--os-cloud`` → ``cloud``, ``--os-auth-url`` → ``auth_url``),
    so the command's own ``--os-*`` hold only their ``OS_*`` defaults: OSC's value,
    from the line or the same variable, wins."""
    for dest in getattr(parsed_args, 'cloud_dests', ()):
        if not dest.startswith('os_'):
            continue
        given = getattr(osc_options, 'cloud' if dest == 'os_cloud' else dest[3:], None)
        if given not in (None, ''):
            setattr(parsed_args, dest, given)


class _Display:
    """JSON documents and masking for Listers/ShowOnes."""

    document = None
    exit_code = 0

    def run(self, parsed_args):
        super().run(parsed_args)
        return self.exit_code

    def check_columns(self, parsed_args, column_names):
        """-c names columns the command has (cliff ignores unknown ones, or fails with
        a ValueError when none is known)."""
        known = {self._normalize_column_name(name) for name in column_names}
        unknown = [c for c in parsed_args.columns or ()
                   if self._normalize_column_name(c) not in known]
        if unknown:
            raise exceptions.UsageError(
                f"-c/--column: no column {', '.join(repr(c) for c in unknown)} "
                f"(columns: {', '.join(column_names)})")

    def produce_output(self, parsed_args, column_names, data):
        self.check_columns(parsed_args, column_names)
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


class Command(_Common, command.Command):
    """A command that prints what it does (no cliff formatter)."""


def add_format(parser):
    """-f for commands whose result is a message or a document, not rows."""
    parser.add_argument('-f', '--format', dest='formatter',
                        choices=('table', 'json'), default='table',
                        help='table (lines for people) or json (one document, errors '
                             'too); default: table')


class Lister(_Common, _Display, command.Lister):
    pass


class ShowOne(_Common, _Display, command.ShowOne):
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
