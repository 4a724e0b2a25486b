"""Stages 1–2 of a server create: the body (size-capped), Nova's schema, BDM parsing.

Order as ``ServersController.create``: schema of the microversion, then
``_process_bdms_for_create`` (mixed syntaxes, from_api / legacy), then
``_image_from_req_data`` (an image or a boot volume is required).
"""

import dataclasses

from oslo_utils import strutils

from blockflow import exceptions
from blockflow.request.validation import bdm as bdm_module
from blockflow.request.validation.catalog import read_capped
from blockflow.request.validation import microversion as mv
from blockflow.request.validation import schema


# Far above any quota, far below Python's int digit limit (4,300).
_MAX_COUNT_DIGITS = 18


@dataclasses.dataclass
class ServerCreateRequest:
    image_ref: str | None
    flavor_ref: str
    min_count: int
    max_count: int
    availability_zone: str | None
    microversion: mv.APIVersion
    legacy_bdm: bool
    bdms: list
    name: str = ''


def _shape_check(body):
    if not isinstance(body, dict):
        raise exceptions.RequestFormatError(
            reason=f'the body must be a JSON object with a "server" key, '
                   f'not {type(body).__name__ if body is not None else "null"}')
    if 'server' not in body:
        raise exceptions.RequestFormatError(
            reason='the body has no "server" key (expected {"server": {...}})')
    if not isinstance(body['server'], dict):
        raise exceptions.RequestFormatError(reason='"server" must be a JSON object')


def max_request_body_size():
    """``[oslo_middleware] max_request_body_size`` of the loaded configuration."""
    from blockflow import conf
    return conf.CONF.oslo_middleware.max_request_body_size


def read_request_body(path, max_bytes=None):
    """The bytes of a request file, refused as Nova's API refuses a large body.

    Nova's paste pipeline (oslo.middleware sizelimit) answers 413 to a body
    over ``max_request_body_size``; the file is read no further than that, so
    /dev/zero or a FIFO ends in bounded time and memory. OSError passes through.
    """
    limit = max_request_body_size() if max_bytes is None else max_bytes
    raw = read_capped(path, limit)
    if raw is None:
        raise exceptions.HTTPRequestEntityTooLarge(limit=limit)
    return raw


def _count(server, field, default):
    """min_count / max_count as an int; the schema has checked the digits."""
    value = server.get(field, default)
    if not isinstance(value, str):
        return int(value)
    value = value.lstrip('0') or '0'
    if len(value) > _MAX_COUNT_DIGITS:
        # Nova's int() fails with a 500 here (Python's int digit limit).
        raise exceptions.ValidationError(
            detail=f'Invalid input for field/attribute {field}. Value: '
                   f'{value[:20]}... ({len(value)} digits). More than '
                   f'{_MAX_COUNT_DIGITS} digits.')
    try:
        return int(value)
    except ValueError:
        # The schema's pattern ends in '$', which also passes a trailing newline
        # (as Nova's does; Nova then fails with a 500): a clean 400 here.
        raise exceptions.ValidationError(
            detail=f'Invalid input for field/attribute {field}. Value: {value!r}. '
                   'Not an integer.') from None


def parse_request(body, microversion=None, enable_backup_source=False):
    """Validate a POST /servers body; return a ServerCreateRequest or raise.

    ``bdms`` are from_api dicts for a non-empty ``block_device_mapping_v2``;
    otherwise (legacy list, empty list or none) the legacy items as given,
    ``legacy_bdm`` True: as in Nova, they become new-format BDMs only in the
    compute API, where the image's root device name and mappings are known.
    """
    version = microversion if isinstance(microversion, mv.APIVersion) \
        else mv.APIVersion.parse(microversion)
    _shape_check(body)
    schema.validate(body, version, enable_backup_source)
    server = body['server']
    image_ref = server.get('imageRef')
    legacy_items = server.get('block_device_mapping', [])
    v2_items = server.get('block_device_mapping_v2', [])

    if legacy_items and v2_items:
        raise exceptions.HTTPBadRequest(
            explanation='Using different block_device_mapping syntaxes is '
                        'not allowed in the same request.')
    # compute.API.create defaults legacy_bdm to True; only a non-empty v2
    # list clears it.
    legacy = not v2_items
    if legacy:
        bdms = []
        for item in legacy_items:
            item = dict(item)
            if 'delete_on_termination' in item:
                item['delete_on_termination'] = strutils.bool_from_string(
                    item['delete_on_termination'])
            bdms.append(item)
    else:
        image_specified = image_ref not in (None, '')
        bdms = [bdm_module.from_api(item, image_specified, enable_backup_source)
                for item in v2_items]

    if not image_ref and not bdms:
        raise exceptions.HTTPBadRequest(explanation='Missing imageRef attribute')

    min_count = _count(server, 'min_count', 1)
    max_count = _count(server, 'max_count', min_count)
    if min_count > max_count:
        raise exceptions.HTTPBadRequest(
            explanation='min_count must be <= max_count')
    return ServerCreateRequest(
        image_ref=image_ref or None, flavor_ref=str(server['flavorRef']),
        min_count=min_count, max_count=max_count,
        availability_zone=server.get('availability_zone'),
        microversion=version, legacy_bdm=legacy, bdms=bdms,
        name=server.get('name', ''))
