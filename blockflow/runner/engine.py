"""Engines, persistence and listeners: everything about running flows, in one place.

Flows are declared in flows/; this module loads them from their factory into
a persisted parallel engine (a long-lived thread pool, as the measured
TaskFlow facts advise), runs them, and turns the outcome into a summary.
Its state changes are committed once per engine iteration, before any atom
starts (``persistence.group_commit``). A flow is saved in one transaction and
runs only under its claim
(``persistence.claims``); a flow whose revert failed is reopened for resume.
"""

import atexit
import concurrent.futures
import contextlib
import functools
import gc
import importlib
import logging
import os
import threading
import uuid

from taskflow import engines
from taskflow import exceptions as tf_exc
from taskflow import states
from taskflow.listeners import timing
from taskflow.persistence import models
from taskflow.types import failure as failure_type

from blockflow.persistence import claims
from blockflow.persistence import group_commit
from blockflow.runner import crashpoints
from blockflow import secrets

LOG = logging.getLogger('blockflow.engine')
# Waiting devices hold a worker each (TaskFlow tasks are threads); threads start
# only when used, so a large cap costs nothing for small boots.
DEFAULT_WORKERS = 512
_EXECUTOR = None
_EXECUTOR_LOCK = threading.Lock()
ATOM_KINDS = ('task', 'retry')
# Atom meta key: the execute result a revert started from (see _keep_revert_input).
REVERT_INPUT_KEY = 'blockflow_revert_input'
# Claims save_new_flow took for flows this process is about to run.
_LEASES = {}
_LEASES_LOCK = threading.Lock()


def executor(max_workers=DEFAULT_WORKERS):
    """The process's one pool for atoms (the standard library's: its idle
    workers stop at once when it shuts down, where futurist's each sleep out
    a 1 s queue timeout first, at every exit)."""
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = concurrent.futures.ThreadPoolExecutor(
                max_workers=max_workers, thread_name_prefix='blockflow-atom')
            atexit.register(_at_exit)
            # Everything imported by now lives as long as the process: keep
            # the collector's full sweeps during flows off that heap (once).
            gc.freeze()
        return _EXECUTOR


def shutdown_executor(wait=True):
    """Stop the atom pool (a later ``executor()`` makes a new one)."""
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        pool, _EXECUTOR = _EXECUTOR, None
    if pool is not None:
        pool.shutdown(wait=wait)


def _at_exit():
    # Everything is flushed, closed and released by now (claims in run(),
    # sqlite per transaction), so the interpreter's last garbage collection
    # would only walk the import heap: freezing it skips that sweep.
    shutdown_executor()
    gc.freeze()


class BootOutcome:
    def __init__(self, flow_id, state, atoms, failure=None):
        self.flow_id = flow_id
        self.state = state
        self.atoms = atoms
        self.failure = failure

    @property
    def ok(self):
        return self.state == states.SUCCESS


def _engine_options(backend, keep_on_failure):
    # Per engine: atoms start once the iteration's state changes are committed.
    return {'executor': group_commit.executor_for(backend, executor()),
            'never_resolve': bool(keep_on_failure)}


def save_new_flow(backend, factory, factory_kwargs, meta, claim=True):
    """Persist a logbook and flow detail for a new boot; returns (flow, book, detail).

    The flow becomes visible to other processes whole or not at all: the
    factory details go into the flow detail's meta (as TaskFlow's
    save_factory_details does without a backend) and one save_logbook writes
    book, flow detail and meta in a single transaction. With ``claim`` the
    flow is claimed for this process before it is saved, so no concurrent
    ``resume --all`` picks up a flow that is still booting here; ``run``
    keeps that claim renewed and releases it at the end.
    """
    factory_fn = reflection_import(factory)
    flow = factory_fn(**factory_kwargs)
    book = models.LogBook(f"instance-{meta['instance_uuid']}")
    flow_detail = models.FlowDetail(flow.name, str(uuid.uuid4()))
    flow_detail.meta.update(meta)
    # Stores the factory's name and arguments, so any process can rebuild it.
    engines.save_factory_details(flow_detail, factory_fn, (), factory_kwargs)
    book.add(flow_detail)
    if claim:
        _hold(claims.Lease.acquire(backend, flow_detail.uuid))
        crashpoints.maybe_crash('save', 'claimed')
    with contextlib.closing(backend.get_connection()) as conn:
        conn.save_logbook(book)
    crashpoints.maybe_crash('save', 'saved')
    return flow, book, flow_detail


