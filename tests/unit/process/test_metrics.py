"""The metrics of one worker, in process: what RequestMetrics counts for the shipped pipeline,
and what MetricsSampler reads off a server.  (The parent serving every worker's metrics is
tested against a real ciweb-api in tests/functional/process/test_metrics.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import webob
from prometheus_client import CollectorRegistry

from ciweb.process.bus import Bus
from ciweb.process.metrics import MetricsSampler, RequestMetrics, WorkerMetrics
from ciweb.wsgi.loader import load_app
from tests.conftest import ROOT


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metered(ciweb_conf: Path, registry: CollectorRegistry) -> Iterator[RequestMetrics]:
    pipeline = load_app(
        str(ROOT / "etc/api-paste.ini"), "main", global_conf={"config_file": str(ciweb_conf)}
    )
    yield RequestMetrics(pipeline, WorkerMetrics(registry))


class Answer:
    """Status and body of one request, read and closed as a server does (PEP 3333)."""

    def __init__(self, app: Any, path: str, method: str) -> None:
        environ = webob.Request.blank(path, method=method, headers={"Host": "t"}).environ
        status: list[str] = []
        result = app(environ, lambda line, headers, exc_info=None: status.append(line))
        try:
            self.body = b"".join(result)
        finally:
            result.close()
        self.status_int = int(status[-1][:3])


def call(app: Any, path: str, method: str = "GET") -> Answer:
    return Answer(app, path, method)


def requests(registry: CollectorRegistry, route: str, method: str, status: str) -> float | None:
    labels = {"route": route, "method": method, "status": status}
    return registry.get_sample_value("ciweb_http_requests_total", labels)


def test_requests_are_counted_and_timed_by_route_template_method_and_status(
    metered: RequestMetrics, registry: CollectorRegistry
) -> None:
    for _ in range(3):
        assert call(metered, "/api/tenant/t1/projects").status_int == 404  # unknown tenant
    assert call(metered, "/api/tenants").status_int == 200
    assert requests(registry, "/api/tenant/{tenant}/projects", "GET", "404") == 3
    assert requests(registry, "/api/tenants", "GET", "200") == 1
    count = "ciweb_http_request_duration_seconds_count"
    assert registry.get_sample_value(count, {"route": "/api/tenant/{tenant}/projects"}) == 3
    bucket = "ciweb_http_request_duration_seconds_bucket"
    assert registry.get_sample_value(bucket, {"route": "/api/tenants", "le": "+Inf"}) == 1


def test_unrouted_requests_and_unknown_methods_have_bounded_labels(
    metered: RequestMetrics, registry: CollectorRegistry
) -> None:
    assert call(metered, "/api/nothing/here").status_int == 404
    assert call(metered, "/healthcheck").status_int == 200
    assert call(metered, "/api/tenants", method="BREW").status_int == 405
    assert requests(registry, "other", "GET", "404") == 1
    assert requests(registry, "other", "GET", "200") == 1
    assert requests(registry, "other", "other", "405") == 1  # 405: no route matched


def test_a_cache_hit_keeps_its_route_and_counts_as_a_hit(
    metered: RequestMetrics, registry: CollectorRegistry
) -> None:
    for method in ("GET", "GET", "HEAD"):
        assert call(metered, "/api/info", method).status_int == 200
    assert requests(registry, "/api/info", "GET", "200") == 2
    assert requests(registry, "/api/info", "HEAD", "200") == 1
    results = {"fill": 1.0, "hit": 2.0}
    for result, count in results.items():
        assert registry.get_sample_value("ciweb_cache_requests_total", {"result": result}) == count


def test_a_request_is_counted_when_its_body_is_closed_not_before(
    registry: CollectorRegistry,
) -> None:
    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"a"
        yield b"b"

    metered = RequestMetrics(app, WorkerMetrics(registry))
    result = metered({"REQUEST_METHOD": "GET"}, lambda *args: None)
    assert b"".join(result) == b"ab"
    assert requests(registry, "other", "GET", "200") is None
    result.close()  # type: ignore[attr-defined]
    result.close()  # type: ignore[attr-defined]  # a second close counts nothing more
    assert requests(registry, "other", "GET", "200") == 1


def test_an_application_that_raises_is_counted_as_a_500_and_the_error_goes_on(
    registry: CollectorRegistry,
) -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        raise RuntimeError("boom")

    metered = RequestMetrics(app, WorkerMetrics(registry))
    with pytest.raises(RuntimeError, match="boom"):
        metered({"REQUEST_METHOD": "POST"}, lambda *args: None)
    assert requests(registry, "other", "POST", "500") == 1


def test_the_sampler_reads_the_pool_and_connection_states_of_a_server(
    registry: CollectorRegistry,
) -> None:
    from ciweb.wsgi.server import Server

    metrics = WorkerMetrics(registry)
    server = Server(lambda environ, start_response: [], pool_size=7)
    MetricsSampler(Bus(), metrics, server).sample()
    assert registry.get_sample_value("ciweb_green_threads") == 7
    assert registry.get_sample_value("ciweb_green_threads_free") == 7
    assert registry.get_sample_value("ciweb_http_requests_in_flight") == 0
    assert registry.get_sample_value("ciweb_console_streams") == 0
    for state in ("new", "head", "request", "idle", "upgraded", "closing"):
        assert registry.get_sample_value("ciweb_connections", {"state": state}) == 0
