"""What every blockflow task shares: a logger, masking, clients by injection, and
reverts that cannot crash.

Every revert (a class's own or inherited) runs inside ``_never_raising``: an
error is logged masked and the revert is tried again with backoff
(``retrying.REVERT_POLICY``); what still fails is recorded as a leftover
(``blockflow.persistence.records.Leftovers``) and the revert returns, so TaskFlow goes on
reverting every other atom (it stops scheduling reverts after the first one
that raises). The boot flow's first atom (``tasks.undo.CheckLeftovers``)
reverts last: it tries the leftovers again and raises if any remain, so the
flow ends in REVERT_FAILURE naming them, and a resumed revert retries them.
"""

import functools
import logging

from cinderclient import exceptions as cinder_exc
from taskflow import task
from taskflow.types import failure as ft

from blockflow import exceptions
from blockflow.persistence import records
from blockflow.runner import crashpoints
from blockflow import secrets
from tasks import retrying

LOG = logging.getLogger('blockflow.tasks')


class UndoFailed(exceptions.BlockflowError):
    """An undo step that could not be done: what, which, by which call, why."""

    msg_fmt = '%(resource)s %(resource_id)s: %(call)s failed: %(error)s'

    def __init__(self, resource, resource_id, call, error):
        self.resource = resource
        self.resource_id = resource_id
        self.call = call
        self.error = secrets.mask_text(str(error))
        super().__init__(resource=resource, resource_id=resource_id or '?', call=call,
                         error=self.error)


def undo_call(call, resource, resource_id, func, *args, **kwargs):
    """One cloud call of an undo function, named (call, resource, id) when it
    fails. Not retried here: the whole undo function is (``run_undo``)."""
    try:
        return func(*args, **kwargs)
    except UndoFailed:
        raise
    except Exception as exc:
        if isinstance(exc, cinder_exc.NotFound):    # the caller's business: gone is done
            raise
        raise UndoFailed(resource, resource_id, call, exc) from exc


def _with_crashpoints(execute):
    @functools.wraps(execute)
    def crashing_execute(self, *args, **kwargs):
        crashpoints.maybe_crash('before', self.name)
        result = execute(self, *args, **kwargs)
        crashpoints.maybe_crash('inside', self.name)
        return result
    return crashing_execute


# Errors no retry can cure: a bug, or an undo that already used its retries.
_NOT_RETRIED = (UndoFailed, TypeError, AttributeError, KeyError, NameError)


def _never_raising(revert):
    @functools.wraps(revert)
    def safe_revert(self, *args, **kwargs):
        try:
            retrying.retrying(f'{self.name} revert', retrying.REVERT_POLICY,
                              retry_on=lambda exc: not isinstance(exc, _NOT_RETRIED))(
                revert, self, *args, **kwargs)
        except Exception as exc:     # recorded; TaskFlow must go on reverting the rest
            self.record_leftover(kwargs, exc)
        crashpoints.maybe_crash('revert', self.name)
    safe_revert.revert_wrapped = True
    return safe_revert


def raising_revert(revert):
    """Mark the one revert meant to raise (tasks.undo.CheckLeftovers): not wrapped."""
    revert.revert_wrapped = True
    return revert


class BlockflowTask(task.Task):
    """A task whose revert never raises and skips when execute never produced.

    Every subclass's execute and revert pass the named crash points
    (blockflow.runner.crashpoints), so tests can kill the process at each of them.

    ``unstarted`` is set by the engine (``blockflow.runner.engine``) when the atom's
    persisted state says it never started: TaskFlow saves RUNNING before it
    calls execute, so an atom a crash interrupted is RUNNING, never PENDING,
    when its flow is loaded again. Its first execute then needs no look-up by
    identity (``take_unstarted``); any other execute does one.
    """

    unstarted = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if 'execute' in cls.__dict__:
            cls.execute = _with_crashpoints(cls.__dict__['execute'])
        if not getattr(cls.revert, 'revert_wrapped', False):
            cls.revert = _never_raising(cls.revert)

    def __init__(self, clients=None, leftovers_url=None, **kwargs):
        super().__init__(**kwargs)
        self.clients = clients
        self.leftovers_url = leftovers_url

    def revert(self, *args, **kwargs):
        """Nothing to undo (tasks that make something override this)."""

    def take_unstarted(self):
        """True once, for the first execute of an atom that never ran before."""
        unstarted, self.unstarted = self.unstarted, False
        return unstarted

    @staticmethod
    def produced(result):
        return result is not None and not isinstance(result, ft.Failure)

    @staticmethod
    def failed_before_acting(result):
        """The execute failed with an answer saying the cloud did nothing (a 4xx)."""
        if not isinstance(result, ft.Failure) or result.exception is None:
            return False
        return not retrying.may_have_acted(result.exception)

    def warn(self, message, *args):
        LOG.warning('%s: ' + message, self.name, *[secrets.mask(a) for a in args])

    def run_undo(self, name, device_name, /, **args):
        """Run ``tasks.undo.UNDO[name](clients, **args)`` (its calls already
        retried); a failure becomes a leftover the flow's last revert retries."""
        from tasks import undo
        try:
            retrying.retrying(f'{self.name}: {name}', retrying.REVERT_POLICY,
                              retry_on=lambda exc: True)(undo.run, name, self.clients, args)
        except Exception as exc:
            self.record_leftover({'device': {'device_name': device_name}, **args}, exc,
                                 undo_name=name, undo_args=args)

    def record_leftover(self, kwargs, exc, undo_name=None, undo_args=None):
        instance_uuid = kwargs.get('instance_uuid')
        device_name = (kwargs.get('device') or {}).get('device_name')
        resource = getattr(exc, 'resource', None) or self.name
        resource_id = getattr(exc, 'resource_id', None)
        call = getattr(exc, 'call', None) or 'revert'
        error = secrets.mask_text(getattr(exc, 'error', None) or str(exc))
        LOG.error('%s: could not undo %s %s (%s: %s); recorded as a leftover', self.name,
                  resource, resource_id or '', call, error)
        if not (self.leftovers_url and instance_uuid):
            return
        try:
            records.Leftovers(self.leftovers_url).add(
                instance_uuid, device_name, resource, resource_id, call, error,
                undo=undo_name, undo_args=undo_args)
        except Exception as store_exc:   # the log line above still names it
            LOG.error('%s: could not record the leftover: %s', self.name,
                      secrets.mask_text(str(store_exc)))
