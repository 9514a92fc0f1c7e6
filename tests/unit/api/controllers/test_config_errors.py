"""Tests of ciweb.api.controllers.config_errors."""

from __future__ import annotations

from ciweb.middleware.faults import Faults
from tests.unit.api.helpers import T, error_of, get


def test_config_errors_have_a_source_context_and_a_total(app: Faults) -> None:
    response = get(app, f"{T}/config-errors?skip=0&limit=50")
    body = response.json
    assert len(body) == 3
    assert response.headers["X-Total-Count"] == "3"
    assert set(body[0]) == {"source_context", "error", "short_error", "severity", "name"}
    assert set(body[0]["source_context"]) == {"project", "branch", "path"}


def test_a_page_of_config_errors_still_tells_the_total(app: Faults) -> None:
    response = get(app, f"{T}/config-errors?limit=1&skip=1")
    assert len(response.json) == 1
    assert response.headers["X-Total-Count"] == "3"


def test_config_errors_filter_and_count_by_severity(app: Faults) -> None:
    response = get(app, f"{T}/config-errors?severity=warning&limit=1")
    assert [e["severity"] for e in response.json] == ["warning"]
    assert response.headers["X-Total-Count"] == "2"


def test_an_unknown_config_errors_parameter_is_400(app: Faults) -> None:
    response = get(app, f"{T}/config-errors?colour=red")
    assert response.status_code == 400
    assert error_of(response).startswith("colour:")
    assert error_of(get(app, "/api/tenant/nope/config-errors")) == "Unknown tenant"


def test_a_config_errors_limit_too_large_is_400_naming_it(app: Faults) -> None:
    response = get(app, f"{T}/config-errors?limit=99999999999999999999999")
    assert response.status_code == 400
    assert error_of(response).startswith("limit:")
