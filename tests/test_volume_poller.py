"""The shared volume poller's interval: short while volumes are fresh, backing off for slow ones."""

import datetime
import time

from blockflow.clients import volume_poller


def test_interval_stays_short_while_waiters_are_fresh():
    poller = volume_poller.VolumePoller(clients=None)
    poller._since['fresh'] = time.monotonic()
    assert poller.next_interval(volume_poller.POLL_INTERVAL_S) == volume_poller.POLL_INTERVAL_S


def test_interval_doubles_up_to_the_cap_once_every_waiter_is_slow():
    poller = volume_poller.VolumePoller(clients=None)
    poller._since['slow'] = time.monotonic() - volume_poller.FAST_WINDOW_S - 1
    interval, seen = volume_poller.POLL_INTERVAL_S, []
    for _ in range(8):
        interval = poller.next_interval(interval)
        seen.append(interval)
    assert seen[0] == 2 * volume_poller.POLL_INTERVAL_S
    assert seen == sorted(seen) and seen[-1] == volume_poller.MAX_INTERVAL_S
    # A fresh waiter arriving brings the interval back down at once.
    poller._since['fresh'] = time.monotonic()
    assert poller.next_interval(seen[-1]) == volume_poller.POLL_INTERVAL_S


def _managed_volume(clients):
    return clients.cinder().volumes.create(
        1, metadata={volume_poller.MANAGED_KEY: 'true'})


def _wait_available(clients, volume_id):
    deadline = time.monotonic() + 10
    while clients.cinder().volumes.get(volume_id).status != 'available':
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_polls_return_recent_changes_only(embedded_cloud):
    """Earlier volumes do not ride along in every poll (the list is filtered by updated_at)."""
    from blockflow.clients import openstack as clients_module
    clients = clients_module.Clients(clients_module.embedded_ref(embedded_cloud))
    old = [_managed_volume(clients) for _ in range(12)]
    for volume in old:
        _wait_available(clients, volume.id)
    poller = volume_poller.VolumePoller(clients)
    assert set(old_v.id for old_v in old) <= set(poller.changed_volumes())   # first look-back
    time.sleep(1.2)                         # past the cursor margin
    fresh = _managed_volume(clients)
    assert poller.wait(fresh.id, timeout=10) == 'available'
    assert set(poller.changed_volumes()) == {fresh.id}


def test_a_volume_no_list_mentions_is_asked_for_once(embedded_cloud, monkeypatch):
    """A volume that changed before the look-back (a resumed boot) is found with one GET."""
    from blockflow.clients import openstack as clients_module
    monkeypatch.setattr(volume_poller, 'FIRST_LOOK_BACK', datetime.timedelta(0))
    monkeypatch.setattr(volume_poller, 'UNSEEN_GET_AFTER_S', 0.3)
    clients = clients_module.Clients(clients_module.embedded_ref(embedded_cloud))
    volume = _managed_volume(clients)
    _wait_available(clients, volume.id)
    time.sleep(0.1)
    embedded_cloud.faults.reset_counters()
    poller = volume_poller.VolumePoller(clients)
    started = time.monotonic()
    assert poller.wait(volume.id, timeout=10) == 'available'
    assert time.monotonic() - started >= 0.3
    assert embedded_cloud.counters().get('volume.get') == 1
