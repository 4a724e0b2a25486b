"""Compute API microversions (``OpenStack-API-Version: compute X.Y``)."""

import functools
import re

from blockflow import exceptions

MIN_VERSION = '2.1'
# The newest microversion of Nova 34 (nova/api/openstack/api_version_request.py).
MAX_VERSION = '2.104'

_VERSION_RE = re.compile(r'^([1-9]\d*)\.([1-9]\d*|0)$')


@functools.total_ordering
class APIVersion:
    """A compute microversion, comparable with other versions and 'X.Y' strings."""

    def __init__(self, major, minor):
        self.major = major
        self.minor = minor

    @classmethod
    def parse(cls, text):
        if text is None:
            text = MAX_VERSION
        if not isinstance(text, str):
            raise exceptions.UsageError(
                f'--microversion: expected X.Y, got {text!r}')
        text = text.strip()
        if text.lower() == 'latest':
            text = MAX_VERSION
        match = _VERSION_RE.match(text)
        if not match:
            # Nova answers an unparsable version header with 400.
            raise exceptions.HTTPBadRequest(
                explanation=f'API Version String {text} is of invalid format. '
                            'Must be of format MajorNum.MinorNum.')
        version = cls(int(match.group(1)), int(match.group(2)))
        if not (cls._of(MIN_VERSION) <= version <= cls._of(MAX_VERSION)):
            raise exceptions.VersionNotSupported(
                version=text, min=MIN_VERSION, max=MAX_VERSION)
        return version

    @classmethod
    def _of(cls, text):
        major, minor = text.split('.')
        return cls(int(major), int(minor))

    def _key(self, other):
        if isinstance(other, str):
            other = self._of(other)
        return (other.major, other.minor)

    def __eq__(self, other):
        return (self.major, self.minor) == self._key(other)

    def __lt__(self, other):
        return (self.major, self.minor) < self._key(other)

    def __hash__(self):
        return hash((self.major, self.minor))

    def __str__(self):
        return f'{self.major}.{self.minor}'

    def __repr__(self):
        return f'APIVersion({self})'
