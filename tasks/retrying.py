"""When to try a cloud call again, and how: tenacity with exponential backoff.

A call is tried again only when the cloud may answer differently next time: a
5xx (but never Cinder's 413 over quota), a connection reset or refused, a
timeout. Idempotent calls (reads, PUTs, deletes of something found by its
identity) are simply repeated (``call``). A create is not idempotent, so
``create_once`` looks the resource up by its identity before every attempt
that may follow one the cloud acted on: if an earlier attempt's answer was
lost, that is found instead of a second one being made. Only the first
attempt of a step the engine knows never ran before (``BlockflowTask.unstarted``)
skips the look-up: nothing can exist yet.

Reverts (``tasks.base``) retry whole undo functions with their own, longer
budget (``REVERT_POLICY``): they must ride out a cloud that is down for a
few seconds.
"""

import dataclasses
import logging

from cinderclient import exceptions as cinder_exc
from keystoneauth1 import exceptions as ks_exc
import requests
import tenacity

from blockflow import secrets

LOG = logging.getLogger('blockflow.tasks.retrying')
TRANSIENT_STATUS = frozenset({408, 500, 502, 503, 504})


@dataclasses.dataclass
class Policy:
    attempts: int           # at most this many tries...
    budget_s: float         # ...and no new try after this long
    first_wait_s: float     # backoff doubles from here...
    max_wait_s: float       # ...up to here


# Calls the boot makes: a transient error costs a few seconds at most.
CALL_POLICY = Policy(attempts=6, budget_s=10.0, first_wait_s=0.1, max_wait_s=2.0)
# Undo functions (reverts, delete): long enough to outlast a short outage.
REVERT_POLICY = Policy(attempts=12, budget_s=45.0, first_wait_s=0.2, max_wait_s=5.0)


def status_of(exc):
    if isinstance(exc, cinder_exc.ClientException):
        return exc.code
    if isinstance(exc, ks_exc.HttpError):
        return exc.http_status
    return None


def is_transient(exc):
    """True when the same call may well succeed if tried again."""
    if isinstance(exc, cinder_exc.OverLimit):
        return False
    status = status_of(exc)
    if status is not None:
        return status in TRANSIENT_STATUS
    return isinstance(exc, (ks_exc.ConnectionError, ks_exc.RetriableConnectionFailure,
                            cinder_exc.ConnectionError,
                            requests.ConnectionError, requests.Timeout,
                            ConnectionError, TimeoutError))


def may_have_acted(exc):
    """True when the cloud may have done what was asked although the call failed
    (its answer lost, or a 5xx from halfway through)."""
    return is_transient(exc)


def _log_retry(what):
    def before_sleep(state):
        LOG.info('%s failed (%s), trying again in %.1fs', what,
                 secrets.mask_text(str(state.outcome.exception())),
                 state.next_action.sleep if state.next_action else 0)
    return before_sleep


def retrying(what, policy=None, retry_on=is_transient):
    policy = policy or CALL_POLICY
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(retry_on),
        stop=(tenacity.stop_after_attempt(policy.attempts)
              | tenacity.stop_after_delay(policy.budget_s)),
        wait=tenacity.wait_exponential(multiplier=policy.first_wait_s,
                                       max=policy.max_wait_s),
        before_sleep=_log_retry(what), reraise=True)


def call(what, func, *args, **kwargs):
    """``func(*args, **kwargs)`` for an idempotent call, tried again on transient errors."""
    return retrying(what)(func, *args, **kwargs)


def create_once(what, find, create, look_first=True):
    """``find()`` or else ``create()``, tried again on transient errors with a fresh
    look-up first, so a create whose answer was lost is found, not repeated.

    ``look_first=False`` (the step never ran before) skips the look-up on the
    first attempt only: every attempt after one is preceded by it.
    """
    look = [look_first]

    def attempt():
        if look[0]:
            found = find()
            if found is not None:
                return found
        look[0] = True
        return create()
    return retrying(what)(attempt)
