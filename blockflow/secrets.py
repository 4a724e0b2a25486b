"""Keeping Ceph keyrings, CHAP passwords and tokens out of everything we show or store.

oslo.utils' masking is the base. It misses a few things connection_info carries
(``keyring``, ``auth_key``...) and it masks ``secret_uuid``, which is only the
name of a libvirt secret and is needed to build rbd disk XML. So:

- ``mask`` is for anything shown or logged: oslo's keys plus ours, recursively.
- ``for_storage`` is for connection_info persisted in flow state and device
  records: secret values replaced, references (``secret_uuid``) kept, so a
  disk can still be detached from what was stored. Whoever needs the secret
  itself (os-brick logging in to an iSCSI target) asks Cinder again.
"""

import logging
import re

from oslo_utils import strutils

MASK = '***'

# Keys whose values are secrets in connection_info and clouds.yaml beyond
# oslo's list (compared lower-case).
EXTRA_SECRET_KEYS = frozenset({
    'keyring', 'auth_key', 'key', 'chap_password', 'discovery_auth_password',
    'target_secret', 'client_secret', 'application_credential_secret',
})
# Keys oslo masks that are references, not secrets: kept in stored state.
REFERENCE_KEYS = frozenset({'secret_uuid'})

# Private: oslo.utils offers mask_dict_password but no public list of the keys
# it masks, and the lists here are built from it (checked against oslo.utils
# 10.2.0; tests/test_private_api.py fails if it goes or stops being a list of
# keys mask_dict_password masks).
_OSLO_KEYS = frozenset(k.lower() for k in strutils._SANITIZE_KEYS)
_DISPLAY_KEYS = _OSLO_KEYS | EXTRA_SECRET_KEYS
_STORAGE_KEYS = _DISPLAY_KEYS - REFERENCE_KEYS

# A Ceph keyring body ("key = AQB...==") wherever it appears in free text.
_CEPH_KEY_RE = re.compile(r'(key\s*=\s*)[A-Za-z0-9+/=]{16,}')


_SECRET_SUFFIXES = ('password', '_secret', '_token')


def _is_secret_key(key, secret_keys):
    lowered = str(key).lower()
    return lowered in secret_keys or lowered.endswith(_SECRET_SUFFIXES)


def _walk(value, secret_keys):
    """A masked copy of plain data; containers are rebuilt, never deep-copied.

    Anything that is not plain data (an exception from a client library, say)
    is shown by its text: copying foreign objects is not ours to do
    (cinderclient's exceptions cannot even be deep-copied).
    """
    if isinstance(value, dict):
        return {k: (MASK if _is_secret_key(k, secret_keys) and v not in (None, '')
                    else _walk(v, secret_keys))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_walk(v, secret_keys) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, BaseException):
        return mask_text(str(value))
    return value


def mask(value):
    """A copy of ``value`` safe to print or log."""
    return _walk(value, _DISPLAY_KEYS)


def for_storage(value):
    """A copy safe to persist: secrets gone, references kept."""
    return _walk(value, _STORAGE_KEYS)


def mask_text(text):
    """Mask secrets inside free text (log lines, error messages, JSON dumps)."""
    if not isinstance(text, str):
        text = str(text)
    text = strutils.mask_password(text, secret=MASK)
    return _CEPH_KEY_RE.sub(r'\1' + MASK, text)


# keystoneauth logs every request and response body at DEBUG (Cinder's attachment
# answers carry CHAP passwords and Ceph keys): on these loggers a record is masked
# before any handler, blockflow's or another program's, sees it.
CLIENT_LOGGERS = ('keystoneauth.session', 'keystoneauth.session.request',
                  'keystoneauth.session.response', 'keystoneauth.session.body',
                  'cinderclient.client', 'glanceclient.common.http')


class MaskingFilter(logging.Filter):
    """Rewrites a record's message with its secrets masked (never drops it)."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:       # a malformed record: leave it to logging's own report
            return True
        record.msg, record.args = mask_text(message), None
        return True


_FILTER = MaskingFilter()


def mask_client_logs():
    """Install the masking filter on the HTTP clients' loggers (idempotent)."""
    for name in CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
