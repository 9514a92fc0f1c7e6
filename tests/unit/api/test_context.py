"""Tests of ciweb.api.context: the authorisation hooks delegate to an optional auth object."""

from __future__ import annotations

from typing import Any

import pytest
import webob
import webob.exc

from ciweb.api.context import ApiContext, default_auth_capabilities
from ciweb.ci.engine import make_engine
from ciweb.ci.store import Store
from ciweb.wsgi.request import Request


class _Auth:
    """Refuses reads of tenant "secret"; announces one realm."""

    def authorize_read(self, req: Request, tenant: str | None) -> None:
        if tenant == "secret":
            raise webob.exc.HTTPUnauthorized(detail="token needed")

    def auth_capabilities(self, tenant: str | None) -> dict[str, Any]:
        return {**default_auth_capabilities(), "default_realm": f"realm-{tenant}"}


@pytest.fixture
def store() -> Store:
    return Store(make_engine("sqlite://"), key_bits=2048)


def test_without_auth_every_read_is_allowed(store: Store) -> None:
    context = ApiContext(store=store)
    context.authorize_read(Request.blank("/"), "secret")
    assert context.auth_capabilities("t") == default_auth_capabilities()


def test_authorize_read_delegates_to_the_auth_object(store: Store) -> None:
    context = ApiContext(store=store, auth=_Auth())
    context.authorize_read(Request.blank("/"), "public")
    with pytest.raises(webob.exc.HTTPUnauthorized):
        context.authorize_read(Request.blank("/"), "secret")
    assert context.auth_capabilities("t")["default_realm"] == "realm-t"


def test_the_dashboard_keys_of_auth_capabilities_are_always_present() -> None:
    assert default_auth_capabilities() == {
        "realms": {},
        "default_realm": None,
        "read_protected": False,
        "auth_log_file_requests": False,
    }


def test_the_context_is_frozen(store: Store) -> None:
    context = ApiContext(store=store, tenant="t")
    with pytest.raises(AttributeError):
        context.tenant = "u"  # type: ignore[misc]
    with pytest.raises(TypeError):
        context.database["x"] = 1  # type: ignore[index]
