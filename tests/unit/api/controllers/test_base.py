"""Tests of ciweb.api.controllers.base: JSON responses and the page total."""

from __future__ import annotations

import pytest

from ciweb.api.controllers.base import json_response, page_total


def test_json_response_is_utf8_json_with_an_optional_total() -> None:
    response = json_response([{"a": "é"}], total=12)
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["X-Total-Count"] == "12"
    assert response.json == [{"a": "é"}]
    assert "X-Total-Count" not in json_response({}).headers


def _never() -> int:
    raise AssertionError("counted although the page told the total")


@pytest.mark.parametrize(
    ("count", "skip", "limit", "total"), [(3, 0, 50, 3), (3, 10, 50, 13), (0, 0, 50, 0)]
)
def test_a_short_page_tells_the_total_without_a_count(
    count: int, skip: int, limit: int, total: int
) -> None:
    assert page_total(count, skip, limit, _never) == total


@pytest.mark.parametrize(("count", "skip", "limit"), [(50, 0, 50), (0, 100, 50), (0, 5, 0)])
def test_a_full_page_or_an_empty_page_after_a_skip_counts(
    count: int, skip: int, limit: int
) -> None:
    assert page_total(count, skip, limit, lambda: 77) == 77
