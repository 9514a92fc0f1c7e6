"""Tests of ciweb.api.controllers.errors: the HTTP status of each CI error."""

from __future__ import annotations

import webob.exc

from ciweb.api.controllers.errors import IDX_MESSAGE, http_error
from ciweb.ci.errors import CIError, Conflict, NotFound, QueryTimeout, ValidationError


def test_not_found_is_404_with_the_message() -> None:
    error = http_error(NotFound("Build not found"))
    assert isinstance(error, webob.exc.HTTPNotFound)
    assert error.detail == "Build not found"


def test_validation_error_is_400_naming_the_field() -> None:
    error = http_error(ValidationError("limit", "must be >= 0"))
    assert isinstance(error, webob.exc.HTTPBadRequest)
    assert error.detail == "limit: must be >= 0"


def test_a_non_integer_idx_bound_gets_zuuls_message() -> None:
    assert http_error(ValidationError("idx_max", "must be an integer")).detail == IDX_MESSAGE
    assert IDX_MESSAGE == "idx_min, idx_max must be integers"
    assert http_error(ValidationError("idx_min", "must be >= 0")).detail == "idx_min: must be >= 0"


def test_conflict_is_409_and_query_timeout_503_with_retry_after() -> None:
    assert isinstance(http_error(Conflict("x")), webob.exc.HTTPConflict)
    timeout = http_error(QueryTimeout("slow"))
    assert isinstance(timeout, webob.exc.HTTPServiceUnavailable)
    assert timeout.headers["Retry-After"] == "5"


def test_another_ci_error_is_an_opaque_500() -> None:
    error = http_error(CIError("secret detail"))
    assert isinstance(error, webob.exc.HTTPInternalServerError)
    assert "secret" not in str(error.detail)
