"""Cloud options of the commands, and keeping the embedded cloud served while they run.

Selection itself is ``blockflow.clients.cloudconfig`` (openstack.config/keystoneauth).
This module adds what only the command line does: starting the embedded cloud
in-process, from its home, when a command needs it and nobody serves it.
"""

import contextlib
import os
import sys

import requests
import yaml

from blockflow.clients import cloudconfig
from blockflow import exceptions

# The command line being parsed: keystoneauth registers the options of the
# auth plugin it names (osc-lib peeks the same way).
ARGV = None
_peeked = {}


# Where openstack.config looks for clouds.yaml (besides OS_CLIENT_CONFIG_FILE).
_CONFIG_DIRS = (os.getcwd, lambda: os.path.join(
    os.environ.get('XDG_CONFIG_HOME') or os.path.expanduser('~/.config'), 'openstack'),
    lambda: '/etc/openstack')


def nothing_configured():
    """No OS_* variable and no clouds.yaml anywhere openstack.config looks: no
    cloud can be selected but by options, so openstacksdk need not be loaded."""
    if any(key.startswith('OS_') for key in os.environ):
        return False
    for directory in _CONFIG_DIRS:
        for name in ('clouds.yaml', 'clouds.yml', 'clouds.json'):
            if os.path.exists(os.path.join(directory(), name)):
                return False
    return True


def add(parser, latency=True):
    from blockflow.cli import main as cli_main
    argv = ARGV if ARGV is not None else cli_main.CURRENT_ARGV
    argv = argv if argv is not None else sys.argv[1:]
    key = (tuple(argv), os.environ.get('OS_CLOUD'), os.environ.get('OS_CLIENT_CONFIG_FILE'),
           os.environ.get('OS_AUTH_TYPE'), os.environ.get('XDG_CONFIG_HOME'))
    if parser.prog.split()[-1] not in argv:
        # Not the command being run: its options only need to exist (for --help).
        cloudconfig.add_arguments(parser, argv, 'password')
        return _add_latency(parser, latency)
    if key not in _peeked:      # one peek per command line, not one per subcommand
        _peeked.clear()
        _peeked[key] = ('password' if nothing_configured() and not any(
                            arg.startswith('--os-cloud') for arg in argv)
                        else cloudconfig.peek_auth_type(argv))
    cloudconfig.add_arguments(parser, argv, _peeked[key])
    _add_latency(parser, latency)


def _add_latency(parser, latency):
    if latency:
        parser.add_argument('--latency-profile', default=None, metavar='PROFILE',
                            help='embedded cloud latency profile: none, fast, bench or a '
                                 'JSON file (with --embedded)')


def check_latency_profile(profile):
    """--latency-profile names a profile or a readable JSON file: one line if not."""
    if not profile:
        return
    from blockflow.cloud import faults
    try:
        faults.load_profile(profile)
    except (OSError, ValueError, TypeError) as exc:
        reason = 'no such profile or file' if isinstance(exc, FileNotFoundError) else \
            ' '.join(str(exc).split())
        raise exceptions.UsageError(
            f'--latency-profile: {profile}: {reason} (known: none, '
            + ', '.join(sorted(set(faults.PROFILES) - {'none'})) + ', or a JSON file of latencies)')


def _served_at(ref):
    """The auth URL of an embedded cloud that answers now, else None."""
    try:
        with open(ref['config_file'], encoding='utf-8') as stream:
            entry = yaml.safe_load(stream)['clouds'][ref['cloud']]
        auth_url = entry['auth']['auth_url']
        requests.get(auth_url, timeout=1).raise_for_status()
        return auth_url
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError,
            requests.RequestException):
        return None


def served_elsewhere(name):
    """Whether another process serves the embedded cloud ``name`` now."""
    home = cloudconfig.embedded_home(name)
    return _served_at(cloudconfig.embedded_ref(home, name)) is not None


@contextlib.contextmanager
def serving(ref, latency_profile=None):
    """Keep the embedded cloud a reference names served while the block runs."""
    if not ref or not ref.get('embedded') or _served_at(ref):
        yield
        return
    from blockflow.cloud.server import EmbeddedCloud
    check_latency_profile(latency_profile)
    home = ref['embedded']
    if not os.path.isdir(home):
        raise cloudconfig.CloudError(
            reason=f'{cloudconfig.describe(ref)}: its home {home} is gone')
    try:
        cloud = EmbeddedCloud(home, latency_profile=latency_profile, name=ref['cloud'])
    except (OSError, ValueError) as exc:
        raise exceptions.UsageError(f'--embedded: {exc}')
    cloud.start()
    try:
        yield
    finally:
        cloud.stop()


@contextlib.contextmanager
def selected(args, required=True):
    """The reference the options select (embedded: created and served); None if
    nothing is configured and ``required`` is false."""
    if getattr(args, 'embedded', None):
        if any(arg.startswith(('--os-cloud', '--os-auth-url', '--os-auth-type'))
               for arg in getattr(args, 'cloud_argv', ())):
            raise exceptions.UsageError('--embedded names the cloud already: drop '
                                        '--os-cloud/--os-auth-url/--os-auth-type')
        home = cloudconfig.embedded_home(args.embedded)
        os.makedirs(home, mode=0o700, exist_ok=True)
        ref = cloudconfig.embedded_ref(home, args.embedded, cloudconfig.explicit_options(args))
        with serving(ref, getattr(args, 'latency_profile', None)):
            yield ref
        return
    if not required and (not explicit(args) and nothing_configured()
                         or not cloudconfig.configured(args)):
        yield None
        return
    yield cloudconfig.reference_from_args(args)


def explicit(args):
    """Whether the command line itself names a cloud (overriding a persisted one)."""
    if getattr(args, 'embedded', None):
        return True
    argv = getattr(args, 'cloud_argv', ()) or ()
    return any(arg.startswith('--os-') for arg in argv)
