"""Every command and option explains itself, the same way everywhere."""

import argparse
import configparser
import pathlib
import subprocess
import sys

import pytest

from blockflow.cli import main as cli_main

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _parsers():
    app = cli_main.BlockflowApp()
    for name, entry in cli_main.COMMANDS.items():
        factory = cli_main._Lazy(name, entry).load()
        command = factory(app, None, cmd_name=name)
        yield name, command, command.get_parser(f'blockflow {name}')


@pytest.mark.parametrize('name', sorted(cli_main.COMMANDS))
def test_every_command_and_option_has_help(name):
    found = {n: (c, p) for n, c, p in _parsers()}
    command, parser = found[name]
    assert command.get_description().strip(), f'{name}: no description'
    # Plain text for a terminal: no reStructuredText literals from the docstring.
    assert '``' not in command.get_description(), f'{name}: RST markup in its help'
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and action.help.strip() and action.help != argparse.SUPPRESS, \
            f'{name} {action.option_strings or action.dest}: no help text'


def test_an_option_has_one_metavar_everywhere():
    metavars = {}
    for name, _command, parser in _parsers():
        for action in parser._actions:
            if not action.option_strings or action.nargs == 0:
                continue
            flag = max(action.option_strings, key=len)
            metavars.setdefault(flag, {})[name] = action.metavar
    mixed = {flag: seen for flag, seen in metavars.items() if len(set(seen.values())) > 1}
    assert not mixed


def test_global_help_lists_every_command_with_its_summary():
    done = subprocess.run([sys.executable, '-m', 'blockflow.cli.main', '--help'],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and 'console script' not in done.stdout
    for name in cli_main.COMMANDS:
        line = next(l for l in done.stdout.splitlines() if l.strip().startswith(name + ' '))
        assert len(line.split()) > len(name.split()) + 2, line
    assert 'Could not load' not in done.stdout + done.stderr


def test_command_help_after_the_command_and_version():
    done = subprocess.run([sys.executable, '-m', 'blockflow.cli.main', 'boot', '-h'],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and '--keep-on-failure' in done.stdout
    assert 'Prepare every block device' in done.stdout
    done = subprocess.run([sys.executable, '-m', 'blockflow.cli.main', '--version'],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith('blockflow ')


def test_setup_cfg_declares_the_commands_for_blockflow_and_openstackclient():
    config = configparser.ConfigParser()
    config.read(ROOT / 'setup.cfg')
    entries = config['entry_points']

    def section(key):
        return dict(line.split(' = ') for line in entries[key].strip().splitlines())
    assert section('blockflow.cli') == {n.replace(' ', '_'): t
                                        for n, t in cli_main.COMMANDS.items()}
    assert section('openstack.blockflow.v1') == {
        'blockflow_' + n.replace(' ', '_'): t for n, t in cli_main.COMMANDS.items()}
    assert section('openstack.cli.extension') == {'blockflow': 'blockflow.cli.osc_plugin'}
    from blockflow.cli import osc_plugin
    assert osc_plugin.API_NAME == 'blockflow' and osc_plugin.API_VERSIONS
