"""What every blockflow task shares: a logger, masking, clients by injection."""

import logging

from taskflow import task
from taskflow.types import failure as ft

from blockflow import secrets

LOG = logging.getLogger('blockflow.tasks')


class BlockflowTask(task.Task):
    """A task whose revert never raises and skips when execute never produced."""

    def __init__(self, clients=None, **kwargs):
        super().__init__(**kwargs)
        self.clients = clients

    @staticmethod
    def produced(result):
        return result is not None and not isinstance(result, ft.Failure)

    def warn(self, message, *args):
        LOG.warning('%s: ' + message, self.name, *[secrets.mask(a) for a in args])
