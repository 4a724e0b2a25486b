"""Cinder's list semantics: sort, limit/marker pagination with a next link, counts."""

import urllib.parse

from blockflow.cloud import validation
from blockflow.cloud.volumes import CinderError

SORT_KEYS = ('created_at', 'updated_at', 'id', 'name', 'size', 'status',
             'availability_zone', 'bootable', 'volume_type')
MAX_LIMIT = 1000     # Cinder's osapi_max_limit
TRUE_WORDS = ('1', 't', 'true', 'on', 'y', 'yes')


def flag(query, name):
    return str(query.get(name, '')).strip().lower() in TRUE_WORDS


def all_tenants(query):
    # Cinder treats the mere presence of all_tenants as asking for all (any value but false).
    return 'all_tenants' in query and \
        str(query.get('all_tenants')).strip().lower() not in ('0', 'f', 'false', 'off', 'n', 'no')


def sort_order(query):
    """[(key, descending)] from ``sort=k1:dir,k2`` or ``sort_key``/``sort_dir``."""
    if 'sort' in query and ('sort_key' in query or 'sort_dir' in query):
        raise CinderError(400, "The 'sort_key' and 'sort_dir' parameters are deprecated "
                          "and cannot be used with the 'sort' parameter.")
    pairs = []
    if 'sort' in query:
        for item in query.get('sort').split(','):
            key, _sep, direction = item.strip().partition(':')
            pairs.append((key.strip(), direction.strip() or 'desc'))
    elif 'sort_key' in query or 'sort_dir' in query:
        keys = [k.strip() for k in query.get('sort_key', 'created_at').split(',')]
        dirs = [d.strip() for d in query.get('sort_dir', 'desc').split(',')]
        pairs = [(k, dirs[i] if i < len(dirs) else dirs[-1]) for i, k in enumerate(keys)]
    order = []
    for key, direction in pairs:
        if key == 'display_name':
            key = 'name'
        if key not in SORT_KEYS:
            raise CinderError(400, f'Invalid input received: Invalid sort key: {key[:64]}')
        if direction not in ('asc', 'desc'):
            raise CinderError(400, 'Invalid input received: Unknown sort direction, must '
                              "be 'desc' or 'asc'")
        order.append((key, direction == 'desc'))
    keys = [k for k, _d in order]
    # Cinder always ends with created_at and id, in the first key's direction.
    last = order[0][1] if order else True
    order += [(k, last) for k in ('created_at', 'id') if k not in keys]
    return order


def _sort(items, order):
    for key, descending in reversed(order):
        items.sort(key=lambda item: (item.get(key) is not None, str(item.get(key) or '')
                                     if key != 'size' else item.get(key) or 0),
                   reverse=descending)
    return items


def paginate(request, items, collection, base_url):
    """(page, links, total) of ``items`` by the request's sort/limit/marker."""
    query = request.GET
    items = _sort(list(items), sort_order(query))
    total = len(items)
    marker = query.get('marker')
    if marker is not None:
        ids = [item['id'] for item in items]
        if marker not in ids:
            raise CinderError(404, f'Marker {marker[:64]} could not be found.')
        items = items[ids.index(marker) + 1:]
    limit = validation.non_negative_int('limit', query.get('limit'))
    limit = MAX_LIMIT if limit is None else min(limit, MAX_LIMIT)
    items = items[:limit]
    links = []
    if limit and len(items) == limit:     # as Cinder: a full page links to the next
        params = [(k, v) for k, v in query.items() if k != 'marker']
        params.append(('marker', items[-1]['id']))
        links = [{'rel': 'next',
                  'href': f'{base_url}?{urllib.parse.urlencode(params)}'}]
    return items, links, total
