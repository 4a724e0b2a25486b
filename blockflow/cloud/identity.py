"""The embedded Keystone: accounts, the tokens it issued, and request contexts.

Two auth strategies, as Cinder's ``auth_strategy``: ``keystone`` (default) —
a request's ``X-Auth-Token`` must be a token this Keystone issued and not yet
expired; ``noauth`` — additionally Cinder's ``user:project`` convention, whose
callers are admins (as Cinder's noauth contexts are).
"""

import dataclasses
import datetime
import secrets as pysecrets
import threading
import time
import uuid

from blockflow.cloud.volumes import CinderError

PROJECT_ID = 'e0a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4'
DEMO_PROJECT_ID = uuid.uuid5(uuid.NAMESPACE_URL, 'blockflow-demo').hex
ALT_PROJECT_ID = uuid.uuid5(uuid.NAMESPACE_URL, 'blockflow-alt-demo').hex
TOKEN_LIFETIME_S = 24 * 3600
PRUNE_AT = 10_000       # issued tokens kept before the expired ones are dropped
STRATEGIES = ('keystone', 'noauth')
UNAUTHORIZED = 'The request you have made requires authentication.'


@dataclasses.dataclass(frozen=True)
class Account:
    password: str
    project_id: str
    project_name: str
    roles: tuple


# admin and nova (Nova's service user) in the "blockflow" project; two plain
# members in projects of their own, for isolation.
ACCOUNTS = {
    'admin': Account('blockflow-admin-password', PROJECT_ID, 'blockflow',
                     ('admin', 'member', 'reader')),
    'nova': Account('blockflow-service-password', PROJECT_ID, 'blockflow',
                    ('admin', 'service', 'member', 'reader')),
    'demo': Account('blockflow-demo-password', DEMO_PROJECT_ID, 'demo',
                    ('member', 'reader')),
    'alt_demo': Account('blockflow-alt-demo-password', ALT_PROJECT_ID, 'alt_demo',
                        ('member', 'reader')),
}


@dataclasses.dataclass(frozen=True)
class Context:
    user: str
    project_id: str
    roles: frozenset
    service: bool = False

    @property
    def is_admin(self):
        return 'admin' in self.roles


def _role_list(header):
    """Role names of an ``X-*-Roles`` header, matched whole (never by substring)."""
    return {part.strip() for part in (header or '').split(',') if part.strip()}


def _iso(stamp):
    return datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).strftime(
        '%Y-%m-%dT%H:%M:%S.%fZ')


class Identity:
    def __init__(self, auth_strategy='keystone'):
        if auth_strategy not in STRATEGIES:
            raise ValueError(f"auth_strategy must be one of {', '.join(STRATEGIES)}, "
                             f'not {auth_strategy!r}')
        self.auth_strategy = auth_strategy
        self._tokens = {}
        self._lock = threading.Lock()

    @property
    def noauth(self):
        return self.auth_strategy == 'noauth'

    # --- issuing -----------------------------------------------------------------
    def authenticate(self, body):
        """(token, account name, Account, issued, expires) for a password auth body.

        Raises ``KeyError``/``TypeError`` for a malformed body and
        ``PermissionError`` for wrong credentials or a scope not the user's.
        """
        identity = body['auth']['identity']
        if 'token' in (identity.get('methods') or ()):
            # Keystone's token method: a new token for the holder of one we issued.
            held = identity['token']['id']
            if not isinstance(held, str):
                raise TypeError('token id must be a string')
            context = self._issued(held)
            if context is None:
                raise PermissionError(UNAUTHORIZED)
            name = context.user
            account = ACCOUNTS[name]
        else:
            user = identity['password']['user']
            name, password = user['name'], user['password']
            if not isinstance(name, str) or not isinstance(password, str):
                raise TypeError('name and password must be strings')
            account = ACCOUNTS.get(name)
            if account is None or not pysecrets.compare_digest(account.password, password):
                raise PermissionError(UNAUTHORIZED)
        scope = (body['auth'].get('scope') or {})
        if not isinstance(scope, dict):
            raise TypeError('scope must be an object')
        project = scope.get('project')
        if project is not None:
            if not isinstance(project, dict):
                raise TypeError('scope.project must be an object')
            if project.get('id') not in (None, account.project_id) or \
                    project.get('name') not in (None, account.project_name):
                raise PermissionError(UNAUTHORIZED)
        token = pysecrets.token_hex(32)
        issued = time.time()
        expires = issued + TOKEN_LIFETIME_S
        with self._lock:
            if len(self._tokens) >= PRUNE_AT:
                self._tokens = {t: e for t, e in self._tokens.items() if e[1] >= issued}
            self._tokens[token] = (Context(name, account.project_id,
                                           frozenset(account.roles),
                                           'service' in account.roles), expires)
        return token, name, account, _iso(issued), _iso(expires)

    def _issued(self, token):
        with self._lock:
            entry = self._tokens.get(token)
            if entry is not None and entry[1] < time.time():
                del self._tokens[token]
                entry = None
        return entry[0] if entry else None

    # --- validating --------------------------------------------------------------
    def context(self, headers):
        """The caller of a request, or a 401 CinderError."""
        token = headers.get('X-Auth-Token') or ''
        context = self._issued(token)
        if context is not None:
            service_token = self._issued(headers.get('X-Service-Token') or '')
            if service_token is not None and service_token.service:
                context = dataclasses.replace(context, service=True)
            return context
        if self.noauth and ':' in token:
            # Cinder's NoAuthMiddleware: "user:project", an admin context.
            user, _sep, project = token.partition(':')
            if user:
                roles = _role_list(headers.get('X-Roles')) | {'admin'}
                return Context(user, project or user, frozenset(roles),
                               'service' in _role_list(headers.get('X-Service-Roles')))
        raise CinderError(401, UNAUTHORIZED)

    def optional_context(self, headers):
        """For Glance: any valid caller; in noauth mode no token is needed."""
        if self.noauth:
            return None
        return self.context(headers)
