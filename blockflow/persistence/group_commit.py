"""One transaction per engine iteration: TaskFlow's state changes, group-committed.

TaskFlow's parallel engine saves each atom's state on its own as it
schedules (RUNNING, then submits the atom) and as it completes atoms
(SUCCESS with the result, FAILURE, ...). An iteration that completes and
starts dozens of atoms costs dozens of transactions, all in the one engine
thread every atom waits for.

Here the engine's thread runs inside the lean connection's ``grouped()``,
which holds those writes, and atoms are started through a ``HeldExecutor``
that keeps each submitted atom until ``release()``. The engine announces
every wait (it yields WAITING before it waits for any atom): there
``release()`` commits every held state change in one transaction, then
starts the held atoms. So no atom starts (and no side effect happens) before
its own RUNNING and every state before it are committed: the state a crash
can leave is one TaskFlow could leave too, just reached in fewer commits.

Backends other than the lean one (memory, dir, zookeeper) run unchanged.
"""

import concurrent.futures
import threading

from taskflow import states

# The engine yields this before it waits for atoms: the end of an iteration.
_ITERATION_END = states.WAITING


class HeldExecutor(concurrent.futures.Executor):
    """An executor that starts what it is given only at ``release()``.

    Futures are returned at once (TaskFlow keeps them to wait on); the work
    goes to the shared pool once the connection's held writes are committed.
    """

    def __init__(self, pool, connection):
        self._pool = pool
        self.connection = connection
        self._held = []
        self._lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs):
        future = concurrent.futures.Future()
        with self._lock:
            self._held.append((future, fn, args, kwargs))
        if not self.connection.is_grouping():
            # Run outside ``run`` (a plain ``engine.run()``): nobody releases
            # at the iteration's end, so commit and start at once.
            self.release()
        return future

    def release(self):
        """Commit what the iteration changed (always: a completion alone must
        not wait for the next start to be durable), then start what it holds."""
        with self._lock:
            held, self._held = self._held, []
        try:
            self.connection.flush()
        except BaseException:
            with self._lock:        # still not started: a later release retries
                self._held[:0] = held
            raise
        for future, fn, args, kwargs in held:
            self._pool.submit(_run_into, future, fn, args, kwargs)

    def cancel_held(self):
        """Never start what is still held (the engine stopped before its wait)."""
        with self._lock:
            held, self._held = self._held, []
        for future, _fn, _args, _kwargs in held:
            future.cancel()

    def shutdown(self, wait=True, *, cancel_futures=False):
        # The pool is shared by every engine of the process: not ours to stop.
        self.cancel_held()


def _run_into(future, fn, args, kwargs):
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)


def executor_for(backend, pool):
    """The executor to give an engine of ``backend``: held when commits group."""
    if not getattr(backend, 'groups_commits', False):
        return pool
    return HeldExecutor(pool, backend.get_connection())


def run(engine):
    """``engine.run()``, its state changes committed once per iteration.

    Raises what ``engine.run()`` raises.
    """
    held = engine.options.get('executor')
    if not isinstance(held, HeldExecutor):
        engine.run()
        return
    with held.connection.grouped():
        try:
            for state in engine.run_iter():
                if state == _ITERATION_END:
                    held.release()
        finally:
            held.cancel_held()
