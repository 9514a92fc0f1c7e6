"""Load benchmark: ciweb's full shipped pipeline against bare eventlet serving the same bytes.

For each path, ciweb-api (one worker, the shipped ``etc/api-paste.ini``, the demo tenant in
SQLite or PostgreSQL) and a bare eventlet.wsgi server answering the very bytes ciweb answered
for that path are loaded alternately (bare, ciweb, bare, ciweb, ...) with the same client, so
the machine's noise hits both alike; the figures that matter are the ratio and ciweb's CPU per
request (the worker's CPU seconds from /proc, divided by the requests served).  The client is
wrk when installed (Debian: apt-get install wrk), else a Python keep-alive load generator.

    .venv/bin/python bench/load.py [--duration 5] [--connections 50] [--rounds 3]
        [--database sqlite|postgresql] [--baseline-source DIR] [--quick]

``--baseline-source DIR`` also runs the ciweb of another checkout (e.g. ``git worktree add
/tmp/main main``) in the same rounds and prints the ratio of requests/s against it.

Targets (issues 2 and 11), the exit status is 1 when one is missed:

* ``/api/info`` (a cache hit) at >= 0.80 of bare eventlet's requests/s;
* the dashboard's builds page at <= 1 ms of server CPU per request;
* with ``--baseline-source``: the builds page (limit 50) at >= 4x the baseline's requests/s.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LISTENING = re.compile(rb"ciweb-api listening on http://127\.0\.0\.1:(\d+)")
TENANT = "example-tenant"
BUILDS_PAGE = f"/api/tenant/{TENANT}/builds?skip=0&limit=50&exclude_result=SKIPPED&complete=true"
PATHS = {
    "info": "/api/info",
    "builds page": BUILDS_PAGE,
    "builds limit=20": f"/api/tenant/{TENANT}/builds?limit=20",
    "buildsets page": f"/api/tenant/{TENANT}/buildsets?skip=0&limit=50"
    "&exclude_result=NO_JOBS&exclude_result=DEQUEUED&complete=true",
    "tenants": "/api/tenants",
    "status": f"/api/tenant/{TENANT}/status",
}
QUICK_PATHS = ("info", "builds page")
INFO_RATIO = 0.80
CPU_PER_REQUEST_MS = 1.0
BASELINE_RATIO = 4.0


@contextmanager
def bare_eventlet(body: bytes, content_type: str) -> Iterator[str]:
    """Run bench/bare_eventlet.py answering *body*; yield its URL."""
    # Its access lines go to a file, as ciweb-api's do: the same kind of sink for both.
    log = tempfile.TemporaryFile()  # noqa: SIM115 -- closed below
    with tempfile.NamedTemporaryFile(delete=False) as out:
        out.write(body)
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench/bare_eventlet.py"), out.name, content_type],
        stdout=subprocess.PIPE,
        stderr=log,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        log.close()
        os.unlink(out.name)


def prepare_database(tmp: Path, connection: str, *, source: Path | None = None) -> str:
    """Migrate the database at *connection* (empty: SQLite in *tmp*), load the demo tenant,
    with the code of *source* (default: this checkout), whose schema may be older.

    :return: the connection URL to put in ciweb.conf.
    """
    name = "baseline" if source else "ciweb"
    url = connection or f"sqlite:///{tmp / f'{name}.sqlite'}"
    conf = tmp / f"{name}-db.conf"
    conf.write_text(f"[database]\nconnection = {url}\n")
    env = {**os.environ, "PYTHONPATH": str(source or ROOT)}
    for command in (["db", "upgrade"], ["demo"]):
        subprocess.run(
            [sys.executable, "-m", "ciweb.cmd.manage", "--config-file", str(conf), *command],
            check=True,
            capture_output=True,
            cwd=source or ROOT,
            env=env,
        )
    return url


def log_config(directory: Path) -> Path:
    """Write a logging config: warnings only, but the "listening" line that tells the port."""
    path = directory / "logging.ini"
    path.write_text(
        "[loggers]\nkeys = root, api\n[handlers]\nkeys = stderr\n[formatters]\nkeys = plain\n"
        "[logger_root]\nlevel = WARNING\nhandlers = stderr\n"
        "[logger_api]\nlevel = INFO\nhandlers =\nqualname = ciweb.api\n"
        "[handler_stderr]\nclass = StreamHandler\nargs = (sys.stderr,)\nformatter = plain\n"
        "[formatter_plain]\nformat = %(message)s\n"
    )
    return path


class Ciweb:
    """A running ciweb-api (one worker) of this checkout or of *source*."""

    def __init__(
        self, tmp: Path, connection: str, *, source: Path | None = None, database: str = ""
    ) -> None:
        self.source = source or ROOT
        name = "baseline" if source else "ciweb"
        self.conf = tmp / f"{name}.conf"
        self.conf.write_text(
            f"[api]\npaste_config = {self.source / 'etc/api-paste.ini'}\n"
            "[server]\nbind_port = 0\n"
            f"[process]\nworkers = 1\nlog_config_file = {log_config(tmp)}\n"
            f"[database]\nconnection = {connection}\n{database}"
        )
        self.log_path = tmp / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> None:
        """Start ciweb-api and wait for its port."""
        env = {**os.environ, "PYTHONPATH": str(self.source)}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ciweb.cmd.api", "--config-file", str(self.conf)],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.source, env=env,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            match = LISTENING.search(self.log_path.read_bytes())
            if match:
                self.port = int(match.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"ciweb-api did not start:\n{self.log_path.read_text()}")

    def url(self, path: str) -> str:
        """Return the URL of *path* on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def cpu_seconds(self) -> float:
        """Return the CPU seconds used so far by ciweb-api and its workers."""
        assert self.proc is not None
        return tree_cpu(self.proc.pid)

    def stop(self) -> None:
        """Stop ciweb-api (SIGTERM, then SIGKILL)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def tree_cpu(pid: int) -> float:
    """Return the CPU seconds used so far by *pid* and its children (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    return total + sum(tree_cpu(int(child)) for child in children)


def run_wrk(url: str, duration: float, connections: int) -> dict[str, float]:
    """Load *url* with wrk; return requests/s, requests and p50/p99 latency in ms."""
    # A generous timeout: a loaded machine makes a slow answer, not a failed one.
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "30s"]
    out = subprocess.run(
        [*argv, "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors or "Socket errors" in out:
        raise RuntimeError(f"errors under load:\n{out}")
    return {"rps": rps, "requests": requests, "p50": _ms(out, "50%"), "p99": _ms(out, "99%")}


def _ms(out: str, label: str) -> float:
    value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_python_client(url: str, duration: float, connections: int) -> dict[str, float]:
    """Load *url* with bench/pyload.py (keep-alive, separate processes)."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench/pyload.py"), url, str(duration), str(connections)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps, p50, p99 = (float(x) for x in out.split())
    return {"rps": rps, "requests": rps * duration, "p50": p50, "p99": p99}


def load_client() -> tuple[str, object]:
    """Return the name and function of the load generator: wrk, else Python."""
    if shutil.which("wrk"):
        return "wrk -t1", run_wrk
    return "bench/pyload.py", run_python_client


def fetch(url: str) -> tuple[bytes, str]:
    """Return the body and Content-Type of GET *url*."""
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read(), response.headers["Content-Type"]


def _measure(
    servers: dict[str, tuple[str, Ciweb | None]], args: argparse.Namespace, load: object
) -> dict[str, dict[str, float]]:
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    for url, _ in servers.values():
        load(url, 1, args.connections)  # type: ignore[operator]  # warm up
    for _ in range(args.rounds):
        for name, (url, server) in servers.items():
            before = server.cpu_seconds() if server else 0.0
            result = load(url, args.duration, args.connections)  # type: ignore[operator]
            if server:
                result["cpu_ms"] = (server.cpu_seconds() - before) / result["requests"] * 1e3
            runs[name].append(result)
    return {
        name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--baseline-source", type=Path, help="another checkout to compare")
    parser.add_argument("--path", action="append", choices=sorted(PATHS), help="repeatable")
    parser.add_argument("--quick", action="store_true", help="info and builds page, 1 round")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.duration = 1, min(args.duration, 3)
    names = args.path or (QUICK_PATHS if args.quick else tuple(PATHS))
    client, load = load_client()
    print(f"client: {client}, {args.connections} connections, {args.duration:g} s x "
          f"{args.rounds} rounds, database {args.database}, one worker")  # fmt: skip
    missed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ciweb-load-") as tmp, ExitStack() as stack:
        connection = ""
        if args.database == "postgresql":
            sys.path.insert(0, str(ROOT))
            from tests.functional.postgres_server import PostgresServer

            pg = stack.enter_context(PostgresServer())
            connection = pg.create_database("ciweb_load")
        url = prepare_database(Path(tmp), connection)
        ciweb = Ciweb(Path(tmp), url)
        stack.callback(ciweb.stop)
        ciweb.start()
        baseline = None
        if args.baseline_source:
            # Its own database, made by its own code: its schema may be older than ours.
            source = args.baseline_source.resolve()
            base_connection = pg.create_database("ciweb_load_base") if connection else ""
            base_url = prepare_database(Path(tmp), base_connection, source=source)
            baseline = Ciweb(Path(tmp), base_url, source=source)
            stack.callback(baseline.stop)
            baseline.start()
        for name in names:
            path = PATHS[name]
            body, content_type = fetch(ciweb.url(path))
            with bare_eventlet(body, content_type) as bare_url:
                servers: dict[str, tuple[str, Ciweb | None]] = {
                    "bare eventlet": (bare_url, None),
                    "ciweb": (ciweb.url(path), ciweb),
                }
                if baseline:
                    servers["baseline"] = (baseline.url(path), baseline)
                summary = _measure(servers, args, load)
            missed += _report(name, path, summary)
    print("all targets met" if not missed else "MISSED: " + "; ".join(missed))
    return 1 if missed else 0


def _report(name: str, path: str, summary: dict[str, dict[str, float]]) -> list[str]:
    print(f"\n{name}: GET {path}")
    for server, s in summary.items():
        cpu = f"   server CPU {s['cpu_ms']:.3f} ms/request" if "cpu_ms" in s else ""
        print(f"  {server:14s} {s['rps']:9.0f} req/s   p50 {s['p50']:7.2f} ms   "
              f"p99 {s['p99']:7.2f} ms{cpu}")  # fmt: skip
    ratio = summary["ciweb"]["rps"] / summary["bare eventlet"]["rps"]
    print(f"  ratio ciweb / bare eventlet: {ratio:.2f}")
    missed = []
    if name == "info" and ratio < INFO_RATIO:
        missed.append(f"/api/info ratio {ratio:.2f} < {INFO_RATIO}")
    if name == "builds page":
        cpu = summary["ciweb"]["cpu_ms"]
        print(f"  server CPU per request: {cpu:.3f} ms (target <= {CPU_PER_REQUEST_MS})")
        if cpu > CPU_PER_REQUEST_MS:
            missed.append(f"builds page {cpu:.3f} ms CPU per request > {CPU_PER_REQUEST_MS}")
        if "baseline" in summary:
            gain = summary["ciweb"]["rps"] / summary["baseline"]["rps"]
            print(f"  ratio ciweb / baseline: {gain:.2f} (target >= {BASELINE_RATIO})")
            if gain < BASELINE_RATIO:
                missed.append(f"builds page {gain:.2f}x the baseline < {BASELINE_RATIO}")
    return missed


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
