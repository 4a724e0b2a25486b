"""`blockflow cloud serve`: the embedded Cinder/Glance/Keystone cloud on loopback.

It lives in its home (``$XDG_STATE_HOME/blockflow/clouds/NAME``, or
``--state-dir``) and publishes a clouds.yaml there, so ``openstack``/``cinder``
and ``blockflow --os-cloud NAME`` reach it like any other cloud.
"""

import os

from blockflow.cli import base
from blockflow import exceptions


def _merge_into(path, config):
    """Add the cloud's entries to a clouds.yaml (created 0600 if missing)."""
    import yaml
    try:
        with open(path, encoding='utf-8') as stream:
            current = yaml.safe_load(stream) or {}
    except FileNotFoundError:
        current = {}
    except (OSError, yaml.YAMLError) as exc:
        raise exceptions.UsageError(f'--write-clouds-yaml: cannot read {path}: {exc}')
    if not isinstance(current, dict):
        raise exceptions.UsageError(f'--write-clouds-yaml: {path} is not a clouds.yaml')
    current.setdefault('clouds', {}).update(config['clouds'])
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, 'w', encoding='utf-8') as stream:
        yaml.safe_dump(current, stream, default_flow_style=False)


class CloudServe(base.Command):
    """Serve the embedded Keystone v3, Cinder v3 and Glance v2 cloud on loopback.

    Prints where it listens and the clouds.yaml to use; runs until SIGTERM or
    Ctrl-C. A busy port is one line (exit 1): choose another --port.
    """

    def get_parser(self, prog_name):
        from blockflow.clients import cloudconfig
        parser = super().get_parser(prog_name)
        parser.add_argument('--name', default=cloudconfig.EMBEDDED_DEFAULT, metavar='NAME',
                            help='the cloud (and its clouds.yaml entry) name '
                                 f'(default: {cloudconfig.EMBEDDED_DEFAULT})')
        parser.add_argument('--port', type=int, default=8776, metavar='PORT',
                            help='TCP port of the Cinder/Keystone/Glance API (default: 8776)')
        parser.add_argument('--host', default='127.0.0.1', metavar='ADDRESS',
                            help='address to bind (loopback unless you ask otherwise)')
        parser.add_argument('--state-dir', metavar='DIR',
                            help='where volumes and state live '
                                 '(default: $XDG_STATE_HOME/blockflow/clouds/NAME)')
        parser.add_argument('--latency-profile', default=None, metavar='PROFILE',
                            help='none, fast, bench, or a JSON file of latencies')
        parser.add_argument('--write-clouds-yaml', metavar='FILE',
                            help='also add the entries (with passwords) to this clouds.yaml')
        return parser

    def take_action(self, args):
        return _serve(args)


def _serve(args):
    import signal
    import threading

    import yaml

    from blockflow.clients import cloudconfig
    from blockflow import secrets
    from blockflow.cli import cloudopts
    from blockflow.cloud.server import EmbeddedCloud
    cloudopts.check_latency_profile(args.latency_profile)
    state_dir = args.state_dir or cloudconfig.embedded_home(args.name)
    try:
        cloud = EmbeddedCloud(state_dir, args.port, args.host, args.latency_profile,
                              name=args.name)
    except (OSError, ValueError) as exc:
        raise exceptions.UsageError(f'cloud serve: {exc}')
    cloud.start()      # a busy --port: OSError, one line by blockflow.cli.errors
    if args.write_clouds_yaml:
        _merge_into(args.write_clouds_yaml, cloud.clouds_config())
    shown = yaml.safe_dump(secrets.mask(cloud.clouds_config()), default_flow_style=False)
    print(f'blockflow cloud {args.name} on {cloud.url}\n'
          f'  clouds.yaml (with passwords): {cloud.clouds_yaml}\n'
          f'  use: OS_CLIENT_CONFIG_FILE={cloud.clouds_yaml} OS_CLOUD={args.name} '
          f'openstack volume list | blockflow boot REQUEST.json --os-cloud {args.name}\n'
          f'  admin: {cloud.admin_url}/faults, {cloud.admin_url}/counters\n'
          f'{shown}', flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    cloud.stop()
    return 0
