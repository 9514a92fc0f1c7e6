"""Logging configuration of ciweb-api, and reopening log files on SIGUSR1.

Three sources, first match wins (as pserve and zc.zkzopeserver do):

1. ``[process] log_config_file``: a :func:`logging.config.fileConfig` file;
2. the paste ini itself when it has a ``[loggers]`` section;
3. a stderr handler at ``[process] log_level`` with ``[process] log_format``.

Every handler gets :class:`~ciweb.middleware.request_id.RequestIdLogFilter`, so formats may
use ``%(request_id)s``.
"""

from __future__ import annotations

import configparser
import logging
import logging.config
import os
import sys
from typing import TYPE_CHECKING

from ciweb.conf import ConfigError
from ciweb.middleware.request_id import RequestIdLogFilter
from ciweb.process.plugins import SimplePlugin

if TYPE_CHECKING:
    from ciweb.process.bus import Bus

__all__ = ["LogsPlugin", "configure_logging", "has_loggers_section", "reopen_log_files"]

LOG = logging.getLogger(__name__)


def has_loggers_section(path: str) -> bool:
    """Return whether the ini file *path* has a ``[loggers]`` section.

    :param path: an ini file (a paste configuration, say).
    """
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error:
        return False
    return parser.has_section("loggers")


def _all_handlers() -> list[logging.Handler]:
    """Return the handlers of every logger, each once."""
    loggers = [logging.getLogger()] + [
        logger
        for logger in list(logging.Logger.manager.loggerDict.values())
        if isinstance(logger, logging.Logger)
    ]
    found: dict[int, logging.Handler] = {}
    for logger in loggers:
        for handler in logger.handlers:
            found.setdefault(id(handler), handler)
    return list(found.values())


def _install_request_id_filter() -> None:
    for handler in _all_handlers():
        if not any(isinstance(f, RequestIdLogFilter) for f in handler.filters):
            handler.addFilter(RequestIdLogFilter())


def configure_logging(
    *,
    log_config_file: str | None = None,
    paste_config: str | None = None,
    level: str = "INFO",
    log_format: str = "%(asctime)s %(process)d %(levelname)s %(name)s %(message)s",
) -> str:
    """Configure logging from the first source that applies; return a description of it.

    :param log_config_file: a fileConfig file (``[process] log_config_file``).
    :param paste_config: the paste ini, used when it has a ``[loggers]`` section.
    :param level: level name of the root logger for the stderr fallback.
    :param log_format: format of the stderr fallback.
    :raises ConfigError: naming the file that cannot configure logging.
    """
    source = None
    if log_config_file:
        if not os.path.isfile(log_config_file):
            raise ConfigError(f"[process] log_config_file: {log_config_file} not found")
        source = log_config_file
    elif paste_config and has_loggers_section(paste_config):
        source = paste_config
    if source is not None:
        # %(here)s as paste.deploy (and pserve's setup_logging) define it.
        defaults = {"here": os.path.dirname(os.path.abspath(source)), "__file__": source}
        try:
            logging.config.fileConfig(source, defaults, disable_existing_loggers=False)
        except (KeyError, ValueError, TypeError, OSError, configparser.Error) as exc:
            raise ConfigError(f"{source}: cannot configure logging: {exc!r}") from None
        description = f"logging configured from {source}"
    else:
        numeric = logging.getLevelName(level.upper())
        if not isinstance(numeric, int):
            raise ConfigError(f"[process] log_level: unknown level {level!r}")
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(log_format))
        root.addHandler(handler)
        root.setLevel(numeric)
        description = f"logging to stderr at {level.upper()}"
    _install_request_id_filter()
    return description


def reopen_log_files() -> int:
    """Close and reopen the file of every :class:`logging.FileHandler`; return how many.

    As ``WatchedFileHandler`` does when it sees a new inode: after logrotate moved the
    file, the next record goes to a fresh file at the configured path.
    """
    reopened = 0
    for handler in _all_handlers():
        if not isinstance(handler, logging.FileHandler):
            continue
        handler.acquire()
        try:
            if handler.stream is not None:
                handler.stream.close()
            # If opening fails (say, permissions after logrotate), FileHandler.emit opens
            # a None stream again on the next record instead of writing to a closed one.
            handler.stream = None
            handler.stream = handler._open()
        finally:
            handler.release()
        reopened += 1
    return reopened


class LogsPlugin(SimplePlugin):
    """Reopen log files when ``reopen_logs`` is published (SIGUSR1)."""

    channels = ("reopen_logs",)

    def __init__(self, bus: Bus) -> None:
        """Attach to *bus*.

        :param bus: the process bus.
        """
        super().__init__(bus)

    def reopen_logs(self) -> None:
        """Reopen every log file of this process."""
        count = reopen_log_files()
        LOG.info("reopened %d log file(s)", count)
