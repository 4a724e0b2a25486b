"""Where flow state lives: a TaskFlow persistence backend from a URL.

Default: a sqlite file in the user's state directory
(``$XDG_STATE_HOME/blockflow/blockflow.sqlite``; directory 0700, file 0600).
Any SQLAlchemy URL (PostgreSQL, MySQL) goes to TaskFlow's own backend.
"""

import contextlib
import os

from taskflow.persistence import backends


def state_dir():
    base = os.environ.get('XDG_STATE_HOME') or os.path.expanduser('~/.local/state')
    path = os.path.join(base, 'blockflow')
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def default_url():
    return 'sqlite:///' + os.path.join(state_dir(), 'blockflow.sqlite')


def resolve_url(url):
    return url or os.environ.get('BLOCKFLOW_CONNECTION') or default_url()


def get_backend(url=None):
    url = resolve_url(url)
    if url.startswith('sqlite:///'):
        path = url[len('sqlite:///'):]
        os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
        if not os.path.exists(path):
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    backend = backends.fetch({'connection': url})
    with contextlib.closing(backend.get_connection()) as conn:
        conn.upgrade()
    return backend
