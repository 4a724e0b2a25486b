"""Shared pytest configuration; area fixtures live in tests/fixtures/."""

import os

# blockflow never monkey-patches with eventlet, yet TaskFlow and oslo.utils import
# it when installed, and eventlet then loads its green DNS resolver (dnspython):
# ~0.2 s of CPU in each of the hundreds of `blockflow` processes the tests start.
# Inherited by every child; the real Cinder (an eventlet service) gets it removed
# (tests/fixtures/realcinder.py).
os.environ.setdefault('EVENTLET_NO_GREENDNS', 'yes')

pytest_plugins = [
    'tests.fixtures.cloud',
    'tests.fixtures.realcinder',
    'tests.fixtures.retries',
    'tests.fixtures.lossy_proxy',
    'tests.fixtures.jobboard',
    'tests.fixtures.ordering',
    'tests.fixtures.isolation',
]
