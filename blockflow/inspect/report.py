"""Tables of persisted flows: `blockflow list` and `blockflow show`.

Everything here reads the persistence backend only, so it works for a flow
that is running in another process, finished, failed or crashed. It reads
through ``blockflow.persistence.reader`` (a sqlite file without SQLAlchemy,
TaskFlow's engine or networkx); a TaskFlow persistence connection works too.
"""

from taskflow import states

from blockflow.persistence import reader
from blockflow.request import atom_names

FINISHED_FLOW_STATES = frozenset({states.SUCCESS, states.FAILURE, states.REVERTED})
_DONE_ATOM_STATES = frozenset({states.SUCCESS, states.IGNORE})
_VOLUME_KEYS = ('volume_id',)


def _atoms(flow_detail):
    """Atom details of real atoms (TaskFlow stores injected values as atoms)."""
    return [ad for ad in flow_detail if not ad.name.startswith('_TaskFlow_')]


def _device_of(atom_name, prefix):
    return atom_names.group_of(atom_name, prefix)


def _step_of(atom_name, device):
    return atom_names.step_of(atom_name, device)


def _volume_id(result, step=''):
    # Volume steps return the bare volume id.
    if isinstance(result, str) and step in ('create-volume', 'get-volume'):
        return result
    if isinstance(result, dict):
        for key in _VOLUME_KEYS:
            if result.get(key):
                return result[key]
    return None


def _duration(meta):
    meta = meta or {}
    if 'duration' in meta:
        return round(float(meta['duration']), 3)
    start = meta.get('RUNNING-timestamp')
    end = meta.get('SUCCESS-timestamp') or meta.get('FAILURE-timestamp')
    if start and end:
        return round(end - start, 3)
    return None


def flow_prefix(flow_detail):
    """The per-instance atom-name prefix blockflow stores in the flow meta."""
    meta = flow_detail.meta or {}
    return meta.get('atom_prefix') or meta.get('instance_uuid') or ''


def device_progress(flow_detail):
    """{device: (done, total)} counted over the device's atoms."""
    prefix = flow_prefix(flow_detail)
    progress = {}
    for atom_detail in _atoms(flow_detail):
        device = _device_of(atom_detail.name, prefix)
        done, total = progress.get(device, (0, 0))
        progress[device] = (done + (atom_detail.state in _DONE_ATOM_STATES),
                            total + 1)
    return progress


def _failure_lines(failure):
    """(exception text, TaskFlow's one-line ``Failure.pformat()``) of a stored failure."""
    text = f"{failure.get('exception_str')}"
    names = failure.get('exc_type_names') or ()
    cause = f'Failure: {names[0]}: {text}' if names else f'Failure: {text}'
    return text, cause.splitlines()[0]


def list_flows(source):
    """One row per flow, newest first (``source``: a reader or a TaskFlow connection)."""
    rows = []
    for flow_detail in reader.of(source).flows():
        book = flow_detail.book
        meta = flow_detail.meta or {}
        progress = device_progress(flow_detail)
        devices = [d for d in progress if d not in meta.get('non_device_groups', ())]
        devices_done = sum(1 for d in devices if progress[d][0] == progress[d][1])
        rows.append({
            'flow_id': flow_detail.uuid,
            'name': flow_detail.name,
            'instance_uuid': meta.get('instance_uuid'),
            'request_id': meta.get('request_id'),
            'state': flow_detail.state or states.PENDING,
            'created_at': (book.created_at.isoformat(timespec='seconds')
                           if book.created_at else None),
            'devices_done': devices_done,
            'devices_total': len(devices),
            'finished': flow_detail.state in FINISHED_FLOW_STATES,
        })
    rows.sort(key=lambda row: row['created_at'] or '', reverse=True)
    return rows


def leftovers(flow_detail):
    """What the flow's reverts could not undo and nothing has undone since, one
    dict per leftover (device, resource, resource_id, call, error, line).

    Leftovers live beside the device records, whose URL the boot factory's
    stored arguments carry."""
    meta = flow_detail.meta or {}
    url = ((meta.get('factory') or {}).get('kwargs') or {}).get('records_url')
    instance_uuid = meta.get('instance_uuid')
    if not (url and instance_uuid):
        return []
    try:
        rows = reader.open_leftovers(url, instance_uuid)
    except Exception:       # an unreachable records database: show what the flow says
        return []
    if not rows:
        return []
    from blockflow.persistence import records
    return [{'device': atom_names.strip_dev(row['device_name'] or '-'),
             'resource': row['resource'], 'resource_id': row['resource_id'],
             'call': row['call'], 'error': row['error'],
             'line': records.describe_leftover(row)} for row in rows]


def flow_report(source, flow_id):
    """Per device, each task: state, duration, attempts, volume id, failure.

    ``source`` is a reader (raises its FlowNotFound) or a TaskFlow connection
    (raises inspect.graph's FlowNotFound, as its callers expect)."""
    from blockflow import secrets
    view = reader.of(source)
    try:
        flow_detail = view.find_flow(flow_id)
    except reader.FlowNotFound as exc:
        if view is source:
            raise
        from blockflow.inspect import graph
        raise graph.FlowNotFound(str(exc)) from None
    book = flow_detail.book
    prefix = flow_prefix(flow_detail)
    devices = {}
    for atom_detail in _atoms(flow_detail):
        device = _device_of(atom_detail.name, prefix)
        failure = atom_detail.failure or atom_detail.revert_failure
        failure_text, cause = _failure_lines(failure) if failure else (None, None)
        result = atom_detail.results if atom_detail.state == states.SUCCESS else None
        meta = atom_detail.meta or {}
        step = _step_of(atom_detail.name, device)
        devices.setdefault(device, []).append({
            'atom': atom_detail.name,
            'step': _step_of(atom_detail.name, device),
            'state': atom_detail.state or states.PENDING,
            'intention': atom_detail.intention,
            'duration_s': _duration(meta),
            'attempts': meta.get('attempts', 1 if atom_detail.state else 0),
            'volume_id': _volume_id(result, step),
            'failure': secrets.mask_text(failure_text) if failure else None,
            'cause': secrets.mask_text(cause) if failure else None,
        })
    return secrets.mask({
        'flow_id': flow_detail.uuid,
        'name': flow_detail.name,
        'state': flow_detail.state or states.PENDING,
        'instance_uuid': (flow_detail.meta or {}).get('instance_uuid'),
        'request_id': (flow_detail.meta or {}).get('request_id'),
        'cloud': {k: v for k, v in ((flow_detail.meta or {}).get('cloud') or {}).items()
                  if k != 'request_id'} or None,
        'logbook': book.uuid,
        'devices': devices,
        'leftovers': leftovers(flow_detail),
    })
