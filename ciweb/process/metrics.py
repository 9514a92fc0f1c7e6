"""Prometheus metrics of ``ciweb-api``: each worker writes its own, the parent serves them all.

This is prometheus_client's multiprocess mode, as gunicorn users run it.  With ``[process]
prometheus_address`` set, the parent makes a private directory, names it in
``PROMETHEUS_MULTIPROC_DIR`` for the workers it execs, serves ``/metrics`` on that address
from the files every worker writes there (:class:`MetricsExporter`), calls
``mark_process_dead`` for each worker that exits (its live gauges go, its counters stay in
the totals) and removes the directory on exit.

In a worker (:func:`worker_metrics`), :class:`RequestMetrics` wraps the pipeline: it counts
requests by route (the route template the router matched), method and status, and times
them; :class:`MetricsSampler` sets the gauges of the server (requests in flight, free green
threads, connections by state, console streams) twice a second; SQLAlchemy's pool
events keep the database gauges; the cache filter's outcome (``ciweb.cache`` in the environ)
is counted per request.  Without the variable (another WSGI host, or the option unset),
nothing here is imported or run.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ciweb.conf import ConfigError
from ciweb.middleware.cache import RESULT_KEY as CACHE_RESULT_KEY
from ciweb.process.plugins import SimplePlugin
from ciweb.wsgi.router import ROUTE_KEY

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from ciweb.process.bus import Bus
    from ciweb.wsgi.server import Server

__all__ = [
    "DIRECTORY_VARIABLE",
    "MetricsExporter",
    "MetricsSampler",
    "RequestMetrics",
    "WorkerMetrics",
    "worker_metrics",
]

LOG = logging.getLogger(__name__)

DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Requests the router did not match: health checks, console streams, dashboard files, 404s.
OTHER_ROUTE = "other"
# Seconds; from a cache hit to a slow history query.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONNECTION_STATES = ("new", "head", "request", "idle", "upgraded", "closing")


class WorkerMetrics:
    """The metrics of one worker process, written to files of its pid in the directory.

    :param registry: where the metrics are registered (a private one by default).
    """

    def __init__(self, registry: Any = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        registry = registry if registry is not None else CollectorRegistry()

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            # livesum: the sum over the workers alive; a dead worker's value goes with it.
            return Gauge(name, doc, labels, registry=registry, multiprocess_mode="livesum")

        self.requests = Counter(
            "ciweb_http_requests", "HTTP requests answered, by route template, method and "
            "status.", ("route", "method", "status"), registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            "ciweb_http_request_duration_seconds", "Time from the request's arrival at the "
            "pipeline to its last body byte, by route template.", ("route",),
            buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.in_flight = gauge("ciweb_http_requests_in_flight", "Requests being answered.")
        self.green_free = gauge("ciweb_green_threads_free", "Free green threads of the pools.")
        self.green_size = gauge("ciweb_green_threads", "Green threads of the pools.")
        self.connections = gauge(
            "ciweb_connections", "Open client connections by state: new (not started yet), "
            "head (reading a request head), request, idle (keep-alive, between requests), "
            "upgraded (websockets), closing (writing a last answer).", ("state",),
        )  # fmt: skip
        self.console_streams = gauge("ciweb_console_streams", "Console streams being served.")
        self.db_checked_out = gauge(
            "ciweb_db_pool_checked_out", "Database connections checked out of the pools."
        )
        self.db_open = gauge(
            "ciweb_db_pool_connections", "Database connections the pools hold open (their "
            "current size; at most [database] pool_size + max_overflow per pool).",
        )  # fmt: skip
        self.cache = Counter(
            "ciweb_cache_requests", "Requests the cache filter looked up, by result: hit, "
            "stale (served while refilled), fill (a miss that stored the answer), bypass, "
            "uncacheable.", ("result",), registry=registry,
        )  # fmt: skip

    def watch_database_pools(self) -> None:
        """Keep the database gauges with SQLAlchemy's pool events, for every pool."""
        from sqlalchemy import event
        from sqlalchemy.pool import Pool

        # Class-level listeners apply to every pool of the process: the worker is the edge.
        event.listen(Pool, "connect", lambda *_: self.db_open.inc())
        event.listen(Pool, "close", lambda *_: self.db_open.dec())
        event.listen(Pool, "detach", lambda *_: self.db_open.dec())
        event.listen(Pool, "checkout", lambda *_: self.db_checked_out.inc())
        event.listen(Pool, "checkin", lambda *_: self.db_checked_out.dec())


