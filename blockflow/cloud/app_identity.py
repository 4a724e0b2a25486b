"""Keystone v3 handlers of the embedded cloud: password auth with a service
catalog naming this cloud's Cinder and Glance, and the version document.

A mixin of ``app.CloudApp``; the accounts and tokens live in ``identity``.
"""

import socket

from blockflow.cloud import identity
from blockflow.cloud.http import json_response as _json
from blockflow.cloud.volumes import CinderError


class IdentityHandlers:
    def auth(self, request, request_id):
        try:
            body = self._body(request) or {}
            token, name, account, issued, expires = self.identity.authenticate(body)
        except (KeyError, TypeError, AttributeError, CinderError):
            return _json(400, {'error': {'code': 400, 'title': 'Bad Request',
                                         'message': 'Invalid authentication request'}},
                         request_id)
        except PermissionError:
            return _json(401, {'error': {'code': 401, 'title': 'Unauthorized',
                                         'message': identity.UNAUTHORIZED}}, request_id)
        base = self.public_url
        volume_url = f'{base}/volume/v3/{account.project_id}'

        def endpoints(url, interfaces=('public', 'internal')):
            return [{'interface': i, 'region': 'RegionOne', 'region_id': 'RegionOne',
                     'id': i, 'url': url} for i in interfaces]
        catalog = [
            {'type': 'volumev3', 'name': 'cinderv3', 'id': 'volumev3',
             'endpoints': endpoints(volume_url)},
            {'type': 'block-storage', 'name': 'cinder', 'id': 'block-storage',
             'endpoints': endpoints(volume_url, ('public',))},
            {'type': 'image', 'name': 'glance', 'id': 'image',
             'endpoints': endpoints(f'{base}/image')},
        ]
        token_body = {'token': {
            'methods': ['password'], 'expires_at': expires, 'issued_at': issued,
            'user': {'id': name, 'name': name, 'domain': {'id': 'default', 'name': 'Default'}},
            'project': {'id': account.project_id, 'name': account.project_name,
                        'domain': {'id': 'default', 'name': 'Default'}},
            'roles': [{'id': r, 'name': r} for r in account.roles], 'catalog': catalog}}
        return _json(201, token_body, request_id, {'X-Subject-Token': token})

    @property
    def public_url(self):
        """Where the cloud listens (never the caller's Host header, which anyone
        can set); a wildcard bind is named by this host's name."""
        scheme, _sep, rest = self.cloud.url.partition('://')
        host, _sep, port = rest.rpartition(':')
        if host in ('0.0.0.0', '::', '[::]', ''):
            host = socket.getfqdn()
        return f'{scheme}://{host}:{port}'

    def identity_version(self, request, request_id):
        return _json(200, {'version': {'id': 'v3.14', 'status': 'stable', 'links': [
            {'rel': 'self', 'href': f'{self.public_url}/identity/v3/'}]}}, request_id)
