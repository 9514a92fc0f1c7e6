"""``[process] prometheus_address``: a real ciweb-api with two workers and the shipped
pipeline, scraped with prometheus_client's own text parser while it is under load."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import write_conf
from tests.functional.ciweb_process import LISTENING, ServerProcess, ciweb_api
from tests.functional.process.conftest import wait_for

METRICS = re.compile(r"prometheus metrics on 127\.0\.0\.1:(\d+) \(workers write to (\S+)\)")
MONITOR = re.compile(r"monitor listening on 127\.0\.0\.1:(\d+)")
POOL_SIZE = 50
CLIENTS, EACH = 8, 25
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class Site:
    """The running ciweb-api: its ports and its metrics directory."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        url = server.wait_for(LISTENING, timeout=60).group(1)
        self.port = int(url.rsplit(":", 1)[1])
        metrics = server.wait_for(METRICS)
        self.metrics_port, self.directory = int(metrics.group(1)), Path(metrics.group(2))
        self.monitor_port = int(server.wait_for(MONITOR).group(1))

    def scrape(self) -> Samples:
        """Return every sample of /metrics, parsed by prometheus_client's text parser."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                text = response.read().decode()
        except OSError as exc:
            raise AssertionError(f"scrape failed: {exc}\n{self.server.output[-3000:]}") from None
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def scrape_until(self, predicate: Callable[[Samples], bool], what: str) -> Samples:
        """Return the first scrape that satisfies *predicate*, within the test deadline."""

        def satisfied() -> Samples | None:
            samples = self.scrape()
            return samples if predicate(samples) else None

        result: Samples = wait_for(satisfied, what)
        return result

    def stats(self) -> dict[str, object]:
        """Return the monitor's ``stats``."""
        with socket.create_connection(("127.0.0.1", self.monitor_port), timeout=10) as sock:
            sock.sendall(b"stats\n")
            data = b"".join(iter(lambda: sock.recv(65536), b""))
        stats: dict[str, object] = json.loads(data)
        return stats


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def routed(samples: Samples, route: str, status: str = "200") -> float:
    return sample(samples, "ciweb_http_requests_total", route=route, method="GET", status=status)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("metrics")
    conf = write_conf(tmp)
    with conf.open("a") as file:
        file.write(
            f"[server]\npool_size = {POOL_SIZE}\nkeepalive_timeout = 60\n"
            "[process]\nworkers = 2\nprometheus_address = 127.0.0.1:0\n"
            "monitor_address = 127.0.0.1:0\n"
        )
    with ciweb_api(conf) as server:
        yield Site(server)


