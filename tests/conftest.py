"""Shared pytest configuration; area fixtures live in tests/fixtures/."""

pytest_plugins = [
    'tests.fixtures.cloud',
    'tests.fixtures.realcinder',
    'tests.fixtures.retries',
    'tests.fixtures.lossy_proxy',
    'tests.fixtures.ordering',
]