def load_boot(backend, factory, factory_kwargs, meta, keep_on_failure=False,
              notifier=None):
    flow, book, flow_detail = save_new_flow(backend, factory, factory_kwargs, meta)
    try:
        engine = engines.load(flow, flow_detail=flow_detail, book=book, backend=backend,
                              engine='parallel',
                              **_engine_options(backend, keep_on_failure))
        _mark_unstarted(engine, fresh=True)
        _register(engine, notifier)
    except Exception:
        # Never to be run here: let a resume have it now, not at the claim's expiry.
        if (lease := _take_held(flow_detail.uuid)) is not None:
            lease.release()
        raise
    return engine


def _register(engine, notifier):
    # A flow about to run will attach or detach on this host: os-brick's
    # connector probe (a fraction of a second of external commands) starts
    # now, beside the engine's own start, not when the first volume is ready.
    from blockflow.clients.hypervisor import connectors
    connectors.prefetch()
    # Durations land in each atom's persisted metadata: `blockflow show` reads them.
    timing.DurationListener(engine).register()
    keep_revert_inputs(engine)
    if notifier:
        engine.atom_notifier.register('*', notifier)
    if os.environ.get(crashpoints.ENV):
        engine.atom_notifier.register(states.SUCCESS,
                                      functools.partial(_crash_after_committed, engine))


def _crash_after_committed(engine, state, details):
    # Crash tests only: "after:<atom>" means after its SUCCESS is committed,
    # which group commit would otherwise do at the end of the iteration.
    held = engine.options.get('executor')
    if isinstance(held, group_commit.HeldExecutor):
        held.connection.flush()
    crashpoints.crash_after_saved(state, details)


def keep_revert_inputs(engine):
    """Let failed reverts of this engine's flow be re-run later (reopen_failed_reverts)."""
    engine.atom_notifier.register(states.REVERTING,
                                  functools.partial(_keep_revert_input, engine))


def _keep_revert_input(engine, _state, details):
    """Keep the result a revert starts from in the atom's meta.

    TaskFlow drops an atom's execute result when its revert fails
    (REVERT_FAILURE); re-running that revert later (``reopen_failed_reverts``)
    needs the result to know what to undo.
    """
    name = details.get('task_name')
    if not name:
        return
    try:
        result = engine.storage.get_execute_result(name)
    except tf_exc.NotFound:
        return
    if result is not None and not isinstance(result, failure_type.Failure):
        engine.storage.update_atom_metadata(name, {REVERT_INPUT_KEY: result})


def reflection_import(dotted):
    module_name, _dot, attr = dotted.rpartition('.')
    return getattr(importlib.import_module(module_name), attr)


def load_existing(backend, flow_detail, book, keep_on_failure=False, notifier=None):
    engine = engines.load_from_detail(flow_detail, book=book, backend=backend,
                                      engine='parallel',
                                      **_engine_options(backend, keep_on_failure))
    _mark_unstarted(engine, fresh=False)
    _register(engine, notifier)
    return engine


def _mark_unstarted(engine, fresh):
    """Tell each task whether it never started (``BlockflowTask.unstarted``).

    A new flow's atoms never ran. A loaded flow's atom never ran when its
    saved state is PENDING (or it has none yet): TaskFlow saves RUNNING, in
    its own transaction, before it calls execute (the boot flow has no retry
    controllers, which could set a run atom back to PENDING).
    """
    engine.compile()
    for node, data in engine.compilation.execution_graph.nodes(data=True):
        if data.get('kind') != 'task' or not hasattr(node, 'unstarted'):
            continue
        if fresh:
            node.unstarted = True
            continue
        try:
            node.unstarted = engine.storage.get_atom_state(node.name) == states.PENDING
        except tf_exc.NotFound:
            node.unstarted = True


def _hold(lease):
    with _LEASES_LOCK:
        _LEASES[lease.flow_uuid] = lease


