"""``ciweb-api``: serve the paste pipeline with ciweb's eventlet server.

Also the ``paste.server_runner`` entry point ``egg:ciweb#main``, so that
``[server:main] use = egg:ciweb#main`` in a paste ini serves a pipeline the same way.
"""

from __future__ import annotations

import _socket
import argparse
import functools
import logging
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from oslo_config import cfg

from ciweb import conf as ciweb_conf
from ciweb.conf import ConfigError
from ciweb.process.bus import Bus, ChannelFailures
from ciweb.process.logs import LogsPlugin, configure_logging
from ciweb.process.plugins import PIDFile, PIDFileError, SignalHandler

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from ciweb.discovery.zookeeper import Registration
    from ciweb.process.monitor import MonitorServer
    from ciweb.process.workers import Settings
    from ciweb.wsgi.server import Server

__all__ = ["main", "server_runner", "worker_main"]

LOG = logging.getLogger("ciweb.api")
EXIT_CONFIG = 2


def _monkey_patch() -> None:
    # Only this command patches: the framework and the service never do (ARCHITECTURE).
    # Through ciweb.wsgi.server, which imports eventlet with its deprecation notice silenced.
    from ciweb.wsgi import server

    server.eventlet.monkey_patch()


def find_paste_config(conf: cfg.ConfigOpts) -> str:
    """Return the path of ``[api] paste_config``, looked up next to the config files.

    :raises ConfigError: naming the option when the file is nowhere to be found.
    """
    name = conf.api.paste_config
    if os.path.isabs(name):
        candidates = [name]
    else:
        dirs = [os.path.dirname(os.path.abspath(f)) for f in conf.config_file or []]
        candidates = [os.path.join(d, name) for d in dirs] + [os.path.abspath(name)]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise ConfigError(f"[api] paste_config: {name} not found (looked in {', '.join(candidates)})")


def load_pipeline(conf: cfg.ConfigOpts) -> WSGIApplication:
    """Load the paste application that ``[api]`` names, handing it the config file path."""
    from ciweb.wsgi.loader import load_app

    global_conf = {"config_file": os.pathsep.join(conf.config_file or [])}
    return load_app(find_paste_config(conf), conf.api.paste_app, global_conf=global_conf)


def _configure_logging(conf: cfg.ConfigOpts) -> None:
    process = conf.process
    description = configure_logging(
        log_config_file=process.log_config_file,
        paste_config=find_paste_config(conf),
        level=process.log_level,
        log_format=process.log_format,
    )
    LOG.debug("%s", description)


def read_settings(args: Sequence[str], conf: cfg.ConfigOpts | None = None) -> Settings:
    """Check everything a worker will build from *args*; return the supervisor's settings.

    The pipeline is loaded once and a server built (not bound) from it, so that a broken
    ``ciweb.conf`` or paste ini fails here, in the parent, before any worker is replaced.

    :param args: the command-line arguments (``--config-file ...``) workers get.
    :param conf: the options already parsed from *args*; parsed again (a reload) if None.
    :raises ConfigError: naming the bad option or file.
    """
    from ciweb.process.workers import Settings
    from ciweb.wsgi.server import Server

    if conf is None:
        conf = ciweb_conf.load(args, prog="ciweb-api")
    Server.from_conf(load_pipeline(conf), conf)
    srv, process = conf.server, conf.process
    return Settings(
        conf_args=tuple(args),
        host=srv.bind_host,
        port=srv.bind_port,
        backlog=srv.backlog,
        workers=process.workers or os.cpu_count() or 1,
        reuse_port=process.reuse_port,
        max_requests=process.max_requests,
        max_requests_jitter=process.max_requests_jitter,
        start_timeout=process.worker_start_timeout,
        respawn_max_delay=process.respawn_max_delay,
        graceful_timeout=srv.graceful_shutdown_timeout,
        tls=bool(conf.ssl.cert_file),
    )


def _monitor(conf: cfg.ConfigOpts, context: Any) -> MonitorServer | None:
    from ciweb.process.monitor import MonitorServer, parse_address

    address = conf.process.monitor_address
    if not address:
        return None
    try:
        host, port = parse_address(address)
    except ValueError as exc:
        raise ConfigError(f"[process] monitor_address: {exc}") from None
    return MonitorServer(context, host=host, port=port)


