"""What every blockflow task shares: a logger, masking, clients by injection."""

import functools
import logging

from taskflow import task
from taskflow.types import failure as ft

from blockflow import crashpoints
from blockflow import secrets

LOG = logging.getLogger('blockflow.tasks')


def _with_crashpoints(execute, revert):
    @functools.wraps(execute)
    def crashing_execute(self, *args, **kwargs):
        crashpoints.maybe_crash('before', self.name)
        result = execute(self, *args, **kwargs)
        crashpoints.maybe_crash('inside', self.name)
        return result

    @functools.wraps(revert)
    def crashing_revert(self, *args, **kwargs):
        result = revert(self, *args, **kwargs)
        crashpoints.maybe_crash('revert', self.name)
        return result
    return crashing_execute, crashing_revert


class BlockflowTask(task.Task):
    """A task whose revert never raises and skips when execute never produced.

    Every subclass's execute and revert pass the named crash points
    (blockflow.crashpoints), so tests can kill the process at each of them.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if 'execute' in cls.__dict__:
            revert = cls.__dict__.get('revert') or cls.revert
            cls.execute, wrapped_revert = _with_crashpoints(cls.__dict__['execute'], revert)
            if 'revert' in cls.__dict__:
                cls.revert = wrapped_revert

    def __init__(self, clients=None, **kwargs):
        super().__init__(**kwargs)
        self.clients = clients

    @staticmethod
    def produced(result):
        return result is not None and not isinstance(result, ft.Failure)

    def warn(self, message, *args):
        LOG.warning('%s: ' + message, self.name, *[secrets.mask(a) for a in args])
