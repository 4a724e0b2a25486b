"""What the embedded cloud does at start to work its last run left unfinished.

Cinder's volume service, when it starts, cleans up after the volume service
that stopped (``VolumeManager.init_host`` → ``do_cleanup`` → ``_do_cleanup``
on every "cleanable" resource): volumes ``creating`` or ``downloading`` become
``error``, a volume ``uploading`` returns to ``in-use`` or ``available`` by its
attachments, a volume ``deleting`` is deleted, a snapshot ``creating`` becomes
``error``. The embedded cloud's creations and deletes run on timers that die
with it, so without this a volume stays ``creating`` forever and whoever
waits on it waits out their whole timeout. Attachments are left as they are,
as Cinder leaves them.
"""

import logging

from blockflow.cloud import statemachine

LOG = logging.getLogger('blockflow.cloud')


def _status_at_start(volume):
    status = volume['status']
    if status in statemachine.RESET_AT_START:
        return statemachine.RESET_AT_START[status]
    if status in statemachine.STATUS_BY_ATTACHMENTS_AT_START:
        return 'in-use' if volume['attachments'] else 'available'
    return None


def recover_interrupted_work(cinder):
    """Finish or fail what the last run left in flight; return {id: what became of it}."""
    store = cinder.store
    outcome = {}
    transitional = (set(statemachine.RESET_AT_START) | set(statemachine.RESUMED_AT_START)
                    | set(statemachine.STATUS_BY_ATTACHMENTS_AT_START))
    with store.lock:
        for volume in store.list('volumes', where=lambda v: v['status'] in transitional):
            if volume['status'] in statemachine.RESUMED_AT_START:
                cinder.purge_volume(volume['id'])
                outcome[volume['id']] = 'deleted'
                continue
            status = _status_at_start(volume)
            store.update('volumes', volume['id'], status=status)
            outcome[volume['id']] = status
        for snapshot in store.list('snapshots', where=lambda s: s['status'] in
                                   statemachine.SNAPSHOT_RESET_AT_START):
            status = statemachine.SNAPSHOT_RESET_AT_START[snapshot['status']]
            store.update('snapshots', snapshot['id'], status=status)
            outcome[snapshot['id']] = status
    for ident, became in outcome.items():
        LOG.info('interrupted by the last stop: %s is now %s', ident, became)
    return outcome
