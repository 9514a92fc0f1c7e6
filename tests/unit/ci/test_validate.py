"""Checks of input values: integers are bounded and ids are ASCII digits."""

from __future__ import annotations

import pytest

from ciweb.ci import validate
from ciweb.ci.errors import NotFound, ValidationError

HUGE = "99999999999999999999999"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (HUGE, f"must be <= {validate.INT_MAX}"),
        (str(validate.INT_MAX + 1), f"must be <= {validate.INT_MAX}"),
        ("-1", "must be >= 0"),
        ("\u00b2", "must be an integer"),
        ("1" * 5000, "must be an integer"),
    ],
)
def test_a_query_integer_out_of_range_or_not_a_number_names_the_parameter(raw, message):
    with pytest.raises(ValidationError) as err:
        validate.param_int({"n": raw}, "n", None)
    assert (err.value.field, err.value.message) == ("n", message)


def test_a_query_integer_up_to_its_maximum_is_read():
    assert validate.param_int({"n": str(validate.INT_MAX)}, "n", None) == validate.INT_MAX
    assert validate.param_int({"n": "10"}, "n", None, maximum=10) == 10
    with pytest.raises(ValidationError, match="must be <= 10"):
        validate.param_int({"n": "11"}, "n", None, maximum=10)


def test_a_json_integer_has_a_maximum():
    assert validate.integer({"n": validate.INT_MAX}, "n") == validate.INT_MAX
    for value in (validate.INT_MAX + 1, 10**30):
        with pytest.raises(ValidationError) as err:
            validate.integer({"n": value}, "n")
        assert err.value.field == "n"
    with pytest.raises(ValidationError, match="must be <= 5"):
        validate.integer({"n": 6}, "n", maximum=5)


@pytest.mark.parametrize("value", ["0", "7", "9" * 18, 42])
def test_an_id_of_up_to_18_ascii_digits_is_read(value):
    assert validate.id_param(value, NotFound("x")) == int(value)


@pytest.mark.parametrize(
    "value", ["", "x", "-1", "+1", " 1", "1.0", "\u00b2", "\u0661", "1" * 19, -1]
)
def test_anything_else_raises_the_callers_error(value):
    with pytest.raises(NotFound) as gone:
        validate.id_param(value, NotFound("gone"))
    assert str(gone.value) == "gone"
    with pytest.raises(ValidationError) as err:
        validate.id_param(value, ValidationError("id", "must be an event id"))
    assert err.value.field == "id"


def test_an_id_above_the_columns_maximum_raises_the_callers_error():
    assert validate.id_param(str(validate.INT32_MAX), NotFound("x"), maximum=validate.INT32_MAX)
    with pytest.raises(NotFound):
        validate.id_param(str(validate.INT32_MAX + 1), NotFound("x"), maximum=validate.INT32_MAX)
