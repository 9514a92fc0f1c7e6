"""Check reported documents against Zuul's shapes and fill in Zuul's defaults.

The shapes are JSON Schemas (draft 2020-12) in ``shapes.yaml`` beside this module; the
OpenAPI document serves the same schemas, so what is described is what is checked.
:func:`normalize` validates a report with ``jsonschema`` and raises a
:class:`~ciweb.ci.errors.ValidationError` naming the first bad field (``labels[2].name``),
then returns a copy with every ``default`` of the schema filled in, so that the stored
document is the one served, key for key what zuul-web sends.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from ciweb.ci.errors import ValidationError

if TYPE_CHECKING:
    import jsonschema
    import referencing

__all__ = ["normalize", "schemas"]

_URI = "urn:ciweb:shapes"
_PREFIX = "#/components/schemas/"


@functools.cache
def _document() -> Mapping[str, Any]:
    # A package file read once per process: a constant, like the module's own code.
    text = resources.files("ciweb.ci").joinpath("shapes.yaml").read_text(encoding="utf-8")
    return {"components": {"schemas": yaml.safe_load(text)}}


def schemas() -> dict[str, Any]:
    """Return a copy of every shape by name (for the OpenAPI document's components)."""
    return copy.deepcopy(dict(_document()["components"]["schemas"]))


@functools.cache
def _registry() -> referencing.Registry[Any]:
    # jsonschema is imported on the first report, not when the API starts (the OpenAPI
    # document needs only the schemas' text).
    import referencing
    from referencing.jsonschema import DRAFT202012

    resource = referencing.Resource.from_contents(_document(), default_specification=DRAFT202012)
    return referencing.Registry().with_resource(_URI, resource)


def _schema(ref: str) -> Mapping[str, Any]:
    name = ref.removeprefix(_PREFIX)
    return _document()["components"]["schemas"][name]


def _join(path: str, part: Any) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else str(part)


def _field(error: jsonschema.ValidationError, field: str) -> str:
    path = field
    for part in error.absolute_path:
        path = _join(path, part)
    instance = error.instance
    if "propertyNames" in error.schema_path:
        return _join(path, str(instance)[:80])
    if error.validator == "required" and isinstance(instance, Mapping):
        missing = [name for name in error.validator_value if name not in instance]
        return _join(path, missing[0]) if missing else path
    if error.validator == "additionalProperties" and isinstance(instance, Mapping):
        known = error.schema.get("properties", {})
        extra = [name for name in instance if name not in known]
        return _join(path, extra[0]) if extra else path
    return path or "body"


_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


def _message(error: jsonschema.ValidationError) -> str:
    # Short messages that never echo the value (it may be large, or a secret).
    rule, value = error.validator, error.validator_value
    if rule == "required":
        return "is required"
    if rule == "additionalProperties":
        return "unknown field"
    if rule == "type":
        kinds = [value] if isinstance(value, str) else list(value)
        return "must be " + " or ".join(_TYPE_WORDS.get(k, k) for k in kinds)
    if rule == "enum":
        return "must be one of " + ", ".join(str(v) for v in value)
    messages = {
        "minLength": f"must have at least {value} characters",
        "maxLength": f"must have at most {value} characters",
        "minimum": f"must be >= {value}",
        "maximum": f"must be <= {value}",
        "pattern": f"must match {value}",
    }
    return messages.get(str(rule), "has the wrong shape")


def validate(shape: str, data: Any, field: str) -> None:
    """Raise unless *data* has the shape named *shape*.

    :param shape: a schema name of ``shapes.yaml``, e.g. ``Node``; ``[Node]`` for a list.
    :param data: the decoded JSON.
    :param field: the name of *data* in error messages, e.g. ``nodes``; "" for a request
        body whose fields are named alone (``branch``, ``jobs[0].name``).
    :raises ValidationError: naming the first bad field, e.g. ``nodes[3].state``.
    """
    import jsonschema

    schema = _list_schema(shape) if shape.startswith("[") else {"$ref": _URI + _PREFIX + shape}
    validator = jsonschema.Draft202012Validator(schema, registry=_registry())
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        raise ValidationError(_field(error, field), _message(error))


def _list_schema(shape: str) -> dict[str, Any]:
    return {"type": "array", "items": {"$ref": _URI + _PREFIX + shape.strip("[]")}}


def normalize(shape: str, data: Any, field: str) -> Any:
    """Return a copy of *data* with Zuul's defaults filled in, once it has the shape.

    :param shape: a schema name of ``shapes.yaml``; ``[Name]`` for a list of them.
    :param data: the decoded JSON of the report.
    :param field: the name of *data* in error messages.
    :raises ValidationError: naming the first bad field.
    """
    validate(shape, data, field)
    schema = _list_schema(shape) if shape.startswith("[") else _schema(_PREFIX + shape)
    return _fill(schema, copy.deepcopy(data))


def _resolve(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        ref = str(schema["$ref"]).removeprefix(_URI)
        schema = _schema(ref)
    return schema


def _branch(schema: Mapping[str, Any], value: Any) -> Mapping[str, Any]:
    # The subschema of an anyOf that describes an object, for an object value.
    for option in schema.get("anyOf", ()):
        resolved = _resolve(option)
        if isinstance(value, dict) and "properties" in resolved:
            return resolved
    return schema


def _fill(schema: Mapping[str, Any], value: Any) -> Any:
    schema = _branch(_resolve(schema), value)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name, sub in properties.items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
        for name, item in value.items():
            sub = properties.get(name, schema.get("additionalProperties"))
            if isinstance(sub, Mapping):
                value[name] = _fill(sub, item)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [_fill(schema["items"], item) for item in value]
    return value
