"""`blockflow conductor` and `blockflow jobs`: boots on a shared jobboard."""

import signal
import socket

from blockflow import cloudconfig
from blockflow import jobboard
from blockflow import persistence
from blockflow.cli import cloudopts
from blockflow.cli import output


def _conductor(args):
    """Each job runs in the cloud its boot was made for; ``--embedded NAME`` also
    serves that embedded cloud from here, explicit --os-* options override."""
    if cloudopts.explicit(args):
        with cloudopts.selected(args) as ref:
            cloudconfig.set_override(None if args.embedded else ref)
            try:
                return _run_conductor(args)
            finally:
                cloudconfig.set_override(None)
    return _run_conductor(args)


def _run_conductor(args):
    backend = persistence.get_backend(args.connection)
    board = jobboard.get_jobboard(args.jobboard, backend, args.claim_expiry)
    name = args.name or f'{socket.gethostname()}-conductor'
    conductor = jobboard.make_conductor(name, board, backend, args.claim_expiry)
    signal.signal(signal.SIGTERM, lambda *a: conductor.stop())
    print(f'conductor {name} on {args.jobboard}', flush=True)
    try:
        conductor.run()
    except KeyboardInterrupt:
        conductor.stop()
    finally:
        board.close()
        backend.close()
    return 0


def _jobs(args):
    backend = persistence.get_backend(args.connection)
    board = jobboard.get_jobboard(args.jobboard, backend)
    try:
        rows = jobboard.list_jobs(board)
    finally:
        board.close()
        backend.close()
    if args.format == 'json':
        output.print_json({'jobs': rows})
    else:
        for row in rows:
            print(f"{row['job_id']}  {row['state']:9}  {row['owner'] or '-':30}  {row['name']}")
    return 0


def register(subparsers):
    conductor = subparsers.add_parser('conductor', help='run boots posted on a jobboard')
    conductor.add_argument('--jobboard', required=True, metavar='URL',
                           help='redis://HOST:PORT[/db] (or zookeeper://HOST:PORT)')
    conductor.add_argument('--connection', metavar='URL', help='shared persistence backend')
    conductor.add_argument('--name')
    conductor.add_argument('--claim-expiry', type=float, default=jobboard.CLAIM_EXPIRY_S)
    cloudopts.add(conductor)
    conductor.set_defaults(func=_conductor)
    jobs = subparsers.add_parser('jobs', help='jobs on a jobboard')
    jobs.add_argument('--jobboard', required=True, metavar='URL')
    jobs.add_argument('--connection', metavar='URL')
    jobs.add_argument('-f', '--format', choices=('table', 'json'), default='table')
    jobs.set_defaults(func=_jobs)
