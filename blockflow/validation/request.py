"""Stages 1–2 of a server create: the body's shape, Nova's schema, BDM parsing.

Order as ``ServersController.create``: schema of the microversion, then
``_process_bdms_for_create`` (mixed syntaxes, from_api / legacy), then
``_image_from_req_data`` (an image or a boot volume is required).
"""

import dataclasses

from oslo_utils import strutils

from blockflow import exceptions
from blockflow.validation import bdm as bdm_module
from blockflow.validation import microversion as mv
from blockflow.validation import schema


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


def parse_request(body, microversion=None, enable_backup_source=False):
    """Validate a POST /servers body; return a ServerCreateRequest or raise."""
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
    legacy = bool(legacy_items)
    if legacy:
        items = []
        for item in legacy_items:
            item = dict(item)
            if 'delete_on_termination' in item:
                item['delete_on_termination'] = strutils.bool_from_string(
                    item['delete_on_termination'])
            items.append(item)
        # compute.API uses the root device name of the image, default vda.
        bdms = bdm_module.from_legacy_mapping(items, image_uuid=image_ref or '',
                                              root_device_name='vda')
    else:
        image_specified = image_ref not in (None, '')
        bdms = [bdm_module.from_api(item, image_specified, enable_backup_source)
                for item in v2_items]

    if not image_ref and not (legacy_items or v2_items):
        raise exceptions.HTTPBadRequest(explanation='Missing imageRef attribute')

    min_count = int(server.get('min_count', 1))
    max_count = int(server.get('max_count', min_count))
    if min_count > max_count:
        raise exceptions.HTTPBadRequest(
            explanation='min_count must be <= max_count')
    return ServerCreateRequest(
        image_ref=image_ref or None, flavor_ref=str(server['flavorRef']),
        min_count=min_count, max_count=max_count,
        availability_zone=server.get('availability_zone'),
        microversion=version, legacy_bdm=legacy, bdms=bdms,
        name=server.get('name', ''))
