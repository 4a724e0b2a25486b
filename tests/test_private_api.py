"""The few private TaskFlow / oslo.utils names blockflow uses, checked against
the installed libraries: each test fails when the library changes the name
or what blockflow relies on it for (see the notes where they are used)."""

import atexit
import inspect
import subprocess
import sys

from oslo_utils import strutils
from taskflow.conductors.backends import impl_executor
from taskflow.conductors.backends import impl_nonblocking
from taskflow.jobs.backends import impl_redis
from taskflow.persistence import models
from taskflow import storage


def test_oslo_sanitize_keys_are_the_keys_mask_dict_password_masks():
    # blockflow/secrets.py builds its key lists from this private list.
    keys = strutils._SANITIZE_KEYS
    assert keys and all(isinstance(key, str) for key in keys)
    assert {'password', 'secret_uuid', 'token', 'auth_token'} <= set(keys)
    for key in keys:
        assert strutils.mask_dict_password({key: 'hunter2'})[key] != 'hunter2', key


def test_conductor_hooks_blockflow_overrides_are_still_called():
    # blockflow/runner/jobboard.py replaces these two on its conductor.
    conductor = impl_executor.ExecutorConductor
    assert list(inspect.signature(conductor._listeners_from_job).parameters) == \
        ['self', 'job', 'engine']
    assert list(inspect.signature(conductor._engine_from_job).parameters) == ['self', 'job']
    source = inspect.getsource(conductor)
    assert 'self._listeners_from_job(' in source and 'self._engine_from_job(' in source


def test_redis_board_claim_takes_an_expiry():
    # blockflow/runner/jobboard.py binds expiry into the Redis board's claim.
    assert 'expiry' in inspect.signature(impl_redis.RedisJobBoard.claim).parameters


def test_storage_keeps_its_flow_detail_under_the_private_name():
    # blockflow/runner/teardown.py reads the atom details of a finished delete through it.
    flow_detail = models.FlowDetail('flow', 'f-uuid')
    flow_detail.add(models.TaskDetail('atom', 'a-uuid'))
    kept = storage.Storage(flow_detail)._flowdetail
    assert kept is flow_detail
    assert [ad.name for ad in kept] == ['atom']


def test_redis_board_lists_jobs_through_fetch_jobs_and_one_client():
    # blockflow/runner/jobboard.py (RedisBoard.iterjobs) lists jobs with these.
    assert list(inspect.signature(impl_redis.RedisJobBoard._fetch_jobs).parameters) == ['self']
    assert '_fetch_jobs()' in inspect.getsource(impl_redis.RedisJobBoard.iterjobs)
    assert 'self._client' in inspect.getsource(impl_redis.RedisJobBoard.__init__)
    assert isinstance(inspect.getattr_static(impl_redis.RedisJob, 'owner_key'), property)


def test_nonblocking_conductor_calls_the_job_done_hook():
    # blockflow/runner/jobboard.py (BootConductor) wakes its claim loop from it.
    conductor = impl_nonblocking.NonBlockingConductor
    assert list(inspect.signature(conductor._on_job_done).parameters) == ['self', 'job', 'fut']
    assert '_on_job_done' in inspect.getsource(impl_executor.ExecutorConductor)


def test_atexit_runs_and_clears_its_handlers():
    # blockflow/exit.py runs the handlers itself before os._exit. In a child: running
    # them here would run the test process's own exit handlers.
    program = ('import atexit, os\n'
               'atexit.register(print, "handler ran")\n'
               'atexit._run_exitfuncs()\n'
               'atexit._run_exitfuncs()\n'
               'os._exit(0)\n')
    done = subprocess.run([sys.executable, '-c', program], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout) == (0, 'handler ran\n'), done.stderr
