"""Resume unfinished flows: each on its own, each claimed first, each reported.

A flow is claimed (``persistence.claims``) before it is read and run, and
read again after the claim, so two resumers started together never run one
flow: the loser reports who holds it, or that it has finished meanwhile.
One flow that cannot be rebuilt, fails or is held elsewhere does not stop
the others.
"""

import contextlib
import dataclasses

from taskflow import exceptions as tf_exc
from taskflow import states

from blockflow import exceptions
from blockflow.clients import hypervisor
from blockflow import secrets
from blockflow.inspect import graph
from blockflow.persistence import claims
from blockflow.runner import engine as engine_module

RAN = 'ran'
CLAIMED = 'claimed'
FINISHED = 'finished'
UNBUILDABLE = 'unbuildable'
GONE = 'gone'
ERROR = 'error'
JOB = 'job'
# Flow detail meta key of flows posted to a jobboard: conductors run those.
JOBBOARD_META_KEY = 'jobboard'


@dataclasses.dataclass
class FlowResult:
    flow_id: str
    instance_uuid: str
    kind: str
    state: str | None = None
    detail: str | None = None
    reopened: tuple = ()
    request_id: str | None = None

    @property
    def failed(self):
        """Did resuming this flow leave the boot undone (non-zero exit)?"""
        if self.kind == RAN:
            return self.state != states.SUCCESS
        return self.kind in (UNBUILDABLE, GONE, ERROR)

    def line(self):
        text = self._line()
        if self.failed and self.request_id:
            text += f' [request {self.request_id}]'
        return text

    def _line(self):
        head = f'flow {self.flow_id}'
        if self.kind == RAN:
            return f'{head}: {self.state}' + (f' ({self.detail})' if self.detail else '')
        if self.kind == CLAIMED:
            return f'{head}: not resumed, {self.detail}'
        if self.kind == FINISHED:
            return f'{head}: not resumed, already {self.state} (finished by another process)'
        if self.kind == UNBUILDABLE:
            return f'{head}: cannot be rebuilt: {self.detail}'
        if self.kind == ERROR:
            return f'{head}: could not be resumed: {self.detail}'
        if self.kind == JOB:
            return (f'{head}: not resumed, posted to a jobboard (its conductors run it; '
                    '`resume FLOW_ID` runs it here)')
        return f'{head}: {self.detail}'

    def to_dict(self):
        return {'flow_id': self.flow_id, 'instance_uuid': self.instance_uuid,
                'outcome': self.kind, 'state': self.state, 'detail': self.detail,
                'reopened_reverts': list(self.reopened), 'request_id': self.request_id}


def instance_of(flow_detail):
    return (flow_detail.meta or {}).get('instance_uuid', '')


def _libvirt_uri(flow_detail):
    """The libvirt URI the flow's factory was given (TaskFlow keeps its arguments)."""
    factory = (flow_detail.meta or {}).get('factory') or {}
    return (factory.get('kwargs') or {}).get('libvirt_uri')


def _fresh(backend, flow_uuid):
    with contextlib.closing(backend.get_connection()) as conn:
        try:
            return conn.get_flow_details(flow_uuid)
        except tf_exc.NotFound:
            return None


def resume_flow(backend, flow_uuid, notifier_for=None, expiry=None, only_unfinished=True,
                around=None):
    """Claim, re-read, rebuild and run one flow; returns its FlowResult.

    ``notifier_for(flow_detail)`` gives the atom notifier of the run;
    ``around(flow_detail)`` a context manager the flow is rebuilt and run in
    (its cloud: served, found reachable).
    With ``only_unfinished`` a flow that another process has finished
    meanwhile is left alone.
    """
    try:
        lease = claims.Lease.acquire(backend, flow_uuid, expiry)
    except claims.FlowClaimed as exc:
        return FlowResult(flow_uuid, '', CLAIMED, detail=str(exc))
    instance, request_id = '', None
    try:
        flow_detail = _fresh(backend, flow_uuid)
        if flow_detail is None:
            return FlowResult(flow_uuid, '', GONE, detail='no such flow (deleted meanwhile)')
        instance = instance_of(flow_detail)
        request_id = (flow_detail.meta or {}).get('request_id')
        if only_unfinished and not engine_module.is_unfinished(flow_detail):
            return FlowResult(flow_uuid, instance, FINISHED, state=flow_detail.state)
        hypervisor.warm_up(_libvirt_uri(flow_detail))
        notifier = notifier_for(flow_detail) if notifier_for else None
        with around(flow_detail) if around else contextlib.nullcontext():
            try:
                engine = engine_module.load_existing(backend, flow_detail, None,
                                                     notifier=notifier)
            except Exception as exc:    # no factory saved, factory gone or failing
                return FlowResult(flow_uuid, instance, UNBUILDABLE,
                                  detail=secrets.mask_text(str(exc)), request_id=request_id)
            reopened = engine_module.reopen_failed_reverts(engine, flow_detail)
            outcome, lease = engine_module.run(engine, lease=lease), None   # run releases it
        return FlowResult(flow_uuid, instance, RAN, state=outcome.state,
                          detail=outcome.failure, reopened=tuple(reopened),
                          request_id=request_id)
    except Exception as exc:    # e.g. cloud or database gone: the next flow may fare better
        return FlowResult(flow_uuid, instance, ERROR, detail=secrets.mask_text(str(exc)),
                          request_id=request_id)
    finally:
        if lease is not None:
            lease.release()


def resume_all(backend, notifier_for=None, expiry=None, around=None):
    """Resume every unfinished flow, one at a time; yields a FlowResult each."""
    listed = [flow_detail for _book, flow_detail in engine_module.unfinished(backend)]
    for flow_detail in listed:
        # A job's flow is its conductors' while the job is on the board; a
        # conductor consumes the job when the engine ends, so a failed revert
        # (the flow's FAILURE) is left to resume.
        if ((flow_detail.meta or {}).get(JOBBOARD_META_KEY)
                and flow_detail.state != states.FAILURE):
            yield FlowResult(flow_detail.uuid, instance_of(flow_detail), JOB,
                             state=flow_detail.state)
            continue
        yield resume_flow(backend, flow_detail.uuid, notifier_for, expiry, around=around)


def resume(backend, flow_id=None, every=False, notifier_for=None, expiry=None, around=None):
    """`blockflow resume`: every unfinished flow, or the one FLOW_ID (a unique
    prefix will do) whatever its state; yields a FlowResult per flow."""
    expiry = expiry or claims.default_expiry()      # a bad setting fails before any work
    if every:
        yield from resume_all(backend, notifier_for, expiry, around)
        return
    if not flow_id:
        raise exceptions.UsageError('resume: give FLOW_ID or --all')
    with contextlib.closing(backend.get_connection()) as conn:
        try:
            _book, flow_detail = graph.find_flow_detail(conn, flow_id)
        except graph.FlowNotFound as exc:
            raise exceptions.UsageError(f'flow {exc}: no such flow') from None
    yield resume_flow(backend, flow_detail.uuid, notifier_for, expiry, only_unfinished=False,
                      around=around)


def exit_code(results, every):
    """1 if a flow was left undone; a flow held elsewhere counts only when named."""
    return 1 if any(r.failed or (r.kind == CLAIMED and not every) for r in results) else 0