def _metrics_address(conf: cfg.ConfigOpts) -> tuple[str, int] | None:
    from ciweb.process.monitor import parse_address

    address = conf.process.prometheus_address
    if not address:
        return None
    try:
        return parse_address(address)
    except ValueError as exc:
        raise ConfigError(f"[process] prometheus_address: {exc}") from None


def _subscribe_metrics(bus: Bus, address: tuple[str, int] | None, supervisor: Any) -> None:
    """Serve the workers' metrics from the parent, or make sure no worker writes any."""
    from ciweb.process.metrics import DIRECTORY_VARIABLE, MetricsExporter

    if address is None:
        os.environ.pop(DIRECTORY_VARIABLE, None)
        return
    # The workers inherit the parent's environment: they write where it reads.
    directory = tempfile.mkdtemp(prefix="ciweb-prometheus-")
    os.environ[DIRECTORY_VARIABLE] = directory
    MetricsExporter(
        bus,
        host=address[0],
        port=address[1],
        directory=directory,
        pids=lambda: {worker.pid for worker in supervisor.workers},
        health=supervisor.health,
    ).subscribe()


def _registrations(
    zk_options: dict[str, Any],
    address: tuple[str, int],
    monitor: MonitorServer | None,
    handler: Any = None,
) -> list[Registration]:
    from ciweb.discovery.zookeeper import Registration

    options = dict(zk_options)
    options.pop("monitor", None)
    return [
        Registration.from_options(
            address,
            monitor=monitor.address if monitor is not None else None,
            handler=handler,
            **options,
        )
    ]


def _subscribe_common(bus: Bus, conf: cfg.ConfigOpts, monitor: MonitorServer | None) -> None:
    from ciweb.process.monitor import MonitorPlugin

    SignalHandler(bus).subscribe()
    LogsPlugin(bus).subscribe()
    if monitor is not None:
        MonitorPlugin(bus, monitor).subscribe()


def _start(bus: Bus) -> int:
    """Start *bus*; return 0, or print the first failure in one line and return 1 or 2."""
    try:
        bus.start()
    except ChannelFailures as exc:
        first = exc.exceptions[0]
        print(f"ciweb-api: error: {first}", file=sys.stderr)
        return EXIT_CONFIG if isinstance(first, ConfigError) else 1
    return 0


