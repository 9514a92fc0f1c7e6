"""Installing the dashboard from a zuul wheel: unpack, marker, idempotence, atomic swap, safety."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from ciweb.api import dashboard


def fake_wheel(directory: Path, version: str, files: dict[str, bytes]) -> Path:
    """Write a wheel-shaped zip named like zuul's holding *files*."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"zuul-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("zuul/__init__.py", "")
        for name, data in files.items():
            archive.writestr(name, data)
    return path


STATIC = {
    "zuul/web/static/index.html": b"<html>",
    "zuul/web/static/assets/index-abcdefgh.js": b"js",
}


def test_install_unpacks_the_static_files_and_records_the_version(tmp_path: Path) -> None:
    fake_wheel(tmp_path / "wheels", "14.3.0", STATIC)
    target = tmp_path / "state" / "dashboard"
    assert dashboard.install(str(target), "14.3.0", download_dir=str(tmp_path / "wheels"))
    assert (target / "index.html").read_bytes() == b"<html>"
    assert (target / "assets" / "index-abcdefgh.js").read_bytes() == b"js"
    assert not (target / "__init__.py").exists()
    assert dashboard.installed_version(str(target)) == "14.3.0"


def test_a_second_install_of_the_same_version_does_nothing(tmp_path: Path) -> None:
    fake_wheel(tmp_path / "wheels", "14.3.0", STATIC)
    target = tmp_path / "dashboard"
    dashboard.install(str(target), "14.3.0", download_dir=str(tmp_path / "wheels"))
    (target / "marker").write_text("kept")
    assert not dashboard.install(str(target), "14.3.0", download_dir=str(tmp_path / "wheels"))
    assert (target / "marker").read_text() == "kept"


def test_another_version_replaces_the_whole_directory_and_leaves_no_temporaries(
    tmp_path: Path,
) -> None:
    fake_wheel(tmp_path / "wheels", "14.3.0", STATIC)
    fake_wheel(tmp_path / "wheels", "14.4.0", {"zuul/web/static/index.html": b"<new>"})
    target = tmp_path / "dashboard"
    dashboard.install(str(target), "14.3.0", download_dir=str(tmp_path / "wheels"))
    dashboard.install(str(target), "14.4.0", download_dir=str(tmp_path / "wheels"))
    assert (target / "index.html").read_bytes() == b"<new>"
    assert not (target / "assets").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dashboard", "wheels"]


def test_a_wheel_without_a_dashboard_fails_and_keeps_the_installed_one(tmp_path: Path) -> None:
    fake_wheel(tmp_path / "wheels", "14.3.0", STATIC)
    fake_wheel(tmp_path / "wheels", "9.9.9", {"zuul/other.py": b""})
    target = tmp_path / "dashboard"
    dashboard.install(str(target), "14.3.0", download_dir=str(tmp_path / "wheels"))
    with pytest.raises(dashboard.DashboardError, match=r"no zuul/web/static/index\.html"):
        dashboard.install(str(target), "9.9.9", download_dir=str(tmp_path / "wheels"))
    assert dashboard.installed_version(str(target)) == "14.3.0"


def test_a_member_climbing_out_of_the_target_is_refused(tmp_path: Path) -> None:
    fake_wheel(tmp_path / "wheels", "1.0", {**STATIC, "zuul/web/static/../../evil": b"x"})
    with pytest.raises(dashboard.DashboardError, match="unsafe member"):
        dashboard.install(str(tmp_path / "d"), "1.0", download_dir=str(tmp_path / "wheels"))
    assert not (tmp_path / "evil").exists()


def test_the_cli_installs_into_the_given_path_and_returns_0(tmp_path: Path) -> None:
    fake_wheel(tmp_path / "wheels", "14.3.0", STATIC)
    argv = ["install", "--static-path", str(tmp_path / "d"), "--download-dir",
            str(tmp_path / "wheels")]  # fmt: skip
    assert dashboard.cli(argv, out=io.StringIO()) == 0
    assert dashboard.installed_version(str(tmp_path / "d")) == "14.3.0"


def test_the_cli_says_what_it_installed_and_what_was_already_there(tmp_path: Path) -> None:
    fake_wheel(tmp_path / "wheels", "14.3.0", STATIC)
    target = str(tmp_path / "d")
    argv = ["install", "--static-path", target, "--download-dir", str(tmp_path / "wheels")]
    first, second = io.StringIO(), io.StringIO()
    assert dashboard.cli(argv, out=first) == 0
    assert dashboard.cli(argv, out=second) == 0
    assert first.getvalue() == f"installed zuul dashboard 14.3.0 into {target}\n"
    assert second.getvalue() == f"zuul dashboard 14.3.0 already installed in {target}\n"


def test_an_unreachable_index_fails_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(dashboard.DashboardError, match=r"cannot download zuul 14\.3\.0"):
        dashboard.install(str(tmp_path / "d"), "14.3.0", index_url="http://127.0.0.1:9/simple")
