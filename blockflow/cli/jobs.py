"""`blockflow conductor` and `blockflow jobs`: boots on a shared jobboard."""

import contextlib
import logging

from blockflow.cli import base

LOG = logging.getLogger('blockflow.conductor')


@contextlib.contextmanager
def board(url, backend, claim_expiry=None):
    """The jobboard at ``url``, connected; one line if its server cannot be reached."""
    from blockflow.runner import jobboard
    from blockflow.cli import errors
    conf = jobboard.board_conf(url)         # an unknown scheme: UsageError
    kwargs = {} if claim_expiry is None else {'claim_expiry': claim_expiry}
    try:
        connected = jobboard.get_jobboard(url, backend, **kwargs)
    except ModuleNotFoundError as exc:
        raise errors.missing_extra(exc.name) or exc
    except Exception as exc:
        raise errors.EnvironmentFailure(
            f'--jobboard: cannot reach the {conf["board"]} jobboard at {url}: '
            f'{" ".join(str(exc).split())}') from exc
    try:
        yield connected
    finally:
        connected.close()


def _job_count(text):
    import argparse
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f'{text!r} is not a whole number of at least 1')
    return int(text)


class Conductor(base.Command):
    """Run boots posted on a jobboard, each in the cloud its boot was made for.

    Logs each job it claims, finishes or gives up. ``--embedded NAME`` also
    serves that embedded cloud from here; explicit --os-* options override
    the cloud each job recorded.
    """

    def get_parser(self, prog_name):
        from blockflow.runner import jobboard
        parser = super().get_parser(prog_name)
        base.add_jobboard(parser, required=True)
        base.add_connection(parser, 'shared persistence backend')
        parser.add_argument('--name', metavar='NAME',
                            help='conductor name shown as job owner (default: HOST-conductor)')
        parser.add_argument('--claim-expiry', type=float, metavar='SECONDS',
                            default=jobboard.CLAIM_EXPIRY_S,
                            help='seconds a claim lasts unless extended; a dead conductor\'s '
                                 'job is taken over after that '
                                 f'(default: {jobboard.CLAIM_EXPIRY_S})')
        parser.add_argument('--max-jobs', type=_job_count, metavar='N',
                            default=jobboard.MAX_JOBS,
                            help=f'boots run at once (default: {jobboard.MAX_JOBS})')
        from blockflow.cli import cloudopts
        cloudopts.add(parser)
        return parser

    def take_action(self, args):
        from blockflow.clients import cloudconfig
        from blockflow.cli import cloudopts
        if cloudopts.explicit(args):
            with cloudopts.selected(args) as ref:
                cloudconfig.set_override(None if args.embedded else ref)
                try:
                    return self._run(args)
                finally:
                    cloudconfig.set_override(None)
        return self._run(args)

    def _run(self, args):
        import signal
        import socket

        from blockflow.runner import jobboard
        from blockflow import persistence
        backend = persistence.get_backend(args.connection)
        try:
            with board(args.jobboard, backend, args.claim_expiry) as connected:
                name = args.name or f'{socket.gethostname()}-conductor'
                conductor = jobboard.make_conductor(name, connected, backend,
                                                    args.claim_expiry, args.max_jobs)
                _log_jobs(conductor)
                signal.signal(signal.SIGTERM, lambda *a: conductor.stop())
                print(f'conductor {name} on {args.jobboard}', flush=True)
                try:
                    conductor.run()
                except KeyboardInterrupt:
                    conductor.stop()
        finally:
            backend.close()
        return 0


def _log_jobs(conductor):
    """One INFO line per job claimed, finished or given up (TaskFlow's conductor events)."""
    LOG.setLevel(logging.INFO)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter('%(asctime)s conductor: %(message)s'))
    LOG.addHandler(handler)
    LOG.propagate = False

    def on_event(event, details):
        job = details.get('job')
        what = f'job {job.uuid} ({job.name})' if job is not None else 'job'
        if event == 'job_consumed':
            LOG.info('%s finished', what)
        elif event == 'job_abandoned':
            LOG.info('%s given up (left for another conductor)', what)
        elif event == 'running_start':
            LOG.info('%s claimed, running', what)
        elif event == 'running_end':
            LOG.info('%s ran', what)
    for event in ('job_consumed', 'job_abandoned', 'running_start', 'running_end'):
        conductor.notifier.register(event, on_event)


JOB_COLUMNS = ('Job', 'State', 'Owner', 'Name', 'Outcome')


class ListJobs(base.Lister):
    """List boots on a jobboard: state, owner and (with --all) finished jobs' outcome.

    A consumed job leaves the board; --all adds the boots posted to the
    jobboard whose flows have finished, with the flow's final state.
    ``-f json`` prints {"jobs": [...]}.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        base.add_jobboard(parser, required=True)
        base.add_connection(parser, 'shared persistence backend')
        parser.add_argument('--all', action='store_true',
                            help='also the finished jobs (from the persisted flows)')
        return parser

    def take_action(self, args):
        from blockflow.runner import jobboard
        from blockflow import persistence
        backend = persistence.get_backend(args.connection)
        try:
            with board(args.jobboard, backend) as connected:
                rows = jobboard.list_jobs(connected)
            if args.all:
                rows += _finished(backend, {row['name'] for row in rows})
        finally:
            backend.close()
        self.document = {'jobs': rows}
        return JOB_COLUMNS, [(r['job_id'], r['state'], base.table_ok(r['owner']), r['name'],
                              base.table_ok(r.get('outcome'))) for r in rows]


def _finished(backend, on_board):
    """Boots once posted to the jobboard whose flows ended: they left the board."""
    from blockflow.runner import resume
    from blockflow.inspect import report
    rows = []
    with contextlib.closing(backend.get_connection()) as conn:
        for book in conn.get_logbooks():
            for flow_detail in book:
                meta = flow_detail.meta or {}
                name = f"boot-{meta.get('instance_uuid')}"
                if (not meta.get(resume.JOBBOARD_META_KEY) or name in on_board
                        or flow_detail.state not in report.FINISHED_FLOW_STATES):
                    continue
                rows.append({'job_id': None, 'name': name, 'state': 'COMPLETE',
                             'owner': None, 'flow_id': flow_detail.uuid,
                             'outcome': flow_detail.state,
                             'created_on': (book.created_at.isoformat(timespec='seconds')
                                            if book.created_at else None)})
    return rows
