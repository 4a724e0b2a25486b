"""Glance v2 handlers of the embedded cloud (images, their schema and files).

A mixin of ``app.CloudApp``; Glance's errors have their own body shape.
"""

import webob

from blockflow.cloud import glance
from blockflow.cloud.http import json_response as _json
from blockflow.cloud.volumes import CinderError


class ImageHandlers:
    def _glance(self, request, request_id, op):
        try:
            self.identity.optional_context(request.headers)
        except CinderError:
            return self._glance_error(401, 'Unauthorized',
                                      'This server could not verify that you are '
                                      'authorized to access the document you requested.',
                                      request_id)
        self.cloud.faults.on_call(op)
        return None

    @staticmethod
    def _glance_error(status, title, message, request_id):
        return _json(status, {'code': status, 'title': title, 'message': message},
                     request_id)

    def image_versions(self, request, request_id):
        return _json(200, {'versions': [{'id': 'v2.16', 'status': 'CURRENT', 'links': [
            {'rel': 'self', 'href': f'{self.public_url}/image/v2/'}]}]}, request_id)

    def image_schema(self, request, request_id):
        return self._glance(request, request_id, 'image.schema') or \
            _json(200, glance.IMAGE_SCHEMA, request_id)

    def images_list(self, request, request_id):
        refused = self._glance(request, request_id, 'image.list')
        return refused or _json(200, {'images': self.cloud.glance.list(
            request.GET.get('name'))}, request_id)

    def image_show(self, request, request_id, image_id):
        refused = self._glance(request, request_id, 'image.get')
        if refused:
            return refused
        image = self.cloud.glance.get(image_id)
        if image is None:
            return self._glance_error(404, 'Not Found', f'No image found with ID {image_id}',
                                      request_id)
        return _json(200, image, request_id)

    def image_file(self, request, request_id, image_id):
        refused = self._glance(request, request_id, 'image.download')
        if refused:
            return refused
        if self.cloud.glance.get(image_id) is None:
            return self._glance_error(404, 'Not Found', f'No image found with ID {image_id}',
                                      request_id)
        response = webob.Response(content_type='application/octet-stream')
        response.body_file = open(self.cloud.glance.file_path(image_id), 'rb')
        response.headers['x-openstack-request-id'] = request_id
        return response

