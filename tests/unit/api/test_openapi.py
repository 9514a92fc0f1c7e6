"""Tests of ciweb.api.openapi: merging the fragments, and the document covering every route."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from ciweb.api import openapi
from ciweb.api.routes import ROOT_ROUTES, TENANT_PREFIX, TENANT_ROUTES
from ciweb.middleware.faults import Faults
from tests.unit.api.helpers import doc_template, get


def _head() -> dict:
    return {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}}


def test_fragments_add_paths_methods_components_and_tags() -> None:
    read = {
        **_head(),
        "paths": {"/a": {"get": {"x": 1}}},
        "tags": [{"name": "r"}],
        "components": {"schemas": {"A": {"type": "object"}}},
    }
    write = {
        "paths": {"/a": {"post": {"y": 2}}, "/b": {"put": {}}},
        "tags": [{"name": "r"}],
        "components": {"schemas": {"B": {}, "A": {"type": "object"}}},
        "openapi": "9.9",
    }
    doc = openapi.merge_fragments([("read.yaml", read), ("write.yaml", write)])
    assert doc["paths"] == {"/a": {"get": {"x": 1}, "post": {"y": 2}}, "/b": {"put": {}}}
    assert doc["components"]["schemas"] == {"A": {"type": "object"}, "B": {}}
    assert doc["tags"] == [{"name": "r"}]
    assert doc["openapi"] == "3.1.0"


def test_two_fragments_describing_one_operation_is_an_error() -> None:
    with pytest.raises(ValueError, match="get /a is described twice"):
        openapi.merge_fragments(
            [
                ("read.yaml", {"paths": {"/a": {"get": {"x": 1}}}}),
                ("write.yaml", {"paths": {"/a": {"get": {"x": 2}}}}),
            ]
        )


def test_two_definitions_of_one_component_is_an_error() -> None:
    with pytest.raises(ValueError, match="components/schemas/A"):
        openapi.merge_fragments(
            [
                ("read.yaml", {"components": {"schemas": {"A": {"type": "string"}}}}),
                ("write.yaml", {"components": {"schemas": {"A": {"type": "object"}}}}),
            ]
        )


def test_load_document_needs_read_yaml_and_reads_it_first(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"read\.yaml is missing"):
        openapi.load_document(tmp_path)
    (tmp_path / "a.yaml").write_text("openapi: 0\npaths: {/x: {get: {}}}\n")
    (tmp_path / "read.yaml").write_text("openapi: 3.1.0\npaths: {/y: {get: {}}}\n")
    doc = openapi.load_document(tmp_path)
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {"/x", "/y"}


def test_a_broken_fragment_is_a_value_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "read.yaml").write_text("a: [\n")
    with pytest.raises(ValueError, match=r"read\.yaml"):
        openapi.load_document(tmp_path)


def test_every_read_route_is_documented() -> None:
    paths = openapi.load_document()["paths"]
    templates = [path for _n, path, _c, _a in ROOT_ROUTES] + ["/api"]
    templates += [TENANT_PREFIX + suffix for _n, suffix, _c, _a in TENANT_ROUTES]
    for template in templates:
        assert "get" in paths[doc_template(template)], template


def test_every_schema_of_the_document_is_a_valid_json_schema() -> None:
    doc = openapi.load_document()
    assert doc["openapi"].startswith("3.1")
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_the_merged_document_is_served_as_yaml(app: Faults) -> None:
    response = get(app, "/api/openapi.yaml")
    assert response.status_code == 200
    assert response.content_type == "application/yaml"
    assert yaml.safe_load(response.body) == openapi.load_document()


def test_every_operation_documents_the_400_of_a_refused_request() -> None:
    doc = openapi.load_document()
    refused = f"#/components/responses/{openapi.REFUSED}"
    operations = [
        (method, path, operation)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) > 40
    for method, path, operation in operations:
        assert "400" in operation["responses"], (method, path)
    # Operations with a 400 of their own keep it; the others get the shared one.
    assert doc["paths"]["/api/tenants"]["get"]["responses"]["400"] == {"$ref": refused}
    builds = doc["paths"]["/api/tenant/{tenant}/builds"]["get"]["responses"]["400"]
    assert builds == {"$ref": "#/components/responses/BadRequest"}
    schema = doc["components"]["responses"][openapi.REFUSED]["content"]["application/json"]
    Draft202012Validator(schema["schema"]).validate(
        {"error": "Bad Request", "description": "control character in request target"}
    )


def test_add_refusals_covers_the_operations_of_every_fragment() -> None:
    doc = openapi.merge_fragments(
        [
            ("read.yaml", {**_head(), "paths": {"/a": {"get": {"responses": {"200": {}}}}}}),
            ("more.yaml", {"paths": {"/b": {"post": {}, "parameters": []}}}),
        ]
    )
    openapi.add_refusals(doc)
    assert set(doc["paths"]["/a"]["get"]["responses"]) == {"200", "400"}
    assert set(doc["paths"]["/b"]["post"]["responses"]) == {"400"}
    assert doc["paths"]["/b"]["parameters"] == []
