"""Helpers of the API tests: requests through an app, and OpenAPI checks of real responses."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import referencing
import webob
from jsonschema import Draft202012Validator
from referencing.jsonschema import DRAFT202012

from ciweb.ci import admin, demo, writes
from ciweb.ci.engine import make_engine
from ciweb.ci.store import Store

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

TENANT = demo.TENANT
OTHER = "other-tenant"
T = f"/api/tenant/{TENANT}"
_URI = "urn:ciweb:openapi"
_VAR = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def get(app: WSGIApplication, path: str, **kwargs: Any) -> webob.Response:
    """Send one request (GET unless ``method=``) through *app* and return the response."""
    return webob.Request.blank(path, **kwargs).get_response(app)


def error_of(response: webob.Response) -> str:
    """Return the ``description`` of a JSON error response."""
    assert response.content_type == "application/json", response.body[:200]
    return str(response.json["description"])


def build_demo_database(path: Path | str) -> None:
    """Create a migrated database with the demo tenant and a second tenant that has one
    autohold request of its own.

    :param path: a SQLite file, or a database URL.
    """
    url = path if isinstance(path, str) else f"sqlite:///{path}"
    store = Store(make_engine(url), key_bits=2048)
    store.upgrade()
    demo.load_demo(store)
    writes.upsert_tenant(store, OTHER)
    writes.upsert_project(
        store,
        OTHER,
        {
            "name": "other/project",
            "connection_name": "gerrit",
            "type": "untrusted",
            "canonical_name": "review.example.org/other/project",
        },
        with_keys=False,
    )
    admin.create_autohold(
        store,
        OTHER,
        "other/project",
        {
            "job": "j",
            "count": 1,
            "change": "",
            "ref": "",
            "reason": "other's",
            "node_hold_expiration": None,
        },
    )
    store.engine.dispose()


def copy_database(source: Path, target: Path) -> str:
    """Copy a SQLite database with the backup API (WAL included); return the target URL."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return f"sqlite:///{target}"


def doc_template(route_template: str) -> str:
    """Return the OpenAPI path of a Routes template: ``{project:.+}`` -> ``{project}``."""
    return _VAR.sub(lambda m: "{" + m.group(1) + "}", route_template)


def _pointer(*parts: str) -> str:
    # RFC 6901 §3: "~" is "~0" and "/" is "~1" inside a reference token.
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


class OpenApi:
    """Check real responses against the schemas of an OpenAPI 3.1 document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = referencing.Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry: referencing.Registry[Any] = referencing.Registry().with_resource(
            _URI, resource
        )

    def _response_spec(self, template: str, method: str, status: int) -> tuple[list[str], dict]:
        operation = self.document["paths"][template][method]
        parts = ["paths", template, method, "responses", str(status)]
        spec = operation["responses"][str(status)]
        if "$ref" in spec:
            parts = spec["$ref"].lstrip("#/").split("/")
            spec = self.document
            for part in parts:
                spec = spec[part]
        return parts, spec

    def validate(self, template: str, response: webob.Response, method: str = "get") -> None:
        """Raise unless *response* is described by ``paths[template][method]``: its status,
        media type, body schema and the headers the document declares."""
        parts, spec = self._response_spec(template, method, response.status_code)
        for name in spec.get("headers", {}):
            assert name in response.headers, f"{template}: header {name} missing"
        content = spec.get("content")
        if content is None:
            assert response.body == b"", f"{template}: {response.status} has a body"
            return
        media = response.content_type
        assert media in content, f"{template}: {media} not in {sorted(content)}"
        instance: Any = response.json if media == "application/json" else response.text
        schema = {"$ref": _URI + "#" + _pointer(*parts, "content", media, "schema")}
        Draft202012Validator(schema, registry=self.registry).validate(instance)
