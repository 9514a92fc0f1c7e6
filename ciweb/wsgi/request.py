"""The request object of ciweb: a webob request with ciweb's per-request environ keys."""

from __future__ import annotations

import webob

__all__ = ["Request"]


class Request(webob.Request):
    """A view over a WSGI environ; per-request state lives under ``ciweb.*`` keys."""

    @property
    def request_id(self) -> str | None:
        """Return the id the request_id filter gave this request, if any."""
        return self.environ.get("ciweb.request_id")
