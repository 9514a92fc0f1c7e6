"""Zuul 14.3.0's own ``openapi.yaml``, to check ciweb's answers with openapi-core.

The file comes with the dashboard the browser tests install from the zuul wheel on PyPI
(``tests.functional.console.stack.installed_dashboard``), not from a copy in this
repository.  zuul-web generates it from Python types, so two adaptations are needed before a
real answer can be checked against it, Zuul's own answers included:

* status codes are YAML integers (``200:``); OpenAPI keys are strings;
* no schema says ``nullable``, while zuul-web sends null for unset fields (a running build's
  ``result``, ``error_detail``...): every typed schema is made nullable;
* a few fields are declared ``str`` where zuul-web sends the database column's type (its
  ``BuildConverter.schema`` says ``'_id': str`` while ``toDict`` sends ``build.id``): these
  take the type zuul-web really sends, which zuul-client and the dashboard rely on
  (:data:`SENT_TYPES`);
* the badge's ``image/svg+xml`` is declared an ``object``: a body that is not JSON is text.

Zuul's path parameters (``{project_name}``, ``{branch_name}``) take slashes, which
openapi-core's path matching does not; the operation is named by its template instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import webob
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

# ciweb's names of path parameters -> Zuul's.
_NAMES = {
    "tenant": "tenant_name",
    "project": "project_name",
    "pipeline": "pipeline_name",
    "branch": "branch_name",
    "job": "job_name",
    "hold_id": "request_id",
}
_VAR = re.compile(r"\{(\w+)\}")
# Properties declared "string" in Zuul's document whose values zuul-web sends as another type:
# the ids, flags and durations of builds and buildsets, a ref's change number, an image
# artifact's or upload's validated flag (zuul/web/__init__.py converters, zuul/model.py).
SENT_TYPES = {
    "_id": "integer",
    "held": "boolean",
    "voting": "boolean",
    "final": "boolean",
    "duration": "number",
    "change": "integer",
    "validated": "boolean",
}


def _adapt(node: Any) -> Any:
    if isinstance(node, dict):
        out = {str(k) if isinstance(k, int) else k: _adapt(v) for k, v in node.items()}
        if isinstance(out.get("type"), str):
            out["nullable"] = True
        for name, schema in (out.get("properties") or {}).items():
            if name in SENT_TYPES and schema.get("type") == "string":
                schema["type"] = SENT_TYPES[name]
        for media, entry in (out.get("content") or {}).items():
            if "json" not in media and entry.get("schema", {}).get("type") == "object":
                entry["schema"]["type"] = "string"
        return out
    if isinstance(node, list):
        return [_adapt(item) for item in node]
    return node


class ZuulSpec:
    """Zuul's OpenAPI document, adapted, and checks of real answers against it.

    :param path: Zuul's ``openapi.yaml``.
    """

    def __init__(self, path: Path) -> None:
        self.document = _adapt(yaml.safe_load(path.read_text()))
        self.api = OpenAPI.from_dict(self.document)

    def template(self, ciweb_template: str) -> str:
        """Return Zuul's template of a path of ciweb's OpenAPI document."""
        return _VAR.sub(lambda m: "{" + _NAMES.get(m.group(1), m.group(1)) + "}", ciweb_template)

    def covers(self, ciweb_template: str, method: str, status: int) -> bool:
        """Return whether Zuul's document describes that answer (path, method and status)."""
        operation = self.document["paths"].get(self.template(ciweb_template), {}).get(method)
        return operation is not None and str(status) in operation.get("responses", {})

    def validate(
        self, ciweb_template: str, path: str, response: webob.Response, method: str = "get"
    ) -> None:
        """Raise unless *response* to *path* is what Zuul's document says.

        :param ciweb_template: the path's template in ciweb's document, e.g.
            ``/api/tenant/{tenant}/flavors``.
        """
        request = MockRequest(
            "http://localhost",
            method,
            path.split("?", 1)[0],
            path_pattern=self.template(ciweb_template),
        )
        media = response.content_type or "application/json"
        answer = MockResponse(
            response.body if "json" in media else response.text,
            status_code=response.status_code,
            headers=dict(response.headers),
            content_type=media,
        )
        self.api.validate_response(request, answer)
