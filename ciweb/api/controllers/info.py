"""``/api/info``: what the service can do, in Zuul's shape; clients read it first."""

from __future__ import annotations

from typing import Any

from ciweb.wsgi.request import Request
from ciweb.wsgi.router import Controller, json_body


def info_document(*, tenant: str | None = None) -> dict[str, Any]:
    """Return the ``info`` document as Zuul's ``/api/info`` gives it.

    :param tenant: the tenant of a whitelabel deployment; clients then drop the
        ``tenant/{t}/`` prefix from every path.
    """
    info: dict[str, Any] = {
        "capabilities": {
            "job_history": True,
            "auth": {
                "realms": {},
                "default_realm": None,
                "read_protected": False,
                "auth_log_file_requests": False,
            },
        },
        "websocket_url": None,
        "stats": {"url": None, "prefix": None, "type": "graphite"},
    }
    if tenant is not None:
        info["tenant"] = tenant
    return {"info": info}


class InfoController(Controller):
    """Serve the info document, serialised once."""

    def __init__(self, *, tenant: str | None = None) -> None:
        """Build the controller.

        :param tenant: the whitelabel tenant, if the deployment is pinned to one.
        """
        self._body = json_body(info_document(tenant=tenant))

    def info(self, req: Request) -> bytes:
        """Return the pre-serialised info document."""
        return self._body
