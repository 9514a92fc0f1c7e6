"""Tests of ciweb.ci.shapes: reports checked against Zuul's shapes, defaults filled in."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from ciweb.ci import shapes
from ciweb.ci.errors import ValidationError

# Every key of Zuul 14.3's Job.toDict but nodeset/nodeset_alternatives (left out without nodes).
JOB_KEYS = {
    "name", "branches", "override_checkout", "files", "irrelevant_files",
    "variant_description", "source_context", "description", "required_projects",
    "include_projects", "exclude_projects", "semaphores", "variables", "extra_variables",
    "host_variables", "group_variables", "final", "abstract", "intermediate", "protected",
    "voting", "pre_timeout", "timeout", "post_timeout", "tags", "provides", "requires",
    "dependencies", "attempts", "roles", "run", "pre_run", "post_run", "cleanup_run",
    "post_review", "match_on_config_updates", "deduplicate", "failure_output",
    "image_build_name", "type", "secret_exposure", "include_vars", "parent",
    "ansible_split_streams", "ansible_version", "workspace_scheme", "workspace_checkout",
}  # fmt: skip


def test_every_shape_is_a_valid_json_schema() -> None:
    for schema in shapes.schemas().values():
        Draft202012Validator.check_schema(schema)


def test_a_minimal_job_variant_gets_every_field_of_zuul() -> None:
    variant = shapes.normalize("JobVariant", {"name": "tox"}, "variants[0]")
    assert set(variant) == JOB_KEYS
    assert variant["voting"] is True and variant["attempts"] == 3
    assert variant["deduplicate"] == "auto" and variant["workspace_scheme"] == "golang"


def test_a_nodeset_gets_zuuls_node_fields_also_in_alternatives() -> None:
    nodeset = {"alternatives": ["small", {"name": "big", "nodes": [{"name": "a", "label": "l"}]}]}
    variant = shapes.normalize("JobVariant", {"name": "j", "nodeset": nodeset}, "v")
    assert variant["nodeset"]["name"] == "" and variant["nodeset"]["nodes"] == []
    big = variant["nodeset"]["alternatives"][1]
    assert big["nodes"][0] == {
        "name": "a", "label": "l", "aliases": [], "id": None, "state": "unknown",
        "hold_job": None, "comment": None, "user_data": None, "tenant_name": None,
        "requestor": None,
    }  # fmt: skip


def test_the_input_is_not_changed() -> None:
    data = {"name": "s", "max": 1}
    shapes.normalize("Semaphore", data, "s")
    assert data == {"name": "s", "max": 1}


@pytest.mark.parametrize(
    ("shape", "data", "field", "message"),
    [
        ("[Label]", [{"name": "a"}, {"name": 3}], "labels[1].name", "must be a string"),
        ("[Label]", [{"name": "a", "colour": 1}], "labels[0].colour", "unknown field"),
        ("[Label]", [{}], "labels[0].name", "is required"),
        ("[Label]", {"name": "a"}, "labels", "must be a list"),
        ("Node", {"uuid": "u", "label": "l"}, "labels.state", "is required"),
        ("JobVariant", {"name": "j", "workspace_scheme": "x"}, "labels.workspace_scheme",
         "must be one of golang, flat, unique"),
        ("JobVariant", {"name": "j", "nodeset": {"nodes": [{"name": "n"}]}},
         "labels.nodeset.nodes[0].label", "is required"),
        ("Components", {"Bad Kind": []}, "labels.Bad Kind", "must match"),
        ("Semaphore", {"name": "s", "max": 0}, "labels.max", "must be >= 1"),
    ],
)
def test_a_bad_report_names_the_field(shape, data, field, message) -> None:
    with pytest.raises(ValidationError) as caught:
        shapes.normalize(shape, data, "labels")
    assert caught.value.field == field
    assert caught.value.message.startswith(message)


def test_errors_never_echo_the_value() -> None:
    secret = "s3cr3t-" * 100
    with pytest.raises(ValidationError) as caught:
        shapes.normalize("Label", {"name": secret}, "label")
    assert "s3cr3t" not in str(caught.value)
