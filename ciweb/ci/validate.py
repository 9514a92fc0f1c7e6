"""Checks of input values (JSON bodies and query parameters); each error names its field."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from ciweb.ci.errors import ValidationError

TRUE_WORDS = frozenset({"true", "1"})
FALSE_WORDS = frozenset({"false", "0"})
_NAME_MAX = 255
# The default ceiling of an integer: the largest one a JSON client (a double) holds exactly;
# without a ceiling SQLite's driver raises OverflowError past 2**63 - 1 (a 500, not a 400).
INT_MAX = 2**53 - 1
# The ceiling of a value compared with or stored in an INTEGER column: 32 bits on PostgreSQL,
# where SQLAlchemy binds it as "%(x)s::INTEGER" ("integer out of range" past it).
INT32_MAX = 2**31 - 1
# An id path segment is 1 to 18 ASCII digits: every such number fits a BIGINT column.
_ID_DIGITS = 18


def check_keys(data: Any, allowed: Collection[str], *, field: str = "body") -> Mapping[str, Any]:
    """Return *data* if it is a mapping whose keys are all in *allowed*.

    :param data: the decoded JSON object.
    :param allowed: known keys.
    :param field: name used in the error when *data* is not an object.
    :raises ValidationError: naming the first unknown key.
    """
    if not isinstance(data, Mapping):
        raise ValidationError(field, "must be a JSON object")
    for key in data:
        if key not in allowed:
            raise ValidationError(str(key), "unknown field")
    return data


def string(
    data: Mapping[str, Any],
    key: str,
    *,
    required: bool = False,
    max_len: int = _NAME_MAX,
    default: str | None = None,
    choices: Collection[str] | None = None,
) -> str | None:
    """Return the string *data[key]*, or *default* when absent or null.

    :raises ValidationError: when required and missing, not a string, empty when required,
        too long, or not one of *choices*.
    """
    value = data.get(key)
    if value is None:
        if required:
            raise ValidationError(key, "is required")
        return default
    if not isinstance(value, str):
        raise ValidationError(key, "must be a string")
    if required and not value:
        raise ValidationError(key, "must not be empty")
    if len(value) > max_len:
        raise ValidationError(key, f"must be at most {max_len} characters")
    if choices is not None and value not in choices:
        raise ValidationError(key, f"must be one of {', '.join(sorted(choices))}")
    return value


def required_string(data: Mapping[str, Any], key: str, **kwargs: Any) -> str:
    """Return the non-empty string *data[key]*; see :func:`string`."""
    value = string(data, key, required=True, **kwargs)
    if value is None:  # pragma: no cover - string() raised already
        raise ValidationError(key, "is required")
    return value


def integer(
    data: Mapping[str, Any],
    key: str,
    *,
    default: int | None = None,
    minimum: int | None = None,
    maximum: int = INT_MAX,
) -> int | None:
    """Return the integer *data[key]* (booleans refused), or *default*.

    :param minimum: the smallest value allowed, if any.
    :param maximum: the largest value allowed.
    :raises ValidationError: when not an integer, below *minimum* or above *maximum*.
    """
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(key, "must be an integer")
    return bounded(key, value, minimum, maximum)


def bounded(field: str, value: int, minimum: int | None, maximum: int) -> int:
    """Return *value* if it lies within [*minimum*, *maximum*].

    :param field: name for the error message.
    :raises ValidationError: "must be >= N" or "must be <= N".
    """
    if minimum is not None and value < minimum:
        raise ValidationError(field, f"must be >= {minimum}")
    if value > maximum:
        raise ValidationError(field, f"must be <= {maximum}")
    return value


def parse_int(
    field: str, raw: str, *, minimum: int | None = None, maximum: int = INT_MAX
) -> int:
    """Return the string *raw* as an integer within [*minimum*, *maximum*].

    :param field: name for the error message.
    :raises ValidationError: "must be an integer", "must be >= N" or "must be <= N".
    """
    try:
        # int() also reads non-ASCII decimal digits (Arabic-Indic ones, say); bounds still hold.
        value = int(raw)
    except ValueError:  # also more than sys.get_int_max_str_digits() digits
        raise ValidationError(field, "must be an integer") from None
    return bounded(field, value, minimum, maximum)


def id_param(value: int | str, error: Exception, *, maximum: int | None = None) -> int:
    """Return the id path segment *value* as an integer, or raise *error*.

    Only 1 to 18 ASCII digits are an id: ``str.isdigit`` alone also accepts a superscript
    two, which int() refuses, and a longer number overflows the database's 64-bit integers.

    :param value: the segment (or an int from a Python caller).
    :param error: what the caller raises for a bad id, e.g. ``NotFound("Hold request x not
        found.")`` or a :class:`ValidationError`.
    :param maximum: the largest id the column holds (:data:`INT32_MAX` for an INTEGER one).
    """
    text = str(value)
    if not (text.isascii() and text.isdigit() and len(text) <= _ID_DIGITS):
        raise error
    number = int(text)
    if maximum is not None and number > maximum:
        raise error
    return number


def boolean(data: Mapping[str, Any], key: str, *, default: bool) -> bool:
    """Return the JSON boolean *data[key]*, or *default*.

    :raises ValidationError: when not a boolean.
    """
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValidationError(key, "must be true or false")
    return value


def timestamp(data: Mapping[str, Any], key: str) -> dt.datetime | None:
    """Return *data[key]* as a naive UTC datetime.

    Accepts epoch seconds (int or float) or an ISO 8601 string; a string without a zone is UTC.

    :raises ValidationError: when it is neither.
    """
    return parse_time(key, data.get(key))


def parse_time(field: str, value: Any) -> dt.datetime | None:
    """Return *value* (epoch seconds, ISO 8601 string or datetime) as a naive UTC datetime.

    :param field: name for the error message.
    :raises ValidationError: when *value* is not a time.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            parsed = dt.datetime.fromtimestamp(value, dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise ValidationError(field, "is out of range") from None
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(field, "must be an ISO 8601 time or epoch seconds") from None
    else:
        raise ValidationError(field, "must be an ISO 8601 time or epoch seconds")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed.replace(microsecond=0)


def json_list(data: Mapping[str, Any], key: str) -> list[Any]:
    """Return the list *data[key]* (empty when absent).

    :raises ValidationError: when not a list.
    """
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError(key, "must be a list")
    return value


def string_list(data: Mapping[str, Any], key: str) -> list[str]:
    """Return the list of strings *data[key]* (empty when absent).

    :raises ValidationError: when not a list of strings.
    """
    value = json_list(data, key)
    if not all(isinstance(v, str) for v in value):
        raise ValidationError(key, "must be a list of strings")
    return value


def regex(field: str, value: str) -> str:
    """Return *value* if it compiles as a regular expression.

    :raises ValidationError: naming *field* otherwise.
    """
    try:
        re.compile(value)
    except re.error as exc:
        raise ValidationError(field, f"invalid regular expression: {exc}") from None
    return value


def param_values(params: Mapping[str, Any], key: str) -> list[str]:
    """Return the values of query parameter *key* as a list (a repeated parameter is a list).

    :param params: parameter name to one string or a sequence of strings.
    :raises ValidationError: when a value is not a string.
    """
    value = params.get(key)
    if value is None:
        return []
    values: Sequence[Any] = [value] if isinstance(value, str) else value
    if not all(isinstance(v, str) for v in values):
        raise ValidationError(key, "must be a string")
    return list(values)


def param_scalar(params: Mapping[str, Any], key: str) -> str | None:
    """Return the single value of query parameter *key*, or None.

    :raises ValidationError: when it is repeated.
    """
    values = param_values(params, key)
    if len(values) > 1:
        raise ValidationError(key, "must be given once")
    return values[0] if values else None


def param_int(
    params: Mapping[str, Any], key: str, default: int | None, *, maximum: int = INT_MAX
) -> int | None:
    """Return query parameter *key* as a non-negative integer, or *default*.

    :param maximum: the largest value allowed.
    :raises ValidationError: "must be an integer", "must be >= 0" or "must be <= N".
    """
    raw = param_scalar(params, key)
    if raw is None or raw == "":
        return default
    return parse_int(key, raw, minimum=0, maximum=maximum)


def param_bool(params: Mapping[str, Any], key: str) -> bool | None:
    """Return query parameter *key* as a boolean: True/true/1 or False/false/0, else None.

    :raises ValidationError: for any other value.
    """
    raw = param_scalar(params, key)
    if raw is None or raw == "":
        return None
    word = raw.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValidationError(key, "must be true or false (True/true/1, False/false/0)")


def paged(params: Mapping[str, Any], allowed: Collection[str]) -> tuple[int, int]:
    """Check that every query parameter is *allowed*; return its ``limit`` (50) and ``skip`` (0).

    :param params: parameter name to one string or a sequence of strings.
    :param allowed: the parameters the endpoint knows, ``limit`` and ``skip`` included.
    :raises ValidationError: naming an unknown parameter, or a bad limit or skip.
    """
    for key in params:
        if key not in allowed:
            raise ValidationError(key, "unknown parameter")
    limit = param_int(params, "limit", 50, maximum=INT32_MAX)
    skip = param_int(params, "skip", 0, maximum=INT32_MAX)
    return (50 if limit is None else limit), (skip or 0)
