"""The undo functions by name, and the atom that makes leftovers count.

A leftover row (``blockflow.persistence.records.Leftovers``) names the undo function that
failed and its JSON arguments; ``run`` calls it again from any process.
"""

import logging

from blockflow import exceptions
from blockflow.persistence import records
from blockflow import secrets
from tasks.base import BlockflowTask
from tasks.base import raising_revert
from tasks import cinder_attach
from tasks import cinder_volumes
from tasks import retrying

LOG = logging.getLogger('blockflow.tasks.undo')

UNDO = {
    'delete_created_volumes': cinder_volumes.delete_created_volumes,
    'delete_volume': cinder_volumes.delete_volume,
    'delete_attachments': cinder_attach.delete_attachments,
    'legacy_detach': cinder_attach.legacy_detach,
    'legacy_terminate': cinder_attach.legacy_terminate,
    'legacy_unreserve': cinder_attach.legacy_unreserve,
    'release_volume': cinder_attach.release_volume,
}


class LeftoversRemain(exceptions.BlockflowError):
    msg_fmt = '%(count)d thing(s) could not be undone: %(details)s'
    http_status = 500


def run(name, clients, args):
    UNDO[name](clients, **args)


def retry_leftovers(clients, leftovers_url, instance_uuid, policy=None):
    """Try each open leftover's undo again (those that have one); returns the
    rows still open."""
    store = records.Leftovers(leftovers_url)
    remaining = []
    for row in store.open_for(instance_uuid):
        if row['undo'] not in UNDO:
            remaining.append(row)
            continue
        try:
            retrying.retrying(f"leftover {row['undo']}", policy or retrying.CALL_POLICY,
                              retry_on=lambda exc: True)(
                run, row['undo'], clients, row['undo_args'])
        except Exception as exc:
            row['error'] = secrets.mask_text(getattr(exc, 'error', None) or str(exc))
            remaining.append(row)
            continue
        store.resolve(row['uuid'])
        LOG.info('leftover undone: %s', records.describe_leftover(row))
    return remaining


class CheckLeftovers(BlockflowTask):
    """The boot flow's first atom, so its revert runs after every other one.
    Reversion strategy: try every leftover the other reverts recorded again;
    raise naming those that remain, so the flow ends in REVERT_FAILURE (a
    resumed revert runs this again) instead of claiming it undid everything."""

    def execute(self, instance_uuid):
        return True

    @raising_revert
    def revert(self, instance_uuid, **kwargs):
        if not self.leftovers_url:
            return
        remaining = retry_leftovers(self.clients, self.leftovers_url, instance_uuid)
        if remaining:
            raise LeftoversRemain(count=len(remaining), details='; '.join(
                records.describe_leftover(row) for row in remaining))
