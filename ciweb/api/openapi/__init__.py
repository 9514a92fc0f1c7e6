"""The OpenAPI 3.1 document of the API, merged from the ``*.yaml`` fragments beside this file.

``read.yaml`` holds the document's head (``openapi``, ``info``, ``servers``...) and the read
API; other fragments (``write.yaml``...) add ``paths``, ``components`` and ``tags``, and the
schemas of :mod:`ciweb.ci.shapes` (what the reporting API checks reports against) are added to
``components/schemas``.  Two fragments may describe different methods of one path, but not the
same method of a path, nor two different definitions under one component name: that is an
error, not a silent override.

Every operation may be answered 400 by the server itself, before the API runs (a control
character in the target, a malformed header...; JSON under ``[server]
json_error_prefixes``): :func:`load_document` adds the shared :data:`REFUSED` response to
each operation that documents no 400 of its own, so that paths of any fragment get it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from ciweb.ci import shapes

__all__ = [
    "FRAGMENTS",
    "HEAD_FRAGMENT",
    "REFUSED",
    "add_refusals",
    "dump_document",
    "load_document",
    "merge_fragments",
]

FRAGMENTS = Path(__file__).parent
HEAD_FRAGMENT = "read.yaml"
_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
#: The 400 every operation can get from the server before the API runs.
REFUSED = "RequestRefused"
_REFUSED_RESPONSE = {
    "description": "The server refused the request before the API ran: a malformed request "
    "line, target (a control character, even percent-encoded) or header field; the "
    "description says which.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["error", "description"],
                "properties": {
                    "error": {"type": "string", "description": "The reason phrase: Bad Request."},
                    "description": {"type": "string", "description": "What was wrong."},
                },
            }
        }
    },
}


def _read(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        try:
            data = yaml.safe_load(stream)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: an OpenAPI fragment must be a mapping")
    return data


def _merge_paths(into: dict[str, Any], paths: dict[str, Any], source: str) -> None:
    for template, item in paths.items():
        target = into.setdefault(template, {})
        for method, operation in item.items():
            if method in target and target[method] != operation:
                raise ValueError(f"{source}: {method} {template} is described twice")
            target[method] = operation


def _merge_components(into: dict[str, Any], components: dict[str, Any], source: str) -> None:
    for section, entries in components.items():
        target = into.setdefault(section, {})
        for name, definition in entries.items():
            if name in target and target[name] != definition:
                raise ValueError(f"{source}: components/{section}/{name} is defined twice")
            target[name] = definition


def merge_fragments(fragments: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Return one document from (name, fragment) pairs; the first gives the head.

    :param fragments: parsed fragments, the head fragment first.
    :raises ValueError: when two fragments describe the same operation or component.
    """
    document: dict[str, Any] = {}
    for source, fragment in fragments:
        for key, value in fragment.items():
            if key == "paths":
                _merge_paths(document.setdefault("paths", {}), value or {}, source)
            elif key == "components":
                _merge_components(document.setdefault("components", {}), value or {}, source)
            elif key == "tags":
                known = {tag["name"] for tag in document.get("tags", ())}
                document.setdefault("tags", []).extend(
                    tag for tag in value or () if tag["name"] not in known
                )
            else:
                document.setdefault(key, value)
    return document


def add_refusals(document: dict[str, Any]) -> dict[str, Any]:
    """Give every operation of *document* without a 400 the shared :data:`REFUSED` one.

    :param document: a merged document; changed in place and returned.
    """
    responses = document.setdefault("components", {}).setdefault("responses", {})
    responses.setdefault(REFUSED, _REFUSED_RESPONSE)
    reference = {"$ref": f"#/components/responses/{REFUSED}"}
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method in _METHODS and isinstance(operation, dict):
                operation.setdefault("responses", {}).setdefault("400", dict(reference))
    return document


def load_document(directory: Path = FRAGMENTS) -> dict[str, Any]:
    """Read and merge every ``*.yaml`` fragment of *directory* (``read.yaml`` first).

    Every operation then documents a 400 (see :func:`add_refusals`).

    :param directory: where the fragments are.
    :raises ValueError: on an unreadable fragment or a conflict between two.
    """
    files = sorted(directory.glob("*.yaml"), key=lambda p: (p.name != HEAD_FRAGMENT, p.name))
    if not files or files[0].name != HEAD_FRAGMENT:
        raise ValueError(f"{directory}: {HEAD_FRAGMENT} is missing")
    fragments = [(p.name, _read(p)) for p in files]
    # The shapes of reported documents, which the reporting API checks bodies against.
    fragments.append(("ciweb/ci/shapes.yaml", {"components": {"schemas": shapes.schemas()}}))
    return add_refusals(merge_fragments(fragments))


def dump_document(document: dict[str, Any]) -> bytes:
    """Return *document* as UTF-8 YAML, keys in their written order."""
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return text.encode("utf-8")