def _claim_pid_file(bus: Bus, path: str) -> None:
    # Claimed before the bus starts anything: with SO_REUSEPORT a second instance could
    # otherwise bind the same port and take a share of its connections.
    pid_file = PIDFile(bus, path)
    pid_file.start()
    bus.subscribe("exit", pid_file.exit, priority=90)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ciweb-api``: a supervising parent and its workers; return the exit status.

    The parent is not monkey-patched: it binds the sockets, runs the bus (signals, pid
    file, workers, monitor, ZooKeeper registration) and execs the workers, which are.
    Exit status 2 on a configuration error, 1 when another instance holds the pid file.

    :param argv: command-line arguments without the program name.
    """
    from ciweb.discovery.zookeeper import conf_options
    from ciweb.process.servers import ZooKeeperPlugin
    from ciweb.process.workers import Supervisor
    from ciweb.wsgi.server import listen

    args = list(sys.argv[1:] if argv is None else argv)
    bus = Bus()
    try:
        conf = ciweb_conf.load(args, prog="ciweb-api")
        _configure_logging(conf)
        settings = read_settings(args, conf)
        zk_options = conf_options(conf)
        supervisor = Supervisor(
            bus, settings, prepare=functools.partial(read_settings, args), listen=listen
        )
        monitor = _monitor(conf, supervisor)
        metrics_address = _metrics_address(conf)
    except (ConfigError, cfg.Error) as exc:
        print(f"ciweb-api: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if conf.process.pid_file:
        try:
            _claim_pid_file(bus, conf.process.pid_file)
        except PIDFileError as exc:
            print(f"ciweb-api: error: {exc}", file=sys.stderr)
            return 1
    _subscribe_common(bus, conf, monitor)
    _subscribe_metrics(bus, metrics_address, supervisor)
    supervisor.subscribe()
    if zk_options["hosts"]:
        ZooKeeperPlugin(
            bus, lambda: _registrations(zk_options, supervisor.address, monitor)
        ).subscribe()
    status = _start(bus)
    if status:
        return status
    LOG.info("ciweb-api listening on %s (pid %d)", supervisor.url, os.getpid())
    bus.block()
    return 0


def _inherited_socket(fd: int) -> socket.socket:
    # The C-level socket reads the family off the descriptor; the module-level class is
    # eventlet's green socket once patched, which is what the server needs.
    probe = _socket.socket(fileno=fd)
    family = probe.family
    probe.detach()
    return socket.socket(family, socket.SOCK_STREAM, fileno=fd)


def _worker_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ciweb-api worker")
    parser.add_argument("--slot", type=int, required=True)
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--status-fd", type=int, required=True)
    parser.add_argument("conf_args", nargs=argparse.REMAINDER)
    ns = parser.parse_args(list(argv))
    if ns.conf_args[:1] == ["--"]:
        ns.conf_args = ns.conf_args[1:]
    return ns


def worker_main(argv: Sequence[str]) -> int:
    """Run one worker: serve the inherited socket until SIGTERM, reporting to the parent.

    Started by the parent as ``python -m ciweb.process.worker --slot N --listen-fd FD
    --status-fd FD -- <ciweb-api arguments>``; re-reads the configuration itself.

    :param argv: the arguments above.
    """
    _monkey_patch()
    from ciweb.process.metrics import MetricsSampler, RequestMetrics, worker_metrics
    from ciweb.process.servers import RequestCounter, ServersPlugin
    from ciweb.process.worker import StatusReporter
    from ciweb.wsgi.server import Server

    ns = _worker_args(argv)
    # The parent handles these for the whole process group (a terminal's Ctrl-C included).
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU):
        signal.signal(sig, signal.SIG_IGN)
    try:
        conf = ciweb_conf.load(ns.conf_args, prog="ciweb-api")
        _configure_logging(conf)
        metrics = worker_metrics()  # before the pipeline: its database pools are watched
        counter = RequestCounter(load_pipeline(conf))
        app = counter if metrics is None else RequestMetrics(counter, metrics)
        server = Server.from_conf(app, conf, sock=_inherited_socket(ns.listen_fd))
        server.bind()
    except (ConfigError, cfg.Error) as exc:
        print(f"ciweb-api: error: worker: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    def sample() -> dict[str, Any]:
        return {
            "slot": ns.slot,
            "requests": counter.count,
            "in_flight": server.in_flight,
            "connections": server.connections,
            "pool_free": server.pool.free(),
            "pool_size": server.pool.size,
        }

    bus = Bus()
    servers = ServersPlugin(bus, [server])
    handlers = {
        "SIGTERM": bus.exit,
        # From the supervisor: a successor serves this socket (reload, recycling, SIGTTOU).
        "SIGUSR2": servers.hand_over,
        "SIGUSR1": functools.partial(bus.publish, "reopen_logs"),
    }
    SignalHandler(bus, handlers).subscribe()  # type: ignore[arg-type]
    LogsPlugin(bus).subscribe()
    servers.subscribe()
    StatusReporter(bus, ns.status_fd, sample).subscribe()
    if metrics is not None:
        MetricsSampler(bus, metrics, server).subscribe()
    if _start(bus):
        return 1
    bus.block()
    return 0


class _SingleProcess:
    """Stats and health of one in-process server, for the monitor of ``server_runner``."""

    def __init__(self, server: Server, counter: Any) -> None:
        self.server = server
        self.counter = counter

    def stats(self) -> dict[str, Any]:
        server = self.server
        return {
            "requests": self.counter.count,
            "in_flight": server.in_flight,
            "connections": server.connections,
            "pool_free": server.pool.free(),
            "workers": [{"pid": os.getpid(), "requests": self.counter.count}],
        }

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "workers_ready": 1, "workers_wanted": 1}


def _runner_conf(
    global_conf: Mapping[str, str], local_conf: Mapping[str, str]
) -> tuple[cfg.ConfigOpts, dict[str, Any]]:
    """Read a ``[server:...]`` section, configure logging; return its options and ZooKeeper's."""
    from ciweb.conf import server as server_opts
    from ciweb.conf import zookeeper as zk_opts
    from ciweb.discovery.zookeeper import PASTE_ALIASES, paste_registration_options

    local = dict(local_conf)
    config_file = local.pop("config_file", None) or global_conf.get("config_file")
    zk_options = paste_registration_options(local, {"config_file": config_file or ""})
    server_names = {opt.name for opt in server_opts.OPTS} | {"host", "port"}
    known = server_names | {opt.name for opt in zk_opts.OPTS} | {*PASTE_ALIASES, "monitor_server"}
    unknown = sorted(set(local) - known)
    if unknown:
        # As every filter factory: a typo in the section is an error, not a silent default.
        raise ConfigError(f"[server:...] unknown option(s): {', '.join(unknown)}")
    local = {k: v for k, v in local.items() if k in server_names}
    for alias, name in (("host", "bind_host"), ("port", "bind_port")):
        if alias in local:
            local[name] = local.pop(alias)
    files = config_file.split(os.pathsep) if config_file else []
    conf = ciweb_conf.load([], config_files=files, prog="ciweb-api")
    values = ciweb_conf.paste_options({}, local, server_opts.GROUP, server_opts.OPTS)
    for name, value in values.items():
        if name in local:
            conf.set_override(name, value, group="server")
    configure_logging(
        log_config_file=conf.process.log_config_file,
        paste_config=global_conf.get("__file__"),
        level=conf.process.log_level,
        log_format=conf.process.log_format,
    )
    return conf, zk_options


