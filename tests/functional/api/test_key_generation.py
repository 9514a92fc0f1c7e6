"""A project's 4096-bit keys are made off the event loop: the worker keeps serving meanwhile."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from pathlib import Path

from tests.functional.api.test_zuul_client import SECRET, manage
from tests.functional.ciweb_process import LISTENING, ROOT, ciweb_api

TENANT = "example-tenant"


def _conf(directory: Path) -> Path:
    path = directory / "ciweb.conf"
    path.write_text(
        f"[api]\npaste_config = {ROOT / 'etc' / 'api-paste.ini'}\n"
        "[server]\nbind_port = 0\naccess_log = false\n"
        "[process]\nworkers = 1\n"
        f"[database]\nstate_dir = {directory / 'state'}\n"
        "[auth]\nauthenticators = ci\n"
        f"[auth_ci]\nissuer_id = https://ci.example.org\nclient_id = ciweb\nsecret = {SECRET}\n"
    )
    return path


def test_other_requests_are_served_while_a_new_projects_keys_are_generated(
    tmp_path: Path,
) -> None:
    conf = _conf(tmp_path)
    manage(conf, "db", "upgrade")
    manage(conf, "demo")
    token = manage(conf, "token", "--authenticator", "ci", "--sub", "ci",
                   "--report", TENANT, "--expires-in", "600")  # fmt: skip
    with ciweb_api(conf) as server:
        url = urllib.parse.urlsplit(server.wait_for(LISTENING, timeout=60).group(1))
        outcome: dict[str, object] = {}

        def put_project() -> None:
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
            body = json.dumps({"connection_name": "gerrit", "type": "untrusted"})
            conn.request(
                "PUT",
                f"/api/report/tenant/{TENANT}/projects/org/new-project",
                body=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            outcome["status"], outcome["body"] = response.status, response.read()
            conn.close()

        writer = threading.Thread(target=put_project)
        reader = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        served = 0
        writer.start()
        while writer.is_alive():
            reader.request("GET", f"/api/tenant/{TENANT}/info")
            response = reader.getresponse()
            response.read()
            assert response.status == 200
            served += 1
        writer.join()
        reader.request("GET", f"/api/tenant/{TENANT}/key/org/new-project.pub")
        key = reader.getresponse()
        pem = key.read()
    assert outcome["status"] == 200, outcome  # a PUT answers the project it recorded
    assert key.status == 200 and pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    # RSA-4096 takes from a few tenths of a second to seconds; a request to /info takes
    # about a millisecond.  Blocking the hub, the reader got a handful of answers, each
    # waiting out the whole key generation.
    assert served >= 50, f"{served} requests answered during key generation"