def worker_metrics() -> WorkerMetrics | None:
    """Return this worker's metrics when the parent asked for them, else None."""
    if not os.environ.get(DIRECTORY_VARIABLE):
        return None
    metrics = WorkerMetrics()
    metrics.watch_database_pools()
    return metrics


class RequestMetrics:
    """WSGI middleware: count and time every request of *app* in *metrics*.

    :param app: the pipeline.
    :param metrics: the worker's metrics.
    """

    def __init__(self, app: WSGIApplication, metrics: WorkerMetrics) -> None:
        self.app = app
        self.metrics = metrics
        # labels() validates and locks on every call: its children are kept here instead.
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._cache_children: dict[str, Any] = {}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Answer the request, counting it when its body is done."""
        started = time.perf_counter()
        status: list[str] = ["500"]

        def _start_response(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[0] = line[:3]
            return start_response(line, headers, exc_info)

        try:
            result = self.app(environ, _start_response)
        except BaseException:
            self._done(environ, status[0], started)
            raise
        return _Counted(result, lambda: self._done(environ, status[0], started))

    def _done(self, environ: WSGIEnvironment, status: str, started: float) -> None:
        metrics = self.metrics
        method = environ["REQUEST_METHOD"]
        # Label values come from a bounded set: route templates, known methods, statuses.
        key = (
            environ.get(ROUTE_KEY) or OTHER_ROUTE,
            method if method in _METHODS else "other",
            status,
        )
        children = self._children.get(key)
        if children is None:
            children = (metrics.requests.labels(*key), metrics.latency.labels(key[0]))
            self._children[key] = children
        children[0].inc()
        children[1].observe(time.perf_counter() - started)
        cache = environ.get(CACHE_RESULT_KEY)
        if cache is not None:
            counter = self._cache_children.get(cache)
            if counter is None:
                counter = self._cache_children[cache] = metrics.cache.labels(cache)
            counter.inc()


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _Counted:
    """The response iterable, calling *done* once when the server closes it (PEP 3333)."""

    def __init__(self, result: Iterable[bytes], done: Callable[[], None]) -> None:
        self.result = result
        self.done: Callable[[], None] | None = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.result)

    def close(self) -> None:
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        finally:
            done, self.done = self.done, None
            if done is not None:
                done()


class MetricsSampler(SimplePlugin):
    """In a worker: set the server's gauges every *interval* seconds.

    :param bus: the worker's bus.
    :param metrics: the worker's metrics.
    :param server: the worker's server.
    :param interval: seconds between two samples.
    """

    channels = ("start", "stop")

    def __init__(
        self, bus: Bus, metrics: WorkerMetrics, server: Server, interval: float = 0.5
    ) -> None:
        super().__init__(bus)
        self.metrics = metrics
        self.server = server
        self.interval = interval
        self._stop = threading.Event()

    def start(self) -> None:
        """Sample now, then in a (green) thread."""
        self.sample()
        threading.Thread(target=self._loop, name="metrics-sampler", daemon=True).start()

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        """Set the gauges from the server."""
        metrics, server = self.metrics, self.server
        metrics.green_free.set(server.pool.free())
        metrics.green_size.set(server.pool.size)
        states = server.connection_states()
        metrics.in_flight.set(states.get("request", 0))
        for state in CONNECTION_STATES:
            metrics.connections.labels(state).set(states.get(state, 0))
        metrics.console_streams.set(states.get("upgraded", 0))


class _WorkerFiles:
    """prometheus_client's MultiProcessCollector, made safe against the workers' churn.

    A scrape must not fail because a worker is creating a file (prometheus_client sizes
    it after opening it) or because :meth:`MetricsExporter.main` removes a dead worker's
    files meanwhile: reads hold *lock*, which removals take too, and a read that meets a
    half-made file is retried.
    """

    def __init__(self, directory: str, lock: threading.Lock) -> None:
        from prometheus_client.multiprocess import MultiProcessCollector

        self._collector = MultiProcessCollector(None, path=directory)
        self._lock = lock

    def collect(self) -> list[Any]:
        for _attempt in range(_READ_ATTEMPTS - 1):
            try:
                with self._lock:
                    return list(self._collector.collect())
            except (OSError, struct.error) as exc:
                LOG.debug("metrics: a worker's file is being made (%s); reading again", exc)
                time.sleep(0.01)
        with self._lock:
            return list(self._collector.collect())


_READ_ATTEMPTS = 5


class _Workers:
    """A collector of the parent: the workers wanted and ready."""

    def __init__(self, health: Callable[[], dict[str, Any]]) -> None:
        self.health = health

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        health = self.health()
        yield GaugeMetricFamily("ciweb_workers", "Worker processes wanted.",
                                value=health["workers_wanted"])  # fmt: skip
        yield GaugeMetricFamily("ciweb_workers_ready", "Worker processes ready to serve.",
                                value=health["workers_ready"])  # fmt: skip


class MetricsExporter(SimplePlugin):
    """In the parent: serve ``/metrics`` for every worker, and forget the dead ones.

    :param bus: the parent's bus.
    :param host: address to listen on.
    :param port: port; 0 picks a free one (logged, and in :attr:`address`).
    :param directory: the private directory the workers write to (removed on exit).
    :param pids: returns the pids of the workers alive.
    :param health: returns ``workers_wanted`` and ``workers_ready``.
    """

    channels = ("start", "stop", "main", "exit")
    # Listening before the workers start (50): a taken port fails before any worker runs.
    priorities = {"start": 40, "stop": 60, "exit": 90}

    def __init__(
        self,
        bus: Bus,
        *,
        host: str,
        port: int,
        directory: str,
        pids: Callable[[], set[int]],
        health: Callable[[], dict[str, Any]],
    ) -> None:
        super().__init__(bus)
        self.host = host
        self.port = port
        self.directory = directory
        self.pids = pids
        self.health = health
        self.address: tuple[str, int] | None = None
        self._httpd: Any = None
        self._seen: set[int] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Listen and serve the metrics in a thread.

        :raises ConfigError: naming ``[process] prometheus_address`` when it cannot listen.
        """
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry()
        registry.register(_WorkerFiles(self.directory, self._lock))
        registry.register(_Workers(self.health))
        try:
            self._httpd, _thread = start_http_server(self.port, self.host, registry)
        except OSError as exc:
            raise ConfigError(
                f"[process] prometheus_address: cannot listen on {self.host}:{self.port}: "
                f"{exc.strerror or exc}"
            ) from None
        self.address = self._httpd.server_address[:2]
        LOG.info("prometheus metrics on %s:%d (workers write to %s)", self.host,
                 self.address[1], self.directory)  # fmt: skip

    def main(self) -> None:
        """Mark the workers that exited since the last call dead."""
        from prometheus_client import multiprocess

        alive = self.pids()
        for pid in self._seen - alive:
            with self._lock:
                multiprocess.mark_process_dead(pid, self.directory)
        self._seen = alive

    def stop(self) -> None:
        """Stop serving (the workers are gone by now)."""
        self.main()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def exit(self) -> None:
        """Remove the directory."""
        shutil.rmtree(self.directory, ignore_errors=True)
