"""Compute API microversions (``OpenStack-API-Version: compute X.Y``)."""

import functools
import re

from blockflow import exceptions

MIN_VERSION = '2.1'
# The newest microversion of Nova 34 (nova/api/openstack/api_version_request.py).
MAX_VERSION = '2.104'

_VERSION_RE = re.compile(r'^([1-9]\d*)\.([1-9]\d*|0)$')
# More digits than any version Nova has or will have.
_MAX_DIGITS = 6
_SHOWN_LENGTH = 40


def _shown(text):
    """The version as quoted back in a message: one line, bounded."""
    text = text if len(text) <= _SHOWN_LENGTH else text[:_SHOWN_LENGTH] + '...'
    return text.encode('unicode_escape').decode('ascii')


@functools.total_ordering
class APIVersion:
    """A compute microversion, comparable with other versions and 'X.Y' strings."""

    def __init__(self, major, minor):
        self.major = major
        self.minor = minor

    @classmethod
    def parse(cls, text):
        """The version ``text`` names, or Nova's 400 / 406 for the header."""
        if text is None:
            text = MAX_VERSION
        if not isinstance(text, str):
            raise exceptions.UsageError(
                f'--microversion: expected X.Y, got {text!r}')
        text = text.strip()
        if text.lower() == 'latest':
            text = MAX_VERSION
        shown = _shown(text)
        match = _VERSION_RE.match(text)
        if not match:
            raise exceptions.InvalidAPIVersionString(version=shown)
        major, minor = match.groups()
        # Digits past any supported version are refused before int(), which
        # gives up on strings longer than Python's int digit limit.
        if len(major) > _MAX_DIGITS or len(minor) > _MAX_DIGITS:
            raise cls._unsupported(shown)
        version = cls(int(major), int(minor))
        if not (cls._of(MIN_VERSION) <= version <= cls._of(MAX_VERSION)):
            raise cls._unsupported(str(version))
        return version

    @staticmethod
    def _unsupported(shown):
        return exceptions.InvalidGlobalAPIVersion(
            req_ver=shown, min_ver=MIN_VERSION, max_ver=MAX_VERSION)

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
