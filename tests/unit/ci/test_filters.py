"""History filters: bounded integers and ignored empty values, on each database."""

from __future__ import annotations

import pytest

from ciweb.ci import filters, history, validate
from ciweb.ci.errors import ValidationError
from tests.unit.ci.conftest import add_buildset

HUGE = "99999999999999999999999"


@pytest.fixture
def two(store):
    add_buildset(store, "bs1", change=1, builds=({"uuid": "b1", "job_name": "tox"},))
    add_buildset(store, "bs2", change=2, builds=({"uuid": "b2", "job_name": "tox"},))
    return store


@pytest.mark.parametrize(
    ("call", "key", "value"),
    [
        (history.builds, "limit", HUGE),
        (history.builds, "skip", HUGE),
        (history.builds, "idx_min", HUGE),
        (history.builds, "idx_max", HUGE),
        (history.builds, "change", HUGE),
        (history.builds, "change", "-" + HUGE),
        (history.builds, "change", "\u00b2"),
        (history.builds, "limit", str(filters.MAX_PAGE + 1)),
        (history.builds, "skip", str(filters.MAX_PAGE + 1)),
        (history.builds, "change", str(validate.INT32_MAX + 1)),
        (history.buildsets, "skip", HUGE),
        (history.buildsets, "limit", HUGE),
        (history.buildsets, "change", HUGE),
    ],
)
def test_an_integer_too_large_or_not_ascii_is_a_validation_error_naming_it(two, call, key, value):
    with pytest.raises(ValidationError) as err:
        call(two, "t", {key: value})
    assert err.value.field == key


def test_the_largest_values_allowed_run_on_the_database(two):
    top = str(filters.MAX_PAGE)
    page = {"limit": top, "skip": top}
    assert history.builds(two, "t", page) == []
    assert len(history.builds(two, "t", {"limit": top})) == 2
    # The controllers count up to skip + max(cap, limit) + 1 matches.
    ceiling = 2 * filters.MAX_PAGE
    assert history.builds_count(two, "t", page, cap=ceiling) == 2
    assert history.buildsets_count(two, "t", page, cap=ceiling) == 2
    assert history.builds(two, "t", {"idx_min": str(validate.INT_MAX)}) == []
    assert len(history.buildsets(two, "t", {"idx_max": str(validate.INT_MAX)})) == 2
    assert history.builds(two, "t", {"change": str(validate.INT32_MAX)}) == []
    assert history.buildsets(two, "t", page) == []


def test_an_empty_change_is_ignored_like_every_other_empty_filter(two):
    assert filters.HistoryFilter.from_params({"change": ""}).change == ()
    everything = [b["uuid"] for b in history.builds(two, "t", {})]
    assert [b["uuid"] for b in history.builds(two, "t", {"change": ""})] == everything
    assert [b["uuid"] for b in history.builds(two, "t", {"change": ["", "2"]})] == ["b2"]
    assert [b["uuid"] for b in history.buildsets(two, "t", {"change": ["", "1"]})] == ["bs1"]
