"""What every API controller is given: the store, the options, the authorisation hooks and
the connections.

One :class:`ApiContext` is built by :func:`ciweb.api.app.app_factory` and passed to each
controller's constructor; nothing is global and nothing in it changes after start-up.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ciweb.api.connections import Connection
    from ciweb.ci.store import Store
    from ciweb.wsgi.request import Request

__all__ = ["ApiContext", "AuthHooks", "default_auth_capabilities"]

_EMPTY: Mapping[str, Any] = types.MappingProxyType({})


def default_auth_capabilities() -> dict[str, Any]:
    """Return ``info.capabilities.auth`` of an open deployment (no realm, no read protection).

    The Zuul dashboard renders nothing when ``auth`` or ``auth.realms`` is missing
    (reference/zuul-api.md §9), so both are always present.
    """
    return {
        "realms": {},
        "default_realm": None,
        "read_protected": False,
        "auth_log_file_requests": False,
    }


class AuthHooks(Protocol):
    """The authorisation hooks ``ciweb.api.auth`` provides; None in the context means open."""

    def authorize_read(self, req: Request, tenant: str | None) -> None:
        """Raise ``webob.exc.HTTPUnauthorized``/``HTTPForbidden`` unless *req* may read.

        :param req: the request (its ``Authorization`` header).
        :param tenant: the tenant read, or None for the API root (``/api/tenants``...).
        """

    def auth_capabilities(self, tenant: str | None) -> dict[str, Any]:
        """Return ``info.capabilities.auth`` for *tenant* (None: the root ``/api/info``)."""

    def readable_tenants(self, req: Request, names: Sequence[str]) -> list[str]:
        """Return the tenants of *names* that *req* may read, in their order.

        :param req: the request (its ``Authorization`` header).
        :param names: every tenant's name.
        :raises webob.exc.HTTPUnauthorized: when the tenant list itself needs a token.
        """


@dataclasses.dataclass(frozen=True)
class ApiContext:
    """The frozen collaborators of the API controllers.

    :param store: the CI store (see :mod:`ciweb.ci.store`).
    :param tenant: the tenant a whitelabel deployment is pinned to, or None.
    :param database: the typed ``[database]`` options the store was built from.
    :param global_conf: paste's global configuration (``config_file`` names ciweb.conf), for
        collaborators that read their own option group with ``ciweb.conf.paste_options``.
    :param auth: the authorisation hooks; None leaves every read open.
    :param connections: the configured connections to code forges (``[connection <name>]``).
    """

    store: Store
    tenant: str | None = None
    database: Mapping[str, Any] = dataclasses.field(default_factory=lambda: _EMPTY)
    global_conf: Mapping[str, str] = dataclasses.field(default_factory=lambda: _EMPTY)
    auth: AuthHooks | None = None
    connections: Sequence[Connection] = ()

    def authorize_read(self, req: Request, tenant: str | None) -> None:
        """Raise an HTTP error unless *req* may read *tenant* (None: the API root).

        :param req: the request.
        :param tenant: the tenant name, or None for root endpoints.
        """
        if self.auth is not None:
            self.auth.authorize_read(req, tenant)

    def readable_tenants(self, req: Request, names: Sequence[str]) -> list[str]:
        """Return the tenants of *names* that *req* may read (all of them when open).

        :param req: the request.
        :param names: every tenant's name.
        """
        if self.auth is None:
            return list(names)
        return self.auth.readable_tenants(req, names)

    def auth_capabilities(self, tenant: str | None) -> dict[str, Any]:
        """Return ``info.capabilities.auth`` for *tenant* (None: the root info).

        :param tenant: the tenant name, or None.
        """
        if self.auth is None:
            return default_auth_capabilities()
        return self.auth.auth_capabilities(tenant)