def load(port: int, path: str, clients: int, each: int) -> None:
    """Send *clients* x *each* GETs of *path* on keep-alive connections, all answered 200."""
    errors: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for _ in range(each):
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors.append(f"{response.status} for {path}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


def test_the_parent_serves_the_sum_of_both_workers_while_they_are_loaded(site: Site) -> None:
    route = "/api/tenants"
    before = routed(site.scrape(), route)
    loader = threading.Thread(target=load, args=(site.port, route, CLIENTS, EACH))
    loader.start()
    seen = []
    while loader.is_alive():
        seen.append(routed(site.scrape(), route))  # parses mid-load, every time
    loader.join()
    assert seen == sorted(seen)  # a counter never goes back
    total = before + CLIENTS * EACH
    samples = site.scrape_until(lambda s: routed(s, route) == total, "every request")
    count = "ciweb_http_request_duration_seconds_count"
    assert sample(samples, count, route=route) == total
    assert sample(samples, "ciweb_http_request_duration_seconds_bucket", route=route,
                  le="+Inf") == total  # fmt: skip
    # The workers' own counts (the monitor's, reported every 0.1 s) add up to the metrics'
    # total, and both workers served.
    all_requests = sum(
        value for (name, _labels), value in samples.items() if name == "ciweb_http_requests_total"
    )
    stats = _stats_at(site, all_requests)
    workers = stats["workers"]
    assert isinstance(workers, list) and len(workers) == 2
    assert all(w["requests"] > 0 for w in workers), workers


def _stats_at(site: Site, requests: float) -> dict[str, object]:
    def reached() -> dict[str, object] | None:
        stats = site.stats()
        return stats if stats["requests"] == requests else None

    result: dict[str, object] = wait_for(reached, f"the monitor counting {requests} requests")
    return result


def test_gauges_add_up_across_workers(site: Site) -> None:
    samples = site.scrape_until(lambda s: sample(s, "ciweb_workers_ready") == 2, "2 workers")
    assert sample(samples, "ciweb_workers") == 2
    assert sample(samples, "ciweb_green_threads") == 2 * POOL_SIZE
    idle = [http.client.HTTPConnection("127.0.0.1", site.port, timeout=30) for _ in range(3)]
    try:
        for conn in idle:
            conn.request("GET", "/api/info")
            conn.getresponse().read()

        samples = site.scrape_until(
            lambda s: sample(s, "ciweb_connections", state="idle") == 3, "three idle connections"
        )
        assert sample(samples, "ciweb_green_threads_free") == 2 * POOL_SIZE - 3
        assert sample(samples, "ciweb_http_requests_in_flight") == 0
        assert sample(samples, "ciweb_console_streams") == 0
        assert sample(samples, "ciweb_cache_requests_total", result="hit") >= 1
        assert sample(samples, "ciweb_db_pool_checked_out") == 0
        assert sample(samples, "ciweb_db_pool_connections") >= 1
    finally:
        for conn in idle:
            conn.close()


def test_a_dead_worker_leaves_its_counts_and_takes_its_gauges(site: Site) -> None:
    load(site.port, "/api/tenants", 2, 5)
    total = wait_for(
        lambda: site.stats()["requests"] or None, "the requests counted by the monitor"
    )
    victim = site.stats()["workers"][0]["pid"]  # type: ignore[index]
    os.kill(victim, signal.SIGKILL)

    def replaced() -> dict | None:
        pids = [w["pid"] for w in site.stats()["workers"]]  # type: ignore[union-attr]
        s = site.scrape()
        ready = sample(s, "ciweb_workers_ready") == 2
        return s if victim not in pids and len(pids) == 2 and ready else None

    samples = wait_for(replaced, "a replacement worker", deadline=60)
    all_requests = sum(
        value for (name, _labels), value in samples.items() if name == "ciweb_http_requests_total"
    )
    assert all_requests >= total  # the dead worker's requests are still counted
    # Its live gauges are gone: two pools, not three.
    samples = site.scrape_until(
        lambda s: sample(s, "ciweb_green_threads") == 2 * POOL_SIZE, "two live workers' gauges"
    )
    assert not list(site.directory.glob(f"gauge_livesum_{victim}.db"))


def test_the_directory_is_removed_on_exit(tmp_path: Path) -> None:
    conf = write_conf(tmp_path)
    with conf.open("a") as file:
        file.write("[process]\nworkers = 1\nprometheus_address = 127.0.0.1:0\n")
    with ciweb_api(conf) as server:
        server.wait_for(LISTENING, timeout=60)
        directory = Path(server.wait_for(METRICS).group(2))
        assert directory.is_dir()
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=30) == 0
    assert not directory.exists()


def refused_start(tmp_path: Path, address: str) -> str:
    """Start ciweb-api with *address*; assert it exits with status 2; return its output."""
    conf = write_conf(tmp_path)
    with conf.open("a") as file:
        file.write(f"[process]\nprometheus_address = {address}\n")
    with ciweb_api(conf) as server:
        assert server.proc is not None
        assert server.proc.wait(timeout=60) == 2
    return server.output


@pytest.mark.parametrize("address", ["localhost", "127.0.0.1:99999"])
def test_a_bad_address_stops_ciweb_api_naming_the_option(tmp_path: Path, address: str) -> None:
    assert "[process] prometheus_address" in refused_start(tmp_path, address)


def test_a_taken_port_stops_ciweb_api_naming_the_option(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        output = refused_start(tmp_path, f"127.0.0.1:{taken.getsockname()[1]}")
    assert "[process] prometheus_address: cannot listen on 127.0.0.1:" in output
