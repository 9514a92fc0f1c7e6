"""The ``ciweb-api`` command: start-up, the URL it logs, and one-line configuration errors."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

from jsonschema import Draft202012Validator

from ciweb.api import openapi
from tests.functional.ciweb_process import BIN, LISTENING, ciweb_api
from tests.functional.wsgi.client import get, refused


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ciweb-api"), *args], capture_output=True, text=True, timeout=60
    )


def test_it_serves_the_pipeline_and_logs_the_real_port(ciweb_conf: Path) -> None:
    with ciweb_api(ciweb_conf) as server:
        url = server.wait_for(LISTENING).group(1)
        assert not url.endswith(":0")
        with urllib.request.urlopen(f"{url}/api/info", timeout=10) as res:
            assert res.status == 200
            assert res.headers["Content-Type"] == "application/json; charset=utf-8"
            assert "capabilities" in json.load(res)["info"]


def test_a_request_refused_before_the_api_runs_is_the_documented_json_400(
    ciweb_conf: Path,
) -> None:
    with ciweb_api(ciweb_conf) as server:
        port = int(server.wait_for(LISTENING).group(1).rsplit(":", 1)[1])
        api = refused(port, get("/api/tenants%01"), "HTTP/1.1 400 Bad Request")
        page = refused(port, get("/status%01"), "HTTP/1.1 400 Bad Request")
    assert api.header("Content-Type") == "application/json"
    document = openapi.load_document()
    ref = document["paths"]["/api/tenants"]["get"]["responses"]["400"]["$ref"]
    documented = document["components"]["responses"][ref.rsplit("/", 1)[1]]
    schema = documented["content"]["application/json"]["schema"]
    Draft202012Validator(schema).validate(json.loads(api.body))
    # Outside /api (the dashboard's pages) the default is a line of text.
    assert page.header("Content-Type") == "text/plain; charset=utf-8"


def test_a_bad_option_value_is_one_line_naming_it_and_exit_2(tmp_path: Path) -> None:
    conf = tmp_path / "ciweb.conf"
    conf.write_text("[server]\nbind_port = 99999\n")
    result = _run("--config-file", str(conf))
    assert result.returncode == 2
    assert "[server] bind_port" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_missing_paste_file_is_named_and_exit_2(tmp_path: Path) -> None:
    conf = tmp_path / "ciweb.conf"
    conf.write_text("[api]\npaste_config = missing-paste.ini\n")
    result = _run("--config-file", str(conf))
    assert result.returncode == 2
    assert "missing-paste.ini" in result.stderr and "paste_config" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_paste_app_names_file_and_app(ciweb_conf: Path) -> None:
    conf = ciweb_conf.read_text() + "\n[api]\npaste_app = nosuchapp\n"
    ciweb_conf.write_text(
        conf.replace("[api]\n", "[api]\npaste_app = nosuchapp\n", 1).replace(
            "\n[api]\npaste_app = nosuchapp\n", "", 1
        )
    )
    result = _run("--config-file", str(ciweb_conf))
    assert result.returncode == 2
    assert "nosuchapp" in result.stderr and "api-paste.ini" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_config_file_is_exit_2(tmp_path: Path) -> None:
    result = _run("--config-file", str(tmp_path / "nope.conf"))
    assert result.returncode == 2
    assert "nope.conf" in result.stderr
