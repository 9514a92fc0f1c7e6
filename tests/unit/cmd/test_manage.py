"""Tests of ciweb-manage: each subcommand's effect, output and exit status."""

from __future__ import annotations

import io
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import jwt
import pytest
from alembic.script import ScriptDirectory
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ciweb.ci import queries
from ciweb.ci.engine import make_engine
from ciweb.ci.store import Store, alembic_config
from ciweb.cmd import manage

ROOT = Path(__file__).resolve().parents[3]
SECRET = "0123456789abcdef0123456789abcdef"
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def write_conf(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "ciweb.conf"
    path.write_text(
        f"[api]\npaste_config = {ROOT / 'etc' / 'api-paste.ini'}\n"
        f"[database]\nstate_dir = {tmp_path / 'state'}\n"
        "[auth]\nauthenticators = ci\n"
        f"[auth_ci]\nissuer_id = https://ci\nclient_id = ciweb\nsecret = {SECRET}\n" + extra
    )
    return path


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    return write_conf(tmp_path)


def run(conf: Path | None, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    argv = (["--config-file", str(conf)] if conf else []) + list(args)
    return manage.main(argv, out=out), out.getvalue()


def store_of(tmp_path: Path) -> Store:
    return Store(make_engine(f"sqlite:///{tmp_path / 'state' / 'ciweb.sqlite'}"))


def test_db_upgrade_migrates_and_db_current_reports_it(conf: Path) -> None:
    assert run(conf, "db", "current") == (1, f"current none head {HEAD}\n")
    assert run(conf, "db", "upgrade") == (0, f"database at revision {HEAD}\n")
    assert run(conf, "db", "current") == (0, f"current {HEAD} head {HEAD}\n")
    assert run(conf, "db", "upgrade")[0] == 0  # idempotent


def test_demo_needs_a_migrated_database(conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(conf, "demo")[0] == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ciweb-manage db upgrade" in err


def test_demo_loads_once(conf: Path, tmp_path: Path) -> None:
    run(conf, "db", "upgrade")
    status, out = run(conf, "demo")
    assert status == 0 and "buildsets added" in out and " 0 buildsets" not in out
    assert run(conf, "demo") == (0, "demo tenant example-tenant: 0 buildsets added\n")
    store = store_of(tmp_path)
    try:
        assert queries.tenant_exists(store, "example-tenant")
        assert len(queries.autoholds(store, "example-tenant")) == 1
    finally:
        store.engine.dispose()


def decode(token: str, key: object = SECRET, algorithm: str = "HS256") -> dict:
    return jwt.decode(token, key, algorithms=[algorithm], audience="ciweb")  # type: ignore[arg-type]


def test_token_mints_an_hs256_token_with_the_rights_asked(conf: Path) -> None:
    status, out = run(
        conf, "token", "--authenticator", "ci", "--sub", "zuul", "--report", "t1",
        "--report", "t2", "--admin", "*", "--read", "r", "--expires-in", "120",
    )  # fmt: skip
    assert status == 0
    claims = decode(out.strip())
    assert claims["iss"] == "https://ci" and claims["sub"] == "zuul"
    assert claims["ciweb"] == {"report": ["t1", "t2"], "admin": "*", "read": ["r"]}
    assert claims["exp"] - claims["iat"] == 120
    assert abs(claims["iat"] - time.time()) < 60


def test_token_signs_rs256_with_the_private_key(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = tmp_path / "public.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    private = tmp_path / "private.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    conf = write_conf(
        tmp_path,
        f"[auth_rs]\ndriver = RS256\nissuer_id = https://rs\nclient_id = ciweb\n"
        f"public_key = {public}\n",
    ).read_text()
    path = tmp_path / "rs.conf"
    path.write_text(conf.replace("authenticators = ci", "authenticators = ci, rs"))
    argv = ["token", "--authenticator", "rs", "--sub", "ops", "--admin", "t"]
    status, out = run(path, *argv, "--private-key", str(private))
    assert status == 0
    assert decode(out.strip(), key.public_key(), "RS256")["ciweb"] == {"admin": ["t"]}
    assert run(path, *argv)[0] == 2  # RS256 without --private-key
    assert run(path, *argv, "--private-key", str(tmp_path / "missing.pem"))[0] == 2
    assert run(path, *argv, "--private-key", str(public))[0] == 2  # not a private key
    other = tmp_path / "other.pem"
    other.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert run(path, *argv, "--private-key", str(other))[0] == 2  # another key pair


def test_token_for_an_unknown_authenticator_is_a_usage_error(
    conf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(conf, "token", "--authenticator", "nope", "--sub", "x")[0] == 2
    assert "--authenticator: 'nope'" in capsys.readouterr().err


def test_token_refuses_a_bad_lifetime(conf: Path) -> None:
    with pytest.raises(SystemExit) as info:
        run(conf, "token", "--authenticator", "ci", "--sub", "x", "--expires-in", "0")
    assert info.value.code == 2


def test_discover_exits_1_when_zookeeper_is_unreachable(
    conf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    status, out = run(conf, "discover", "/ciweb/servers", "--hosts", "127.0.0.1:1",
                      "--timeout", "0.5")  # fmt: skip
    assert status == 1 and out == ""
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert err.startswith("ciweb-manage: error: ZooKeeper 127.0.0.1:1")


def test_discover_needs_hosts(conf: Path) -> None:
    assert run(conf, "discover", "/ciweb/servers")[0] == 2


def test_discover_refuses_a_bad_path(conf: Path) -> None:
    assert run(conf, "discover", "no-slash", "--hosts", "127.0.0.1:1")[0] == 2


def test_config_check_loads_options_and_pipeline(conf: Path) -> None:
    run(conf, "db", "upgrade")
    assert run(conf, "config-check") == (0, "configuration OK\n")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[server]\nbind_port = 99999\n", "bind_port"),
        ("[auth_ci]\nmax_validity_time = -1\n", "max_validity_time"),
    ],
)
def test_config_check_names_a_bad_option_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, message: str
) -> None:
    text = write_conf(tmp_path).read_text() + extra
    path = tmp_path / "bad.conf"
    # A repeated section is merged by oslo.config: the later value wins.
    path.write_text(text)
    assert run(path, "config-check")[0] == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_config_check_refuses_an_unmigrated_database(
    conf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(conf, "config-check")[0] == 2
    assert "ciweb-manage db upgrade" in capsys.readouterr().err


def test_a_bad_database_connection_is_exit_2_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_conf(tmp_path, "[database]\nconnection = not a url\n")
    assert run(path, "db", "current")[0] == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[database] connection" in err


def test_a_missing_config_file_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path / "nope.conf", "db", "current")[0] == 2
    assert "nope.conf" in capsys.readouterr().err


def test_dashboard_install_says_where_it_installed_the_version_of_the_config(
    tmp_path: Path,
) -> None:
    wheels, target = tmp_path / "wheels", tmp_path / "dashboard"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "zuul-14.3.0-py3-none-any.whl", "w") as archive:
        archive.writestr("zuul/web/static/index.html", "<html>")
    path = write_conf(tmp_path, f"[dashboard]\nstatic_path = {target}\nversion = 14.3.0\n")
    argv = ("dashboard", "install", "--download-dir", str(wheels))
    assert run(path, *argv) == (0, f"installed zuul dashboard 14.3.0 into {target}\n")
    assert (target / "index.html").read_text() == "<html>"
    assert run(path, *argv) == (0, f"zuul dashboard 14.3.0 already installed in {target}\n")


def test_the_console_script_runs(conf: Path) -> None:
    script = Path(sys.executable).parent / "ciweb-manage"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "ciweb.cmd.manage"]
    done = subprocess.run(
        [*command, "--config-file", str(conf), "db", "current"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and done.stdout == f"current none head {HEAD}\n"
    usage = subprocess.run([*command], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "COMMAND" in usage.stderr
