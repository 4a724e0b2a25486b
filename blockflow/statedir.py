"""Where blockflow keeps its state on this host, written once.

``$XDG_STATE_HOME/blockflow`` (``~/.local/state/blockflow`` by default, as
the XDG base directory spec has it): the sqlite database, the embedded
clouds' homes, the instances' local disks, os-brick's locks.
"""

import os


def state_path(*parts):
    base = os.environ.get('XDG_STATE_HOME') or os.path.expanduser('~/.local/state')
    return os.path.join(base, 'blockflow', *parts)
