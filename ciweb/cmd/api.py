"""``ciweb-api``: serve the paste pipeline with ciweb's eventlet server.

Also the ``paste.server_runner`` entry point ``egg:ciweb#main``, so that
``[server:main] use = egg:ciweb#main`` in a paste ini serves a pipeline the same way.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from oslo_config import cfg

from ciweb import conf as ciweb_conf
from ciweb.conf import ConfigError

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from ciweb.wsgi.server import Server

__all__ = ["main", "server_runner"]

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


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(process)d %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


def wait_for_signal(signals: Sequence[signal.Signals]) -> signal.Signals:
    """Block the calling green thread until one of *signals* arrives; return it.

    The signal is delivered through ``signal.set_wakeup_fd``: the C-level handler writes
    the signal number to a pipe that eventlet's hub watches, so the hub wakes at once
    (a Python handler alone would only run when the hub next wakes by itself).
    """
    from eventlet import hubs

    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    previous = {signum: signal.signal(signum, lambda *_: None) for signum in signals}
    old_wakeup = signal.set_wakeup_fd(write_fd)
    try:
        while True:
            hubs.trampoline(read_fd, read=True)
            for number in os.read(read_fd, 64):
                if number in previous:
                    return signal.Signals(number)
    finally:
        signal.set_wakeup_fd(old_wakeup)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        os.close(read_fd)
        os.close(write_fd)


def _serve(server: Server) -> None:
    """Start *server* and block until SIGTERM or SIGINT, then drain it."""
    server.start()
    LOG.info("ciweb-api listening on %s (pid %d)", server.url, os.getpid())
    received = wait_for_signal([signal.SIGTERM, signal.SIGINT])
    LOG.info("%s received: draining", received.name)
    server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ciweb-api``; return the exit status (2 on a configuration error).

    :param argv: command-line arguments without the program name.
    """
    _monkey_patch()
    from ciweb.wsgi.server import Server

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        conf = ciweb_conf.load(args, prog="ciweb-api")
        _configure_logging()
        app = load_pipeline(conf)
        server = Server.from_conf(app, conf)
        server.bind()
    except (ConfigError, cfg.Error) as exc:
        print(f"ciweb-api: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    _serve(server)
    return 0


def server_runner(app: WSGIApplication, global_conf: dict[str, str], **local_conf: str) -> None:
    """Serve *app* from a paste ``[server:...]`` section (``use = egg:ciweb#main``).

    Local keys are ``[server]`` options (``host``/``port`` are accepted for
    ``bind_host``/``bind_port``); ``config_file`` in the section or in ``[DEFAULT]`` names a
    ciweb.conf whose ``[server]`` and ``[ssl]`` values apply first.

    :param app: the application paste built.
    :param global_conf: paste's ``[DEFAULT]`` values.
    :param local_conf: the section's keys.
    """
    _monkey_patch()
    from ciweb.wsgi.server import Server

    local = dict(local_conf)
    config_file = local.pop("config_file", None) or global_conf.get("config_file")
    for alias, name in (("host", "bind_host"), ("port", "bind_port")):
        if alias in local:
            local[name] = local.pop(alias)
    files = config_file.split(os.pathsep) if config_file else []
    conf = ciweb_conf.load([], config_files=files, prog="ciweb-api")
    from ciweb.conf import server as server_opts

    values = ciweb_conf.paste_options({}, local, server_opts.GROUP, server_opts.OPTS)
    for name, value in values.items():
        if name in local:
            conf.set_override(name, value, group="server")
    _configure_logging()
    _serve(Server.from_conf(app, conf))


if __name__ == "__main__":
    sys.exit(main())