def server_runner(app: WSGIApplication, global_conf: dict[str, str], **local_conf: str) -> None:
    """Serve *app* from a paste ``[server:...]`` section (``use = egg:ciweb#main``).

    One process, as zc.zkzopeserver: local keys are ``[server]`` options (``host``/``port``
    are accepted for ``bind_host``/``bind_port``), plus zc.zkzopeserver's ``zookeeper =``
    (hosts), ``path =`` and ``monitor_server = [host]:port`` and the other ``[zookeeper]``
    option names.  ``config_file`` in the section or in ``[DEFAULT]`` names a ciweb.conf
    whose ``[server]``, ``[ssl]`` and ``[zookeeper]`` values apply first.  SIGTERM/SIGINT
    drain and return; SIGUSR1 reopens log files.

    :param app: the application paste built.
    :param global_conf: paste's ``[DEFAULT]`` values.
    :param local_conf: the section's keys.
    """
    _monkey_patch()
    from ciweb.discovery.zookeeper import make_handler
    from ciweb.process.monitor import MonitorPlugin, MonitorServer
    from ciweb.process.servers import RequestCounter, ServersPlugin, ZooKeeperPlugin
    from ciweb.wsgi.server import Server

    conf, zk_options = _runner_conf(global_conf, local_conf)
    counter = RequestCounter(app)
    server = Server.from_conf(counter, conf)
    server.bind()
    bus = Bus()
    handlers = {
        "SIGTERM": bus.exit,
        "SIGINT": bus.exit,
        "SIGUSR1": functools.partial(bus.publish, "reopen_logs"),
    }
    SignalHandler(bus, handlers).subscribe()  # type: ignore[arg-type]
    LogsPlugin(bus).subscribe()
    ServersPlugin(bus, [server]).subscribe()
    monitor = None
    if zk_options.get("monitor") is not None:
        mhost, mport = zk_options["monitor"]
        monitor = MonitorServer(_SingleProcess(server, counter), host=mhost or "127.0.0.1",
                                port=mport)  # fmt: skip
        MonitorPlugin(bus, monitor).subscribe()
    if zk_options["hosts"]:
        ZooKeeperPlugin(
            bus,
            lambda: _registrations(zk_options, server.address, monitor, make_handler("eventlet")),
        ).subscribe()
    if _start(bus):
        raise SystemExit(EXIT_CONFIG)
    LOG.info("ciweb-api listening on %s (pid %d)", server.url, os.getpid())
    bus.block()


if __name__ == "__main__":
    sys.exit(main())
