"""Install the Zuul dashboard: download the pinned zuul wheel and unpack its static files.

The dashboard is Zuul's own build (Apache-2.0), taken from the ``zuul`` wheel on the package
index at install time and never committed (reference/zuul-api.md §5).  pip downloads it, so
the index's hash is checked and pip's configuration (proxies, mirrors) applies.  The files of
``zuul/web/static/`` are unpacked into a temporary directory next to ``static_path`` and
then renamed into place, so a server never sees half a release; a ``VERSION`` file records
the release, which makes a second install of the same version a no-op.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from oslo_config import cfg

LOG = logging.getLogger(__name__)

__all__ = ["DashboardError", "cli", "install", "installed_version"]

DEFAULT_VERSION = "14.3.0"
PREFIX = "zuul/web/static/"
MARKER = "VERSION"


class DashboardError(RuntimeError):
    """The dashboard could not be downloaded or unpacked; the message says why."""


def installed_version(static_path: str) -> str | None:
    """Return the Zuul release installed in *static_path*, or None.

    :param static_path: the dashboard directory.
    """
    try:
        with open(os.path.join(static_path, MARKER), encoding="utf-8") as handle:
            version = handle.read().strip()
    except OSError:
        return None
    return version if os.path.isfile(os.path.join(static_path, "index.html")) else None


def install(
    static_path: str,
    version: str = DEFAULT_VERSION,
    *,
    index_url: str | None = None,
    download_dir: str | None = None,
    force: bool = False,
) -> bool:
    """Install the dashboard of Zuul *version* into *static_path*; return False if it was there.

    :param static_path: the directory to fill (replaced whole, atomically per rename).
    :param version: the Zuul release, e.g. ``"14.3.0"``.
    :param index_url: the package index (pip ``--index-url``); None uses pip's configuration.
    :param download_dir: keep the wheel here and reuse it on the next install; None uses a
        temporary directory.
    :param force: reinstall even when the same version is installed.
    :raises DashboardError: when the download fails or the wheel holds no dashboard.
    """
    static_path = os.path.abspath(static_path)
    if not force and installed_version(static_path) == version:
        LOG.info("Zuul %s dashboard already installed in %s", version, static_path)
        return False
    if download_dir is not None:
        os.makedirs(download_dir, exist_ok=True)
        wheel = _find_wheel(download_dir, version) or _download(version, download_dir, index_url)
        _unpack_into(wheel, static_path, version)
    else:
        with tempfile.TemporaryDirectory(prefix="ciweb-zuul-") as tmp:
            _unpack_into(_download(version, tmp, index_url), static_path, version)
    LOG.info("Zuul %s dashboard installed in %s", version, static_path)
    return True


def _find_wheel(directory: str, version: str) -> str | None:
    found = sorted(glob.glob(os.path.join(glob.escape(directory), f"zuul-{version}-*.whl")))
    return found[0] if found else None


def _download(version: str, directory: str, index_url: str | None) -> str:
    """Download the zuul wheel with pip (which checks the index's hashes); return its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--disable-pip-version-check", "--no-input", "-d", directory]
    if index_url:
        command += ["--index-url", index_url]
    command.append(f"zuul=={version}")
    LOG.info("downloading zuul %s", version)
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            command, capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DashboardError(f"cannot run pip to download zuul {version}: {exc}") from None
    wheel = _find_wheel(directory, version)
    if done.returncode != 0 or wheel is None:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise DashboardError(
            f"cannot download zuul {version} from the package index: " + " / ".join(tail)
        )
    return wheel


def _unpack_into(wheel: str, static_path: str, version: str) -> None:
    """Unpack the wheel's dashboard next to *static_path*, then rename it into place."""
    parent = os.path.dirname(static_path)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".dashboard-new-", dir=parent)
    try:
        count = _extract(wheel, staging)
        if not os.path.isfile(os.path.join(staging, "index.html")):
            raise DashboardError(f"{os.path.basename(wheel)} holds no {PREFIX}index.html")
        with open(os.path.join(staging, MARKER), "w", encoding="utf-8") as handle:
            handle.write(version + "\n")
        # mkdtemp made it 0700; the server may run as another user than the installer.
        os.chmod(staging, 0o755)  # noqa: S103
        _swap(staging, static_path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    LOG.info("unpacked %s files of %s", count, os.path.basename(wheel))


def _extract(wheel: str, target: str) -> int:
    """Extract the members under ``zuul/web/static/`` into *target*; return how many."""
    count = 0
    try:
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.infolist():
                if not member.filename.startswith(PREFIX) or member.is_dir():
                    continue
                relative = member.filename[len(PREFIX) :]
                parts = relative.split("/")
                # A member must not climb out of the target ("zip slip").
                if not relative or any(p in ("", ".", "..") or "\\" in p for p in parts):
                    raise DashboardError(f"unsafe member {member.filename!r} in {wheel}")
                destination = os.path.join(target, *parts)
                os.makedirs(os.path.dirname(destination), exist_ok=True)
                with archive.open(member) as source, open(destination, "wb") as out:
                    shutil.copyfileobj(source, out)
                count += 1
    except zipfile.BadZipFile as exc:
        raise DashboardError(f"{wheel}: {exc}") from None
    return count


def _swap(staging: str, static_path: str) -> None:
    """Put *staging* at *static_path*: one rename when it is new, two when it replaces."""
    if not os.path.lexists(static_path):
        os.rename(staging, static_path)
        return
    old = tempfile.mkdtemp(prefix=".dashboard-old-", dir=os.path.dirname(static_path))
    os.rmdir(old)
    os.rename(static_path, old)
    os.rename(staging, static_path)
    shutil.rmtree(old, ignore_errors=True)


def cli(argv: Sequence[str], conf: cfg.ConfigOpts | None = None, out: TextIO | None = None) -> int:
    """Run ``dashboard install [--static-path P] [--version V] [--index-url U] [--force]``.

    Defaults come from ``[dashboard]`` of *conf* when given. Return the exit status.

    :param argv: the arguments after ``dashboard``.
    :param conf: parsed ciweb options, or None for the built-in defaults.
    :param out: where the one-line result is written (``sys.stdout`` when None).
    """
    section = conf.dashboard if conf is not None else None
    parser = argparse.ArgumentParser(prog="ciweb-manage dashboard")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("install", help="download and unpack the Zuul dashboard")
    run.add_argument(
        "--static-path",
        default=section.static_path if section else "/var/lib/ciweb/dashboard",
        help="directory to install into ([dashboard] static_path)",
    )
    run.add_argument(
        "--version",
        default=section.version if section else DEFAULT_VERSION,
        help="Zuul release ([dashboard] version)",
    )
    run.add_argument(
        "--index-url",
        default=(section.index_url or None) if section else None,
        help="package index ([dashboard] index_url)",
    )
    run.add_argument("--download-dir", default=None, help="keep and reuse the wheel here")
    run.add_argument("--force", action="store_true", help="reinstall the same version")
    args = parser.parse_args(list(argv))
    try:
        done = install(
            args.static_path,
            args.version,
            index_url=args.index_url,
            download_dir=args.download_dir,
            force=args.force,
        )
    except (DashboardError, OSError) as exc:
        LOG.error("dashboard install failed: %s", exc)
        return 1
    # The operator's answer, whatever the log level (ciweb-manage logs warnings only).
    if done:
        line = f"installed zuul dashboard {args.version} into {args.static_path}\n"
    else:
        line = f"zuul dashboard {args.version} already installed in {args.static_path}\n"
    (out or sys.stdout).write(line)
    return 0
