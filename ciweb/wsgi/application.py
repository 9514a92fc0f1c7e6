"""Base classes for WSGI applications and middleware that paste.deploy can build.

The contract is nova's: ``Application.factory`` is a ``paste.app_factory``;
``Middleware.factory`` is a ``paste.filter_factory`` whose instances get
``process_request`` (return a response to short-circuit) and ``process_response`` hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import webob
import webob.dec

from ciweb.wsgi.request import Request

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["Application", "Middleware"]


class Application:
    """Base WSGI application; subclasses implement ``__call__(environ, start_response)``."""

    @classmethod
    def factory(cls, global_config: dict[str, str], **local_config: str) -> Application:
        """Build the application from a paste ``[app:...]`` section.

        :param global_config: paste's ``[DEFAULT]`` values (strings).
        :param local_config: the section's own keys, passed to ``__init__`` as keywords.
        """
        return cls(**local_config)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise NotImplementedError("subclasses implement __call__")


class Middleware(Application):
    """Base WSGI middleware with nova's ``process_request`` / ``process_response`` hooks.

    Subclasses override either hook; the defaults pass the request and response through.
    Middleware that only watches the environ is faster written as plain WSGI: override
    ``__call__`` and keep ``factory``.
    """

    request_class: type[Request] = Request

    @classmethod
    def factory(  # type: ignore[override]
        cls, global_config: dict[str, str], **local_config: str
    ) -> Callable[[WSGIApplication], Middleware]:
        """Return a paste filter: a callable that wraps an application in this middleware.

        :param global_config: paste's ``[DEFAULT]`` values (strings).
        :param local_config: the ``[filter:...]`` section's keys, passed to ``__init__``.
        """

        def _factory(app: WSGIApplication) -> Middleware:
            return cls(app, **local_config)

        return _factory

    def __init__(self, application: WSGIApplication) -> None:
        """Wrap *application* (a subclass with options takes them as keyword arguments,
        so that paste reports an unknown ini key instead of ignoring it).

        :param application: the next WSGI application in the pipeline.
        """
        self.application = application

    def process_request(self, req: Request) -> webob.Response | None:
        """Inspect the request; return a response to answer it without the application."""
        return None

    def process_response(self, response: webob.Response) -> webob.Response:
        """Inspect or replace the application's response."""
        return response

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        req = self.request_class(environ)
        response = self.process_request(req)
        if response is None:
            response = req.get_response(self.application)
            response = self.process_response(response)
        return response(environ, start_response)
