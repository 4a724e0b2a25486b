"""blockflow: Nova's block-device preparation on TaskFlow, from the command line.

Commands are cliff commands (as python-openstackclient's); a command's module
is imported only when that command runs or its help is shown.
Exit codes: 0 success, 1 refused, failed or not found, 2 usage error.
"""

import argparse
import sys

from cliff import app
from cliff import commandmanager

# name -> "module:Class"; setup.cfg declares the same under blockflow.cli
# (tests/cli/test_help.py keeps the two equal).
COMMANDS = {
    'validate': 'blockflow.cli.validate:Validate',
    'plan': 'blockflow.cli.validate:Plan',
    'boot': 'blockflow.cli.boot:Boot',
    'devices': 'blockflow.cli.instance:Devices',
    'delete': 'blockflow.cli.instance:Delete',
    'resume': 'blockflow.cli.instance:Resume',
    'list': 'blockflow.cli.inspect:ListFlows',
    'show': 'blockflow.cli.inspect:ShowFlow',
    'graph': 'blockflow.cli.inspect:GraphFlow',
    'ui': 'blockflow.cli.inspect:ServeUi',
    'cloud serve': 'blockflow.cli.cloud:CloudServe',
    'conductor': 'blockflow.cli.jobs:Conductor',
    'jobs': 'blockflow.cli.jobs:ListJobs',
}


# The command line being run: keystoneauth registers the options of the auth
# plugin it names, so cloud options are added knowing it (osc-lib peeks the same way).
CURRENT_ARGV = None


class _Lazy:
    """An entry point without scanning installed distributions."""

    def __init__(self, name, target):
        self.name = name
        self.value = target

    def load(self):
        import importlib
        module, _sep, attr = self.value.partition(':')
        return getattr(importlib.import_module(module), attr)


class CommandManager(commandmanager.CommandManager):
    def load_commands(self, namespace):
        self.group_list.append(namespace)
        for name, target in COMMANDS.items():
            self.commands[name] = _Lazy(name, target)


def _version():
    from importlib import metadata
    try:
        return metadata.version('blockflow')
    except metadata.PackageNotFoundError:
        return 'unknown'


class BlockflowApp(app.App):
    NAME = 'blockflow'
    # run_subcommand turns errors into one line (commands do it themselves under OSC).
    reports_errors = True

    def __init__(self):
        super().__init__(description=__doc__.strip().splitlines()[0], version=None,
                         command_manager=CommandManager('blockflow.cli'),
                         deferred_help=True)
        self.options = None

    def build_option_parser(self, description, version, argparse_kwargs=None):
        parser = argparse.ArgumentParser(description=description, add_help=False,
                                         allow_abbrev=False, prog='blockflow')
        parser.add_argument('--version', action=_VersionAction, nargs=0,
                            help='print the version and exit')
        parser.add_argument('-h', '--help', dest='deferred_help', action='store_true',
                            help='show this help (or a command\'s: blockflow COMMAND -h)')
        parser.add_argument('--debug', action='store_true',
                            help='log at DEBUG level and show tracebacks on errors '
                                 '(secrets stay masked); accepted anywhere on the line')
        parser.add_argument('--config-file', metavar='FILE', action='append', default=[],
                            help='oslo.config file(s) with blockflow settings '
                                 '(oslo-config-generator --namespace blockflow)')
        return parser

    def configure_logging(self):
        from blockflow.cli import errors
        errors.setup_logging(self.options.debug)

    def initialize_app(self, argv):
        from blockflow import exceptions
        from blockflow.cli import errors
        self.config_error = None
        try:
            errors.load_config(self.options.config_file)
        except exceptions.UsageError as exc:
            self.config_error = exc

    def run_subcommand(self, argv):
        from blockflow.cli import errors
        if self.config_error is not None:
            errors.print_error(self.config_error)
            return 2
        try:
            factory, name, sub_argv = self.command_manager.find_command(argv)
            asked = [arg for arg in sub_argv if not arg.startswith('-')]
            if name == 'help' and asked:        # `blockflow help COMMAND`
                self.command_manager.find_command(asked)
        except ValueError:
            words = asked if argv[:1] == ['help'] else argv
            errors.print_line(f"blockflow: '{' '.join(words)}' is not a blockflow command; "
                              "see 'blockflow --help'")
            return 2
        cmd = factory(self, self.options, cmd_name=name)
        parser = cmd.get_parser(f'blockflow {name}')
        try:
            parsed = parser.parse_args(sub_argv)
        except SystemExit as exc:
            return exc.code
        return errors.run(cmd, parsed, self.options.debug)


    def interact(self):
        # No command given: cliff would open a shell; a script wants an answer.
        from blockflow.cli import errors
        errors.print_line("blockflow: a command is required; see 'blockflow --help'")
        self.missing_command = True


class _VersionAction(argparse.Action):
    """--version, the distribution's metadata read only when asked."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f'blockflow {_version()}')
        parser.exit(0)


def main(argv=None):
    # Global options (--debug, --config-file) are accepted anywhere on the line:
    # cliff parses them with parse_known_args before the command's own parser.
    global CURRENT_ARGV
    from blockflow import threads
    threads.use_os_threads()    # before anything imports TaskFlow
    argv = list(sys.argv[1:] if argv is None else argv)
    CURRENT_ARGV = argv
    blockflow = BlockflowApp()
    try:
        code = blockflow.run(argv)
    except BrokenPipeError:
        # Output piped into head & co.: stop quietly, as other CLI tools do.
        sys.stderr.close()
        return 0
    if getattr(blockflow, 'missing_command', False):
        return 2
    return code or 0


def console():
    """The ``blockflow`` program: ``main()``, then a quick exit (blockflow.exit)."""
    from blockflow import exit as exit_module
    exit_module.leave(main())


if __name__ == '__main__':
    console()
