"""`blockflow cloud serve`: the embedded Cinder/Glance/Keystone cloud on loopback."""

import signal
import threading

from blockflow import exceptions


def _serve(args):
    from blockflow.cloud import app
    from blockflow.cloud.server import EmbeddedCloud
    try:
        cloud = EmbeddedCloud(args.state_dir, args.port, args.host, args.latency_profile)
    except (OSError, ValueError) as exc:
        raise exceptions.UsageError(f'cloud serve: {exc}')
    cloud.start()
    print(f'blockflow cloud on {cloud.url}\n'
          f'  OS_AUTH_URL={cloud.auth_url} OS_USERNAME=admin '
          f'OS_PROJECT_NAME=blockflow OS_USER_DOMAIN_NAME=Default '
          f'OS_PROJECT_DOMAIN_NAME=Default (password: see blockflow.cloud.app.USERS)\n'
          f'  admin: {cloud.admin_url}/faults, {cloud.admin_url}/counters', flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    cloud.stop()
    return 0


def register(subparsers):
    cloud = subparsers.add_parser('cloud', help='the embedded cloud')
    sub = cloud.add_subparsers(dest='cloud_command', metavar='ACTION')
    sub.required = True
    serve = sub.add_parser('serve', help='serve Keystone v3, Cinder v3 and Glance v2 on loopback')
    serve.add_argument('--port', type=int, default=8776)
    serve.add_argument('--host', default='127.0.0.1',
                       help='address to bind (loopback unless you ask otherwise)')
    serve.add_argument('--state-dir', required=True, help='where volumes and state live')
    serve.add_argument('--latency-profile', default=None,
                       help='none, fast, bench, or a JSON file of latencies')
    serve.set_defaults(func=_serve)
