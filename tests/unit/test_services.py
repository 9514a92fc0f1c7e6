"""In CI every test must run: a skip, in a test or while collecting, fails there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIPPING = """
import pytest
from tests.services import missing

def test_skipped():
    pytest.skip("no tool")

def test_missing():
    missing("the tool is missing", "install it")

def test_passing():
    pass
"""


def run(tmp_path: Path, source: str, ci: str | None) -> subprocess.CompletedProcess[str]:
    test = tmp_path / "test_sample.py"
    test.write_text(source)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-q", "-rA",
         "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly", str(test)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
    )  # fmt: skip


def test_in_ci_a_skipped_test_fails_and_says_why(tmp_path: Path) -> None:
    done = run(tmp_path, SKIPPING, "true")
    assert done.returncode == 1, done.stdout
    assert "2 failed, 1 passed" in done.stdout
    assert "skipped in CI, where every test must run: Skipped: no tool" in done.stdout
    assert "CI must run this test, but the tool is missing: install it" in done.stdout


@pytest.mark.parametrize("ci", [None, "false"])
def test_elsewhere_a_missing_tool_skips(tmp_path: Path, ci: str | None) -> None:
    done = run(tmp_path, SKIPPING, ci)
    assert done.returncode == 0, done.stdout
    assert "1 passed, 2 skipped" in done.stdout


def test_in_ci_a_module_skipped_while_collected_fails(tmp_path: Path) -> None:
    done = run(tmp_path, 'import pytest\npytest.importorskip("no_such_module")\n', "true")
    assert done.returncode != 0, done.stdout
    assert "skipped in CI, where every test must run" in done.stdout
