"""The shared volume poller's interval: short while volumes are fresh, backing off for slow ones."""

import time

from tasks import volume_poller


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
