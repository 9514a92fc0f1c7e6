"""The pipeline under another WSGI host: gunicorn serves ciweb.api.wsgi:application."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.functional.ciweb_process import BIN, ServerProcess

GUNICORN_LISTENING = re.compile(r"Listening at: (http://\S+)")


def test_gunicorn_serves_the_shipped_pipeline(ciweb_conf: Path) -> None:
    # ciweb-api's metrics option means nothing here: no endpoint, and no failure.
    with ciweb_conf.open("a") as conf:
        conf.write("[process]\nprometheus_address = 127.0.0.1:0\n")
    argv = [
        str(BIN / "gunicorn"),
        "--bind",
        "127.0.0.1:0",
        "--workers",
        "2",
        "ciweb.api.wsgi:application",
    ]
    with ServerProcess(argv, env={"CIWEB_CONFIG_FILE": str(ciweb_conf)}) as server:
        url = server.wait_for(GUNICORN_LISTENING).group(1)
        with urllib.request.urlopen(f"{url}/api/info", timeout=10) as res:
            assert res.status == 200
            assert res.headers["X-Request-Id"].startswith("req-")
            assert json.load(res)["info"]["capabilities"]["job_history"] is True
        try:
            urllib.request.urlopen(f"{url}/api/nope", timeout=10)
        except urllib.error.HTTPError as err:
            assert err.code == 404
            assert json.load(err)["error"] == "Not Found"
        else:
            raise AssertionError("an unknown path must be a 404")


def test_the_entry_point_refuses_a_missing_config_file_by_name(tmp_path: Path) -> None:
    missing = tmp_path / "nope.conf"
    result = subprocess.run(
        [sys.executable, "-c", "import ciweb.api.wsgi"],
        text=True,
        capture_output=True,
        env={**os.environ, "CIWEB_CONFIG_FILE": str(missing)},
        timeout=60,
    )
    assert result.returncode != 0
    assert f"CIWEB_CONFIG_FILE: {missing} not found" in result.stderr
