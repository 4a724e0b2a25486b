"""JSON responses of the embedded cloud."""

import json

import webob


def json_response(status, body, request_id, extra_headers=None):
    """A JSON reply carrying the request id (no body and no content type for ``None``)."""
    response = webob.Response(status=status, content_type='application/json',
                              charset='utf-8')
    response.body = json.dumps(body).encode('utf-8') if body is not None else b''
    response.headers['x-openstack-request-id'] = request_id
    response.headers['x-compute-request-id'] = request_id     # as Cinder sends both
    for key, value in (extra_headers or {}).items():
        response.headers[key] = value
    return response
