"""load_app: paste.deploy with errors that name the file and the application."""

from __future__ import annotations

from pathlib import Path

import pytest
import webob

from ciweb.conf import ConfigError
from ciweb.wsgi.loader import load_app

INI = """
[app:hello]
paste.app_factory = tests.unit.wsgi.test_application:Hello.factory
greeting = from ini
"""


def test_an_app_is_built_from_its_section(tmp_path: Path) -> None:
    ini = tmp_path / "paste.ini"
    ini.write_text(INI)
    app = load_app(str(ini), "hello")
    assert webob.Request.blank("/").get_response(app).body == b"from ini"


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.ini"
    with pytest.raises(ConfigError, match=f"paste config file {missing} not found"):
        load_app(str(missing), "main")


def test_a_missing_application_names_the_file_and_the_app(tmp_path: Path) -> None:
    ini = tmp_path / "paste.ini"
    ini.write_text(INI)
    with pytest.raises(ConfigError) as caught:
        load_app(str(ini), "main")
    assert str(ini) in str(caught.value)
    assert "'main'" in str(caught.value)
