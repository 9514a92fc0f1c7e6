"""A tiny paste application for the process tests: it answers with its pid and a greeting.

``GET /`` answers ``<greeting> <pid>``; ``GET /slow?seconds=S`` sleeps first (green sleep
under ciweb-api's monkey-patching).  The greeting is a paste ini key, so a test can change
it and SIGHUP to see the new configuration take effect; ``startup_delay`` (seconds) makes
loading the application slow, so that a reload lasts at least that long.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


def app_factory(global_conf: dict[str, str], **local_conf: str) -> WSGIApplication:
    """Return the application; keys ``greeting`` and ``startup_delay``."""
    greeting = local_conf.get("greeting", "hello")
    time.sleep(float(local_conf.get("startup_delay", "0")))

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/slow":
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            time.sleep(float(query.get("seconds", ["1"])[0]))
        body = f"{greeting} {os.getpid()}\n".encode()
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/plain"),
                ("Content-Length", str(len(body))),
                ("X-Greeting", greeting),
            ],
        )
        return [body]

    return app
