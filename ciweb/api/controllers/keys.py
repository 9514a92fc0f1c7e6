"""``key/{project}.pub`` and ``project-ssh-key/{project}.pub``: public keys, as text/plain."""

from __future__ import annotations

from typing import TYPE_CHECKING

import webob

from ciweb.api.controllers.base import ApiController
from ciweb.ci import keys

if TYPE_CHECKING:
    from ciweb.wsgi.request import Request

__all__ = ["KeysController"]


def _text(value: str) -> webob.Response:
    response = webob.Response(body=value.encode("ascii"), charset=None)
    # Exactly Zuul's type: zuul-client reads the body as text (reference/zuul-api.md §1).
    response.headers["Content-Type"] = "text/plain"
    return response


class KeysController(ApiController):
    """Serve a project's public secrets key (PEM) and public SSH key."""

    def key(self, req: Request, tenant: str, project: str) -> webob.Response:
        """Return the PEM ``-----BEGIN PUBLIC KEY-----`` that secrets are encrypted with."""
        self.context.authorize_read(req, tenant)
        return _text(keys.public_key(self.context.store, tenant, project))

    def ssh_key(self, req: Request, tenant: str, project: str) -> webob.Response:
        """Return the project's ``ssh-rsa AAAA...`` public key."""
        self.context.authorize_read(req, tenant)
        return _text(keys.ssh_public_key(self.context.store, tenant, project))
