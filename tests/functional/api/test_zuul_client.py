"""The real zuul-client CLI against a live ciweb-api serving the demo tenant.

Each command's exit status and output are checked against what zuul-client needs
(reference/zuul-api.md §4).  Every test runs twice: on SQLite in a temporary directory and
on a fresh database of the PostgreSQL cluster the test run starts (tests/conftest.py); or
only on the database named by CIWEB_TEST_DATABASE_URL (it is emptied) when that is set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.functional.ciweb_process import BIN, LISTENING, ROOT, ServerProcess, ciweb_api
from tests.services import missing

URL_VARIABLE = "CIWEB_TEST_DATABASE_URL"
TENANT = "example-tenant"
PROJECT = "example/project1"
SECRET = "0123456789abcdef0123456789abcdef"
ZUUL_CLIENT = BIN / "zuul-client"


@dataclass
class Deployment:
    """A running ciweb-api and the files that drive it."""

    url: str
    conf: Path
    directory: Path
    admin_token: str


def run(
    *argv: str | Path, stdin: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], input=stdin, capture_output=True, text=True, timeout=timeout,
        cwd=ROOT,
    )  # fmt: skip


def manage(conf: Path, *args: str) -> str:
    done = run(BIN / "ciweb-manage", "--config-file", conf, *args, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _empty_shared_database(url: str) -> None:
    from ciweb.ci.engine import make_engine
    from ciweb.ci.models import Base

    engine = make_engine(url)
    try:
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        engine.dispose()


def write_conf(directory: Path, paste_config: Path, connection: str) -> Path:
    path = directory / "ciweb.conf"
    path.write_text(
        f"[api]\npaste_config = {paste_config}\n"
        "[server]\nbind_port = 0\n"
        "[process]\nworkers = 1\n"
        f"[database]\nstate_dir = {directory / 'state'}\nconnection = {connection}\n"
        "[auth]\nauthenticators = ci\n"
        f"[auth_ci]\nissuer_id = https://ci.example.org\nclient_id = ciweb\nsecret = {SECRET}\n"
    )
    return path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def connection(request: pytest.FixtureRequest) -> str:
    """Return the ``[database] connection`` of the deployment ("" is SQLite)."""
    if os.environ.get(URL_VARIABLE):
        if request.param == "postgresql":
            pytest.skip(f"{URL_VARIABLE} names the only database to test")
        _empty_shared_database(os.environ[URL_VARIABLE])
        return os.environ[URL_VARIABLE]
    if request.param == "sqlite":
        return ""
    postgres = request.getfixturevalue("postgres")
    return str(postgres.create_database(f"zuul_client_{os.getpid()}"))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, connection: str) -> Iterator[Deployment]:
    if not ZUUL_CLIENT.exists():
        missing(f"{ZUUL_CLIENT} is missing", "pip install -e '.[test]' (zuul-client)")
    directory = tmp_path_factory.mktemp("ciweb")
    conf = write_conf(directory, ROOT / "etc" / "api-paste.ini", connection)
    manage(conf, "db", "upgrade")
    manage(conf, "demo")
    token = manage(conf, "token", "--authenticator", "ci", "--sub", "operator",
                   "--admin", TENANT, "--expires-in", "3600")  # fmt: skip
    with ciweb_api(conf) as server:
        url = server.wait_for(LISTENING, timeout=60).group(1)
        yield Deployment(url=url, conf=conf, directory=directory, admin_token=token)


def client_conf(d: Deployment, *, tenant: str | None = TENANT, token: str | None = None) -> Path:
    path = d.directory / f"client-{tenant}-{abs(hash(token))}.conf"
    lines = ["[ciweb]", f"url={d.url}", f"auth_token={token or d.admin_token}"]
    if tenant:
        lines.append(f"tenant={tenant}")
    path.write_text("\n".join(lines) + "\n")
    return path


def zuul_client(
    d: Deployment, *args: str, stdin: str = "", **conf: str | None
) -> subprocess.CompletedProcess[str]:
    config = client_conf(d, **conf)  # type: ignore[arg-type]
    return run(ZUUL_CLIENT, "-c", config, "--use-config", "ciweb", *args, stdin=stdin)


def builds_json(d: Deployment, *filters: str) -> list[dict]:
    done = zuul_client(d, "--format", "JSON", "builds", "--limit", "5000", *filters)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# -- read commands ------------------------------------------------------------------------


def test_builds_prints_a_table_of_the_tenants_builds(deployment: Deployment) -> None:
    done = zuul_client(deployment, "builds", "--project", PROJECT, "--job", "tox-py311")
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "ID" not in line]
    assert rows and all("tox-py311" in r and PROJECT in r for r in rows)


@pytest.mark.parametrize(
    ("filters", "check"),
    [
        (["--project", PROJECT], lambda b: b["ref"]["project"] == PROJECT),
        (["--job", "tox-linters"], lambda b: b["job_name"] == "tox-linters"),
        (["--result", "FAILURE"], lambda b: b["result"] == "FAILURE"),
        (["--voting"], lambda b: b["voting"] is True),
        (["--non-voting"], lambda b: b["voting"] is False),
    ],
)
def test_builds_filters_reach_the_server(deployment: Deployment, filters: list[str], check) -> None:
    everything = builds_json(deployment)
    assert len(everything) < 5000  # the whole history, so the counts below compare
    chosen = builds_json(deployment, *filters)
    assert chosen, f"no build matches {filters}"
    assert all(check(b) for b in chosen)
    assert len(chosen) == sum(1 for b in everything if check(b))


def test_build_info_shows_one_build(deployment: Deployment) -> None:
    build = builds_json(deployment, "--result", "SUCCESS")[0]
    done = zuul_client(deployment, "build-info", "--uuid", build["uuid"])
    assert done.returncode == 0, done.stderr
    assert f"UUID: {build['uuid']}" in done.stdout
    assert f"Job: {build['job_name']}" in done.stdout
    assert "Result: SUCCESS" in done.stdout


def test_encrypt_uses_the_projects_public_key(deployment: Deployment) -> None:
    if shutil.which("openssl") is None:
        missing("zuul-client encrypt runs the openssl command", "apt-get install -y openssl")
    done = zuul_client(deployment, "encrypt", "--project", PROJECT, "--secret-name", "s",
                       "--field-name", "password", stdin="hunter2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "name: s" in done.stdout
    assert "password: !encrypted/pkcs1-oaep" in done.stdout


def test_job_graph_prints_the_reported_graph_as_a_table_and_as_dot(deployment: Deployment) -> None:
    args = ["--pipeline", "check", "--project", PROJECT, "--branch", "stable/2024.1"]
    table = zuul_client(deployment, "job-graph", *args)
    assert table.returncode == 0, table.stderr
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip()
            for line in table.stdout.splitlines() if line.startswith("| ") and "Job" not in line}
    assert rows["tox-py311"] == "tox-linters"
    assert rows["tox-docs"] == "tox-linters (soft)"
    dot = zuul_client(deployment, "--format", "dot", "job-graph", *args)
    assert dot.returncode == 0, dot.stderr
    assert '"tox-linters" -> "tox-docs" [style=dashed dir=back];' in dot.stdout


def test_freeze_job_prints_the_frozen_job(deployment: Deployment) -> None:
    done = zuul_client(deployment, "freeze-job", "--pipeline", "gate", "--project", PROJECT,
                       "--branch", "master", "--job", "project1-integration")
    assert done.returncode == 0, done.stderr
    assert "Job: project1-integration" in done.stdout
    assert "Branch: master" in done.stdout and "Nodeset: two-node-noble" in done.stdout
    assert "gerrit:example/config:playbooks/base/pre.yaml@master [trusted]" in done.stdout
    missing = zuul_client(deployment, "freeze-job", "--pipeline", "gate", "--project", PROJECT,
                          "--branch", "feature/none", "--job", "tox-py311")
    assert missing.returncode == 1


def test_node_list_and_node_set_state(deployment: Deployment) -> None:
    listed = zuul_client(deployment, "--format", "JSON", "node-list")
    assert listed.returncode == 0, listed.stderr
    nodes = json.loads(listed.stdout)
    ready = next(n for n in nodes if n["state"] == "ready")
    table = zuul_client(deployment, "node-list")
    assert ready["uuid"] in table.stdout and "ubuntu-noble" in table.stdout
    done = zuul_client(deployment, "node-set-state", ready["uuid"], "hold")
    assert done.returncode == 0, done.stderr + done.stdout
    again = json.loads(zuul_client(deployment, "--format", "JSON", "node-list").stdout)
    assert next(n for n in again if n["uuid"] == ready["uuid"])["next_state"] == "hold"
    assert zuul_client(deployment, "node-set-state", "nope", "used").returncode == 1


def test_nodeset_requests_are_listed_and_deleted(deployment: Deployment) -> None:
    listed = zuul_client(deployment, "--format", "JSON", "nodeset-request-list")
    assert listed.returncode == 0, listed.stderr
    request = json.loads(listed.stdout)[0]
    table = zuul_client(deployment, "nodeset-request-list")
    assert request["uuid"] in table.stdout and request["job_name"] in table.stdout
    done = zuul_client(deployment, "nodeset-request-delete", request["uuid"])
    assert done.returncode == 0, done.stderr + done.stdout
    left = json.loads(zuul_client(deployment, "--format", "JSON", "nodeset-request-list").stdout)
    assert request["uuid"] not in {r["uuid"] for r in left}
    assert zuul_client(deployment, "nodeset-request-delete", request["uuid"]).returncode == 1


# -- admin commands -----------------------------------------------------------------------


def test_autohold_lifecycle(deployment: Deployment) -> None:
    done = zuul_client(deployment, "autohold", "--project", PROJECT, "--job", "tox-py312",
                       "--reason", "functional test", "--count", "2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = zuul_client(deployment, "--format", "JSON", "autohold-list")
    assert listed.returncode == 0, listed.stderr
    [hold] = [h for h in json.loads(listed.stdout) if h["reason"] == "functional test"]
    assert hold["job"] == "tox-py312" and hold["max_count"] == 2
    # Zuul's ids are zero-padded strings; both that form and the plain number are found.
    assert len(hold["id"]) == 10 and hold["id"].isdigit()
    for given in (hold["id"], str(int(hold["id"]))):
        info = zuul_client(deployment, "autohold-info", given)
        assert info.returncode == 0, info.stderr
        assert f"ID: {hold['id']}" in info.stdout
        assert "Reason: functional test" in info.stdout and "Max Count: 2" in info.stdout
    deleted = zuul_client(deployment, "autohold-delete", str(hold["id"]))
    assert deleted.returncode == 0, deleted.stderr
    again = zuul_client(deployment, "autohold-delete", str(hold["id"]))
    assert again.returncode == 1
    assert "Hold request" in again.stderr + again.stdout


@pytest.mark.parametrize(
    "command",
    [
        ["enqueue", "--project", PROJECT, "--pipeline", "check", "--change", "1001,1"],
        ["dequeue", "--project", PROJECT, "--pipeline", "check", "--change", "1001,1"],
        ["promote", "--pipeline", "gate", "--changes", "1001,1", "1002,3"],
        ["manage-events", "--reason", "maintenance", "pause-trigger"],
    ],
)
def test_admin_commands_succeed_and_are_recorded(
    deployment: Deployment, command: list[str]
) -> None:
    done = zuul_client(deployment, *command)
    assert done.returncode == 0, done.stderr
    reporter = manage(deployment.conf, "token", "--authenticator", "ci", "--sub", "backend",
                      "--report", TENANT)  # fmt: skip
    import requests

    events = requests.get(
        f"{deployment.url}/api/report/tenant/{TENANT}/events",
        headers={"Authorization": f"Bearer {reporter}"},
        timeout=10,
    ).json()
    kinds = {"manage-events": "tenant-state"}
    assert events[-1]["type"] == kinds.get(command[0], command[0])


def test_admin_commands_without_the_right_fail_with_the_servers_reason(
    deployment: Deployment,
) -> None:
    reader = manage(deployment.conf, "token", "--authenticator", "ci", "--sub", "reader",
                    "--read", TENANT)  # fmt: skip
    done = zuul_client(deployment, "promote", "--pipeline", "gate", "--changes", "1,1",
                       token=reader)  # fmt: skip
    assert done.returncode == 1
    assert "Forbidden: reader has no admin right" in done.stderr + done.stdout
    forged = zuul_client(deployment, "promote", "--pipeline", "gate", "--changes", "1,1",
                         token="e30.e30.e30")  # fmt: skip
    assert forged.returncode == 1
    assert "MissingClaimError" in forged.stderr + forged.stdout


# -- whitelabel -----------------------------------------------------------------------------


def test_a_whitelabel_deployment_needs_no_tenant(deployment: Deployment, tmp_path: Path) -> None:
    paste = (ROOT / "etc" / "api-paste.ini").read_text()
    assert "[app:ciweb]\nuse = egg:ciweb#main\n" in paste
    pinned = tmp_path / "api-paste.ini"
    pinned.write_text(
        paste.replace("[app:ciweb]\nuse = egg:ciweb#main\n",
                      f"[app:ciweb]\nuse = egg:ciweb#main\ntenant = {TENANT}\n")
    )  # fmt: skip
    conf = tmp_path / "ciweb.conf"
    conf.write_text(deployment.conf.read_text().replace(
        f"paste_config = {ROOT / 'etc' / 'api-paste.ini'}", f"paste_config = {pinned}"
    ))  # fmt: skip
    with ServerProcess([str(BIN / "ciweb-api"), "--config-file", str(conf)]) as server:
        url = server.wait_for(LISTENING, timeout=60).group(1)
        labelled = Deployment(url, conf, tmp_path, deployment.admin_token)
        done = zuul_client(labelled, "promote", "--pipeline", "gate", "--changes", "7,1",
                           tenant=None)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert '"POST /api/promote HTTP/1.1" 200' in server.output