def _take_held(flow_uuid):
    with _LEASES_LOCK:
        return _LEASES.pop(flow_uuid, None)


def run(engine, lease=None):
    """Run to the end; return a BootOutcome (never raises for a flow failure).

    ``lease`` (or the claim ``save_new_flow`` took for this flow) is renewed
    while the engine runs and released at the end; losing it to another
    process suspends the engine.
    """
    lease = lease or _take_held(engine.storage.flow_uuid)
    if lease is not None:
        lease.keep(on_lost=functools.partial(_suspend, engine))
    failure = None
    try:
        group_commit.run(engine)
    except tf_exc.WrappedFailure as exc:
        failure = secrets.mask_text('; '.join(f.exception_str for f in exc))
    except Exception as exc:  # the flow failed (and, by default, reverted)
        failure = secrets.mask_text(str(exc))
    finally:
        if lease is not None:
            lease.release()
    atoms = atom_states(engine)
    state = outcome_state(engine.storage.get_flow_state(), atoms.values())
    if lease is not None and lease.lost:
        failure = f'stopped: {failure or "the flow was claimed by another process"}'
    return BootOutcome(engine.storage.flow_uuid, state, atoms, failure)


def _suspend(engine):
    with contextlib.suppress(Exception):
        engine.suspend()


def atom_states(engine):
    """{atom name: state} of a compiled engine's tasks and retries."""
    compilation = engine.compilation
    if compilation is None:
        return {}
    names = [node.name for node, data in compilation.execution_graph.nodes(data=True)
             if data.get('kind') in ATOM_KINDS]
    return {name: state for name, (state, _intention)
            in engine.storage.get_atoms_states(names).items()}


def outcome_state(flow_state, atom_states_):
    """The flow's state, or REVERT_FAILURE for a failed flow with an unfinished revert.

    TaskFlow ends such a flow FAILURE; REVERT_FAILURE tells it apart from a
    failure kept for inspection (--keep-on-failure), which has nothing to undo.
    """
    if flow_state == states.FAILURE and states.REVERT_FAILURE in set(atom_states_):
        return states.REVERT_FAILURE
    return flow_state


def revert_unfinished(flow_detail):
    """True when a failed flow still has reverts to (re)run.

    An atom failed reverting (REVERT_FAILURE), is mid-revert (REVERTING), or
    was meant to be reverted but never was (intention REVERT, state SUCCESS or
    FAILURE: reverts stop below an atom whose revert failed).
    """
    for atom_detail in flow_detail:
        if atom_detail.state in (states.REVERT_FAILURE, states.REVERTING):
            return True
        if (atom_detail.intention == states.REVERT
                and atom_detail.state in (states.SUCCESS, states.FAILURE)):
            return True
    return False


def is_unfinished(flow_detail):
    if flow_detail.state == states.FAILURE:
        return revert_unfinished(flow_detail)
    return flow_detail.state not in (states.SUCCESS, states.REVERTED)


def reopen_failed_reverts(engine, flow_detail):
    """Make every REVERT_FAILURE atom of a loaded engine revert again on ``run``.

    An atom left REVERTING is what a crash mid-revert leaves, and TaskFlow
    re-runs its revert on resume; a failed revert is put back in that state,
    with the execute result it was reverting (kept by _keep_revert_input, as
    TaskFlow cleared it) so the revert knows what to undo. ``flow_detail`` is
    the one the engine was loaded from. Returns the names reopened.
    """
    storage = engine.storage
    reopened = []
    for atom_detail in flow_detail:
        if atom_detail.state != states.REVERT_FAILURE:
            continue
        kept = (atom_detail.meta or {}).get(REVERT_INPUT_KEY)
        if kept is not None and atom_detail.failure is None:
            storage.save(atom_detail.name, kept, states.SUCCESS)
        storage.set_atom_intention(atom_detail.name, states.REVERT)
        storage.set_atom_state(atom_detail.name, states.REVERTING)
        reopened.append(atom_detail.name)
    return reopened


def unfinished(backend):
    """(book, flow detail) of every flow a resume should pick up."""
    with contextlib.closing(backend.get_connection()) as conn:
        for book in conn.get_logbooks():
            for flow_detail in book:
                if is_unfinished(flow_detail):
                    yield book, flow_detail
