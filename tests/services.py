"""Tools and services a test needs: skipped on a developer's machine without them, failed in CI.

``.ci/run`` exports ``CI=true``; there every test must run, so a missing browser, command or
server fails the test that needs it instead of letting it vanish as a skip
(``tests/conftest.py`` also turns any other skip into a failure in CI).
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["in_ci", "missing"]


def in_ci() -> bool:
    """Return True when the suite runs in CI (``CI`` set to anything but empty, 0 or false)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(what: str, remedy: str) -> NoReturn:
    """Fail (in CI) or skip (elsewhere) the current test because *what* is not available.

    :param what: the missing tool or service and why it is missing.
    :param remedy: how to install or start it.
    """
    if in_ci():
        pytest.fail(f"CI must run this test, but {what}: {remedy}", pytrace=False)
    pytest.skip(f"{what}: {remedy}")
