"""Engines, persistence and listeners: everything about running flows, in one place.

Flows are declared in flows/; this module loads them from their factory into
a persisted parallel engine (a long-lived thread pool, as the measured
TaskFlow facts advise), runs them, and turns the outcome into a summary.
"""

import contextlib
import importlib
import logging
import os
import threading
import uuid

import futurist
from taskflow import engines
from taskflow import exceptions as tf_exc
from taskflow import states
from taskflow.listeners import timing
from taskflow.persistence import models

from blockflow import crashpoints
from blockflow import persistence
from blockflow import secrets

LOG = logging.getLogger('blockflow.engine')
# Waiting devices hold a worker each (TaskFlow tasks are threads); threads start
# only when used, so a large cap costs nothing for small boots.
DEFAULT_WORKERS = 512
_EXECUTOR = None
_EXECUTOR_LOCK = threading.Lock()


def executor(max_workers=DEFAULT_WORKERS):
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = futurist.ThreadPoolExecutor(max_workers=max_workers)
        return _EXECUTOR


class BootOutcome:
    def __init__(self, flow_id, state, atoms, failure=None):
        self.flow_id = flow_id
        self.state = state
        self.atoms = atoms
        self.failure = failure

    @property
    def ok(self):
        return self.state == states.SUCCESS


def _engine_options(keep_on_failure):
    return {'executor': executor(), 'never_resolve': bool(keep_on_failure)}


def save_new_flow(backend, factory, factory_kwargs, meta):
    """Persist a logbook and flow detail for a new boot; returns (flow, book, detail)."""
    factory_fn = reflection_import(factory)
    flow = factory_fn(**factory_kwargs)
    book = models.LogBook(f"instance-{meta['instance_uuid']}")
    flow_detail = models.FlowDetail(flow.name, str(uuid.uuid4()))
    flow_detail.meta.update(meta)
    book.add(flow_detail)
    with contextlib.closing(backend.get_connection()) as conn:
        conn.save_logbook(book)
    # Stores the factory's name and arguments, so any process can rebuild it.
    engines.save_factory_details(flow_detail, factory_fn, (), factory_kwargs,
                                 backend=backend)
    return flow, book, flow_detail


def load_boot(backend, factory, factory_kwargs, meta, keep_on_failure=False,
              notifier=None):
    flow, book, flow_detail = save_new_flow(backend, factory, factory_kwargs, meta)
    engine = engines.load(flow, flow_detail=flow_detail, book=book, backend=backend,
                          engine='parallel', **_engine_options(keep_on_failure))
    _register(engine, notifier)
    return engine


def _register(engine, notifier):
    # Durations land in each atom's persisted metadata: `blockflow show` reads them.
    timing.DurationListener(engine).register()
    if notifier:
        engine.atom_notifier.register('*', notifier)
    if os.environ.get(crashpoints.ENV):
        engine.atom_notifier.register('*', crashpoints.crash_after_saved)


def reflection_import(dotted):
    module_name, _dot, attr = dotted.rpartition('.')
    return getattr(importlib.import_module(module_name), attr)


def load_existing(backend, flow_detail, book, keep_on_failure=False, notifier=None):
    engine = engines.load_from_detail(flow_detail, book=book, backend=backend,
                                      engine='parallel', **_engine_options(keep_on_failure))
    _register(engine, notifier)
    return engine


def run(engine):
    """Run to the end; return a BootOutcome (never raises for a flow failure)."""
    failure = None
    try:
        engine.run()
    except tf_exc.WrappedFailure as exc:
        failure = secrets.mask_text('; '.join(str(f.exception) for f in exc))
    except Exception as exc:  # the flow failed (and, by default, reverted)
        failure = secrets.mask_text(str(exc))
    flow_detail = engine.storage._flowdetail
    atoms = {ad.name: ad.state for ad in flow_detail
             if not ad.name.startswith('_TaskFlow_')}
    return BootOutcome(engine.storage.flow_uuid, engine.storage.get_flow_state(), atoms,
                       failure)


def unfinished(backend):
    with contextlib.closing(backend.get_connection()) as conn:
        for book in conn.get_logbooks():
            for flow_detail in book:
                if flow_detail.state not in (states.SUCCESS, states.FAILURE,
                                             states.REVERTED):
                    yield book, flow_detail


def default_backend(url=None):
    return persistence.get_backend(url)
