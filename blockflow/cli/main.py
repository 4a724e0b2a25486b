"""The ``blockflow`` console script.

Each command group lives in its own module exposing ``register(subparsers)``;
handlers return an exit code and raise BlockflowError for a clean refusal.
Exit codes: 0 success, 1 refused or failed, 2 usage error.
"""

import argparse
import os
import sys

from blockflow import exceptions
from blockflow.cli import output

COMMAND_MODULES = (
    'blockflow.cli.validate',
    'blockflow.cli.inspect',
    'blockflow.cli.boot',
    'blockflow.cli.cloud',
    'blockflow.cli.jobs',
)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f'{self.prog}: error: {message}', file=sys.stderr)
        sys.exit(2)


def build_parser(argv=None):
    import importlib

    from blockflow.cli import cloudopts
    cloudopts.ARGV = list(sys.argv[1:] if argv is None else argv)
    parser = _Parser(prog='blockflow', description=__doc__.splitlines()[0])
    parser.add_argument('--debug', action='store_true',
                        help='log at DEBUG level (secrets stay masked)')
    parser.add_argument('--config-file', metavar='FILE', action='append', default=[],
                        help='oslo.config file(s) with blockflow settings '
                             '(oslo-config-generator --namespace blockflow)')
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND',
                                       parser_class=_Parser)
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def _setup_logging(debug):
    import logging

    from blockflow import secrets

    class _MaskingFormatter(logging.Formatter):
        def format(self, record):
            return secrets.mask_text(super().format(record))

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_MaskingFormatter('%(levelname)s %(name)s: %(message)s'))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    # os-brick reports every initiator it cannot find; none of it is actionable here.
    logging.getLogger('os_brick').setLevel(logging.DEBUG if debug else logging.ERROR)
    # TaskFlow logs a traceback for every failed flow; blockflow reports the failure itself.
    logging.getLogger('taskflow.engines.action_engine.engine').setLevel(
        logging.DEBUG if debug else logging.CRITICAL)
    # keystoneauth warns before it reports the same failure we turn into one line.
    logging.getLogger('keystoneauth').setLevel(logging.DEBUG if debug else logging.ERROR)


def _load_config(files):
    from oslo_config import cfg

    from blockflow import conf
    for path in files:
        if not os.path.isfile(path):
            raise exceptions.UsageError(f'--config-file: {path} does not exist')
    try:
        conf.CONF(args=[], project='blockflow', default_config_files=files)
    except cfg.Error as exc:
        raise exceptions.UsageError(f'--config-file: {exc}')


def main(argv=None):
    # Quiet (and on this process's stderr) while the parser loads keystoneauth's plugins.
    _setup_logging(False)
    try:
        parser = build_parser(argv)
    except exceptions.UsageError as exc:
        output.print_error(exc)
        return 2
    args = parser.parse_args(argv)
    fmt = getattr(args, 'format', 'table')
    try:
        _setup_logging(args.debug)
        _load_config(args.config_file)
        return args.func(args) or 0
    except exceptions.UsageError as exc:
        output.print_error(exc, fmt)
        return 2
    except exceptions.BlockflowError as exc:
        output.print_error(exc, fmt)
        return 1
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into head & co.: stop quietly, as other CLI tools do.
        sys.stderr.close()
        return 0


if __name__ == '__main__':
    sys.exit(main())
