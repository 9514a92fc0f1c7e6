"""``[server:main] use = egg:ciweb#main``: a paste server runner serves the pipeline."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.functional.ciweb_process import LISTENING, ROOT, ServerProcess

SERVE = (
    "import sys\n"
    "from paste.deploy import loadapp, loadserver\n"
    "ini = 'config:' + sys.argv[1]\n"
    "conf = {'config_file': sys.argv[2]}\n"
    "loadserver(ini, global_conf=conf)(loadapp(ini, global_conf=conf))\n"
)


def test_a_paste_server_section_serves_the_shipped_pipeline(
    ciweb_conf: Path, tmp_path: Path
) -> None:
    ini = (ROOT / "etc/api-paste.ini").read_text()
    ini = ini.replace(
        "[server:main]\nuse = egg:ciweb#main\nhost = 127.0.0.1\nport = 9000\n",
        "[server:main]\nuse = egg:ciweb#main\nhost = 127.0.0.1\nport = 0\nmax_header_fields = 50\n",
    )
    assert "port = 0" in ini
    paste = tmp_path / "paste.ini"
    paste.write_text(ini)
    argv = [sys.executable, "-c", SERVE, str(paste), str(ciweb_conf)]
    with ServerProcess(argv) as server:
        url = server.wait_for(LISTENING).group(1)
        with urllib.request.urlopen(f"{url}/api/info", timeout=10) as res:
            assert res.status == 200
            assert res.headers["X-Request-Id"].startswith("req-")
            assert "capabilities" in json.load(res)["info"]
        # A [server] option given as a key of the section applies: 50 fields are refused.
        request = urllib.request.Request(
            f"{url}/api/info", headers={f"X-F{i}": "v" for i in range(50)}
        )
        try:
            urllib.request.urlopen(request, timeout=10)
        except urllib.error.HTTPError as err:
            assert err.code == 431
        else:
            raise AssertionError("50 header fields must be refused")


def test_an_unknown_key_in_the_server_section_is_an_error_naming_it(
    ciweb_conf: Path, tmp_path: Path
) -> None:
    ini = (ROOT / "etc/api-paste.ini").read_text()
    paste = tmp_path / "paste.ini"
    paste.write_text(ini.replace("port = 9000\n", "port = 0\nbind_prot = 8080\n"))
    done = subprocess.run([sys.executable, "-c", SERVE, str(paste), str(ciweb_conf)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)  # fmt: skip
    assert done.returncode != 0
    assert "unknown option(s): bind_prot" in done.stderr
