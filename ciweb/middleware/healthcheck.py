"""Answer a health check path for load balancers, with disable-by-file for draining.

Requests for ``path`` (``/healthcheck`` by default) are answered by the filter itself; every
other request passes through untouched.

=========  =================  =========================================================
method     healthy            disabled by file, or a probe failed
=========  =================  =========================================================
GET        200 ``OK``         503 ``DISABLED BY FILE`` (or ``DATABASE UNAVAILABLE``...)
HEAD       204, no body       503, no body
other      405 with ``Allow: GET, HEAD`` (raised, for faults)
=========  =================  =========================================================

The answer is ``text/plain`` unless the client's ``Accept`` prefers ``application/json``,
which gives ``{"status": "OK"}`` (or ``"DISABLED BY FILE"``).  To drain a node, create the
file named by ``disable_by_file_path``; it is checked with ``os.path.exists`` on each health
check request only.  ``probes = database`` runs named checks on each health check (entry
points of the ``ciweb.healthcheck`` group, each a ``factory(global_conf)`` returning a
callable that returns None when healthy, else a short reason): the first that fails answers
503 ``<NAME> UNAVAILABLE``, so that a node whose database is gone is drained.  With
``detailed = true`` the answer adds the ciweb version, the seconds
since the pipeline was loaded and the server's free green threads
(``environ['ciweb.pool_free']``, when the host provides it).  Answers carry
``Cache-Control: no-store`` (RFC 9111 §5.2.2.5: a stale health answer would hide a drain)
and ``Vary: Accept``.

Paste deployment::

    [filter:healthcheck]
    paste.filter_factory = ciweb.middleware.healthcheck:filter_factory
    # Optional; defaults come from [healthcheck] in ciweb.conf.
    # path = /healthcheck
    # disable_by_file_path = /var/run/ciweb/disabled
    # detailed = false
    # probes = database
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any

import webob.acceptparse
import webob.exc

import ciweb
from ciweb.conf import ConfigError, paste_options
from ciweb.conf import healthcheck as healthcheck_conf

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["Healthcheck", "filter_factory"]

OK = "OK"
DISABLED = "DISABLED BY FILE"
_OFFERS = ("text/plain", "application/json")
_TEXT = "text/plain; charset=utf-8"
_JSON = "application/json; charset=utf-8"
_PATH = re.compile(r"/[A-Za-z0-9._~/-]*")
_ALLOW = "GET, HEAD"
PROBE_GROUP = "ciweb.healthcheck"

# A probe returns None when healthy, else a short reason (logged, not shown to clients).
Probe = Callable[[], "str | None"]


class Healthcheck:
    """WSGI filter that answers the health check path (see the module docstring)."""

    def __init__(
        self,
        application: WSGIApplication,
        *,
        path: str = "/healthcheck",
        disable_by_file_path: str = "",
        detailed: bool = False,
        probes: Mapping[str, Probe] | None = None,
    ) -> None:
        """Wrap *application*.

        :param application: the next WSGI application.
        :param path: the path answered by the filter.
        :param disable_by_file_path: a file whose existence makes the check answer 503.
        :param detailed: add version, uptime and free pool threads to the answer.
        :param probes: checks by name, run on each health check (see the module docstring).
        :raises ConfigError: naming the bad option.
        """
        if not _PATH.fullmatch(path):
            raise ConfigError(f"[healthcheck] path: {path!r} is not an absolute path")
        if "\0" in disable_by_file_path:
            raise ConfigError("[healthcheck] disable_by_file_path: contains a NUL byte")
        self.application = application
        self.path = path
        self.disable_by_file_path = disable_by_file_path
        self.detailed = detailed
        self.probes = dict(probes or {})
        self._loaded = time.monotonic()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != self.path:
            return self.application(environ, start_response)
        method = environ["REQUEST_METHOD"]
        if method not in ("GET", "HEAD"):
            raise webob.exc.HTTPMethodNotAllowed(
                headers=[("Allow", _ALLOW)], detail=f"{method} is not allowed here; use {_ALLOW}"
            )
        return self._answer(environ, start_response, method == "HEAD")

    def _status(self, environ: WSGIEnvironment) -> dict[str, Any]:
        disabled = bool(self.disable_by_file_path) and os.path.exists(self.disable_by_file_path)
        status: dict[str, Any] = {"status": DISABLED if disabled else self._probe()}
        if self.detailed:
            status["version"] = ciweb.__version__
            status["uptime"] = round(time.monotonic() - self._loaded, 3)
            if "ciweb.pool_free" in environ:
                status["pool_free"] = environ["ciweb.pool_free"]
        return status

    def _probe(self) -> str:
        for name, probe in self.probes.items():
            if probe() is not None:
                return f"{name.upper()} UNAVAILABLE"
        return OK

    def _answer(
        self, environ: WSGIEnvironment, start_response: StartResponse, head: bool
    ) -> list[bytes]:
        status = self._status(environ)
        healthy = status["status"] == OK
        accept = webob.acceptparse.create_accept_header(environ.get("HTTP_ACCEPT"))
        offers = accept.acceptable_offers(list(_OFFERS))
        # A client that accepts neither still gets text: load balancers send odd Accepts.
        if offers and offers[0][0] == "application/json":
            content_type = _JSON
            body = json.dumps(status, separators=(",", ":")).encode("utf-8")
        else:
            content_type = _TEXT
            lines = [status["status"]] + [f"{k}: {v}" for k, v in status.items() if k != "status"]
            body = ("\n".join(lines) + "\n").encode("utf-8")
        headers = [("Cache-Control", "no-store"), ("Vary", "Accept")]
        if head and healthy:
            # RFC 9110 §15.3.5: 204 has no content, hence no Content-Type/-Length.
            start_response("204 No Content", headers)
            return []
        headers += [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        start_response("200 OK" if healthy else "503 Service Unavailable", headers)
        return [] if head else [body]


def load_probes(names: Sequence[str], global_conf: Mapping[str, str]) -> dict[str, Probe]:
    """Return the probes *names* of the ``ciweb.healthcheck`` entry point group, built.

    :param names: the probe names (``[healthcheck] probes``).
    :param global_conf: paste's global configuration, handed to each probe factory.
    :raises ConfigError: naming a probe that no entry point provides.
    """
    found = {entry.name: entry for entry in metadata.entry_points(group=PROBE_GROUP)}
    probes = {}
    for name in names:
        if name not in found:
            known = ", ".join(sorted(found)) or "none"
            raise ConfigError(f"[healthcheck] probes: unknown probe {name!r} (known: {known})")
        probes[name] = found[name].load()(global_conf)
    return probes


def filter_factory(global_conf: Mapping[str, str], **local_conf: str) -> Any:
    """Return a paste filter that wraps an application in :class:`Healthcheck` (options:
    ``[healthcheck]`` of ciweb.conf; the section's local keys win).

    :raises ConfigError: naming an unknown or bad option, or an unknown probe.
    """
    options = paste_options(global_conf, local_conf, healthcheck_conf.GROUP, healthcheck_conf.OPTS)
    probes = load_probes(options.pop("probes"), global_conf)

    def _filter(app: WSGIApplication) -> Healthcheck:
        return Healthcheck(app, probes=probes, **options)

    return _filter
