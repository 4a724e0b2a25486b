"""Flow claims in the flows' own database: one owner at a time, taken over
only when expired or when the owning process is gone (real processes)."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from blockflow import exceptions
from blockflow import persistence
from blockflow.persistence import claims

FLOW = '6f1c7a52-8f5e-4d38-9a51-1f0c2f6b3a10'


@pytest.fixture
def backend(tmp_path):
    backend = persistence.get_backend(f'sqlite:///{tmp_path}/flows.sqlite')
    yield backend
    backend.close()


def _other_owner(pid=1):
    # pid 1 lives as long as the host: a live owner that is not us.
    return claims.Owner(claims.Owner.this_process().host, pid, claims._process_started(pid))


def test_a_held_claim_is_reported_and_released(backend):
    lease = claims.Lease.acquire(backend, FLOW, expiry=60)
    store = claims.claims_for(backend)
    with pytest.raises(claims.FlowClaimed) as raised:
        store.claim(FLOW, _other_owner(), 60)
    assert str(raised.value).startswith(f'claimed by {lease.claim.owner.name} until ')
    assert str(raised.value).endswith('Z')
    # A second claim of the same process is refused too.
    with pytest.raises(claims.FlowClaimed):
        claims.Lease.acquire(backend, FLOW, expiry=60)
    lease.release()
    assert store.get(FLOW) is None
    other = _other_owner()
    assert store.claim(FLOW, other, 60).owner == other


def test_an_expired_claim_is_taken_over_and_its_owner_cannot_renew(backend):
    store = claims.claims_for(backend)
    other = _other_owner()
    store.claim(FLOW, other, expiry=0.001)
    lease = claims.Lease.acquire(backend, FLOW, expiry=60)
    assert store.get(FLOW).owner == lease.claim.owner
    assert not store.renew(FLOW, other, 60)
    assert store.renew(FLOW, lease.claim.owner, 60)


def test_a_live_owners_claim_is_not_taken(backend):
    store = claims.claims_for(backend)
    store.claim(FLOW, _other_owner(), expiry=60)
    with pytest.raises(claims.FlowClaimed):
        claims.Lease.acquire(backend, FLOW, expiry=60)


CLAIMER = textwrap.dedent('''
    import sys, time
    from blockflow import persistence
    from blockflow.persistence import claims
    backend = persistence.get_backend(sys.argv[1])
    try:
        lease = claims.Lease.acquire(backend, sys.argv[2], expiry=float(sys.argv[3]))
    except claims.FlowClaimed as exc:
        print('lost', exc, flush=True)
        sys.exit(3)
    lease.keep()
    print('won', flush=True)
    time.sleep(float(sys.argv[4]))
''')


def _claimer(url, expiry, hold):
    return subprocess.Popen([sys.executable, '-c', CLAIMER, url, FLOW, str(expiry), str(hold)],
                            stdout=subprocess.PIPE, text=True)


def test_a_killed_owners_claim_is_taken_over_at_once(tmp_path, backend):
    url = f'sqlite:///{tmp_path}/flows.sqlite'
    owner = _claimer(url, expiry=3600, hold=3600)
    assert owner.stdout.readline().strip() == 'won'
    rival = _claimer(url, expiry=60, hold=0)
    assert rival.stdout.readline().startswith('lost claimed by ')
    assert rival.wait(30) == 3
    owner.send_signal(signal.SIGKILL)
    owner.wait(30)
    # The claim has an hour left, but its process is gone.
    lease = claims.Lease.acquire(backend, FLOW, expiry=60)
    assert lease.claim.owner.pid == os.getpid()
    lease.release()


def test_racing_processes_one_wins(tmp_path, backend):
    url = f'sqlite:///{tmp_path}/flows.sqlite'
    racers = [_claimer(url, expiry=60, hold=3600) for _ in range(6)]
    outcomes = [racer.stdout.readline().split()[0] for racer in racers]
    for racer in racers:
        racer.kill()
        racer.wait(30)
    assert sorted(outcomes) == ['lost'] * 5 + ['won']


def test_claim_expiry_from_the_environment(monkeypatch):
    monkeypatch.setenv(claims.EXPIRY_ENV, '2.5')
    assert claims.default_expiry() == 2.5
    monkeypatch.setenv(claims.EXPIRY_ENV, 'soon')
    with pytest.raises(exceptions.UsageError, match=claims.EXPIRY_ENV):
        claims.default_expiry()


def test_the_claims_table_is_created_with_the_flow_tables(tmp_path, backend):
    import sqlalchemy as sa
    assert claims.TABLE in sa.inspect(backend.engine).get_table_names()
