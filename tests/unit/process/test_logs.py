"""Tests of logging configuration and log file reopening."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ciweb.conf import ConfigError
from ciweb.process.logs import configure_logging, has_loggers_section, reopen_log_files


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


def paste_with_loggers(tmp_path: Path) -> Path:
    path = tmp_path / "api-paste.ini"
    path.write_text(
        textwrap.dedent("""\
        [app:main]
        use = egg:ciweb#main

        [loggers]
        keys = root

        [handlers]
        keys = file

        [formatters]
        keys = plain

        [logger_root]
        level = INFO
        handlers = file

        [handler_file]
        class = FileHandler
        args = ('%(here)s/api.log',)
        formatter = plain

        [formatter_plain]
        format = [%(request_id)s] %(message)s
        """)
    )
    return path


def test_a_paste_file_with_loggers_configures_logging_with_request_ids(tmp_path: Path) -> None:
    paste = paste_with_loggers(tmp_path)
    assert has_loggers_section(str(paste))
    assert configure_logging(paste_config=str(paste)) == f"logging configured from {paste}"
    logging.getLogger("ciweb.test").info("first")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert (tmp_path / "api.log").read_text() == "[-] first\n"


def test_reopen_log_files_writes_to_a_new_file_after_a_rotation(tmp_path: Path) -> None:
    configure_logging(paste_config=str(paste_with_loggers(tmp_path)))
    log = logging.getLogger("ciweb.test")
    log.info("before")
    (tmp_path / "api.log").rename(tmp_path / "api.log.1")
    assert reopen_log_files() == 1
    log.info("after")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert (tmp_path / "api.log.1").read_text() == "[-] before\n"
    assert (tmp_path / "api.log").read_text() == "[-] after\n"


def test_without_a_logging_file_the_level_name_applies(tmp_path: Path) -> None:
    paste = tmp_path / "plain.ini"
    paste.write_text("[app:main]\nuse = egg:ciweb#main\n")
    assert configure_logging(paste_config=str(paste), level="WARNING") == (
        "logging to stderr at WARNING"
    )
    assert logging.getLogger().level == logging.WARNING


def test_a_missing_log_config_file_is_a_config_error_naming_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[process\] log_config_file"):
        configure_logging(log_config_file=str(tmp_path / "nowhere.ini"))
