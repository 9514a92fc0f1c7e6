"""``/api/openapi.yaml``: the OpenAPI 3.1 document of the API, merged and serialised once."""

from __future__ import annotations

from typing import TYPE_CHECKING

import webob

from ciweb.api.controllers.base import ApiController

if TYPE_CHECKING:
    from ciweb.api.context import ApiContext
    from ciweb.wsgi.request import Request

__all__ = ["YAML_CONTENT_TYPE", "OpenApiController"]

# RFC 9512: the registered media type of YAML.
YAML_CONTENT_TYPE = "application/yaml"


class OpenApiController(ApiController):
    """Serve the document given at construction."""

    def __init__(self, context: ApiContext, *, document: bytes) -> None:
        """Build the controller.

        :param context: the API context.
        :param document: the YAML bytes (see :func:`ciweb.api.openapi.dump_document`).
        """
        super().__init__(context)
        self._document = document

    def openapi(self, req: Request) -> webob.Response:
        """Return the YAML document; it describes the API, so anyone may read it."""
        response = webob.Response(body=self._document, charset="utf-8")
        response.content_type = YAML_CONTENT_TYPE
        return response
