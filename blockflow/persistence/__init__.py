"""Where flow state lives: a TaskFlow persistence backend from a URL.

Default: a sqlite file in the user's state directory
(``$XDG_STATE_HOME/blockflow/blockflow.sqlite``; directory 0700, file 0600).
Any SQLAlchemy URL (PostgreSQL, MySQL) works too. Backends are stevedore
plugins in the ``blockflow.persistence`` namespace keyed by URL scheme:
SQL databases get ``LeanBackend`` (TaskFlow's SQLAlchemy backend with cheap
writes, see ``lean.py``); ``memory``, ``zookeeper`` and ``dir`` are TaskFlow's.
"""

import contextlib
import os
import urllib.parse

from stevedore import driver
from stevedore import exception as stevedore_exc
from stevedore import extension

from blockflow import exceptions
from blockflow import statedir

NAMESPACE = 'blockflow.persistence'


def state_dir():
    path = statedir.state_path()
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def default_url():
    return 'sqlite:///' + os.path.join(state_dir(), 'blockflow.sqlite')


def resolve_url(url):
    return url or os.environ.get('BLOCKFLOW_CONNECTION') or default_url()


def scheme(url):
    # 'mysql+pymysql://...' is served by the plugin named 'mysql'.
    return url.split(':', 1)[0].split('+', 1)[0]


def known_schemes():
    return extension.ExtensionManager(NAMESPACE).names()


def get_backend(url=None):
    url = resolve_url(url)
    if url.startswith('sqlite:///'):
        path = url[len('sqlite:///'):]
        os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
        if not os.path.exists(path):
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    conf = {'connection': url}
    if scheme(url) in ('dir', 'file'):
        # TaskFlow's directory backend reads its folder from 'path', not from the URL.
        conf['path'] = urllib.parse.urlparse(url).path
        if not conf['path']:
            raise exceptions.UsageError(f'--connection: {url!r} names no directory '
                                        f'(dir:///absolute/path)')
    try:
        manager = driver.DriverManager(NAMESPACE, scheme(url), invoke_on_load=True,
                                       invoke_args=(conf,))
    except stevedore_exc.NoMatches:
        raise exceptions.UsageError(
            f'--connection: no persistence backend for {scheme(url)!r} URLs '
            f'(known: {", ".join(sorted(known_schemes()))})') from None
    backend = manager.driver
    with contextlib.closing(backend.get_connection()) as conn:
        conn.upgrade()
    return backend
