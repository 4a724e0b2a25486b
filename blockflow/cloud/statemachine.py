"""Legal volume and attachment state transitions, as data (Cinder's, simplified).

Every change of a volume's status in the embedded cloud goes through
``transition``; a request that would make an illegal one gets Cinder's 400.
"""

VOLUME_TRANSITIONS = {
    'creating': {'available', 'downloading', 'error'},
    'downloading': {'available', 'error'},
    'available': {'reserved', 'attaching', 'deleting', 'extending', 'in-use',
                  'backing-up'},
    'reserved': {'attaching', 'available', 'in-use'},
    'attaching': {'in-use', 'available', 'reserved'},
    'in-use': {'detaching', 'available', 'in-use'},
    'detaching': {'available', 'in-use'},
    'extending': {'available', 'error_extending'},
    'backing-up': {'available'},
    'deleting': {'deleted', 'error_deleting'},
    'error': {'deleting'},
    'error_deleting': {'deleting'},
    'error_extending': {'available', 'deleting'},
}

# What Cinder's volume service does at start (VolumeManager._do_cleanup) to a
# volume it left in a transitional ("cleanable") status when it stopped: an
# interrupted creation or image download ends in error, an interrupted upload
# returns to what its attachments say, an interrupted delete is carried on.
RESET_AT_START = {'creating': 'error', 'downloading': 'error'}
STATUS_BY_ATTACHMENTS_AT_START = ('uploading',)
RESUMED_AT_START = ('deleting',)
# Snapshot.is_cleanable: only a snapshot being created, which ends in error.
SNAPSHOT_RESET_AT_START = {'creating': 'error'}

DELETABLE = ('available', 'error', 'error_restoring', 'error_extending',
             'error_managing')


class IllegalTransition(ValueError):
    def __init__(self, current, wanted):
        super().__init__(f'{current} -> {wanted}')
        self.current = current
        self.wanted = wanted


def check(current, wanted):
    if wanted == current:
        return
    if wanted not in VOLUME_TRANSITIONS.get(current, ()):
        raise IllegalTransition(current, wanted)
