"""Start, freeze, resume and stop a real standalone ZooKeeper server for tests.

The Debian package ``zookeeper`` provides the jar (``apt-get install -y zookeeper``); it starts
no daemon.  :class:`ZooKeeperServer` writes a ``zoo.cfg`` in a temporary directory, runs
``QuorumPeerMain`` on 127.0.0.1 with a port picked at runtime, and waits for ``imok``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

JAR = Path("/usr/share/java/zookeeper.jar")
SLF4J_SIMPLE = Path("/usr/share/java/slf4j-simple.jar")
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"


def available() -> str | None:
    """Return why a ZooKeeper server cannot run here, or None when it can."""
    if not JAR.exists():
        return f"{JAR} is absent: apt-get install -y zookeeper"
    if shutil.which("java") is None:
        return "no java on PATH (the zookeeper package needs a JRE)"
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on *host* a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def four_letter_word(host: str, port: int, word: str, timeout: float = 1.0) -> str:
    """Send a ZooKeeper four-letter command and return the reply ('' on any error)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(word.encode("ascii"))
            chunks = []
            while chunk := sock.recv(4096):
                chunks.append(chunk)
    except OSError:
        return ""
    return b"".join(chunks).decode("ascii", "replace")


class ZooKeeperServer:
    """A standalone ZooKeeper on 127.0.0.1 in a temporary directory.

    :param tick_time: ZooKeeper tickTime in milliseconds.
    :param min_session_timeout: smallest session timeout granted, in milliseconds.
    :param max_session_timeout: largest session timeout granted, in milliseconds.
    :param port: client port; 0 picks a free one at the first start.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        tick_time: int = 500,
        min_session_timeout: int = 1000,
        max_session_timeout: int = 20000,
        port: int = 0,
    ) -> None:
        self.tick_time = tick_time
        self.min_session_timeout = min_session_timeout
        self.max_session_timeout = max_session_timeout
        self.port = port
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def hosts(self) -> str:
        """Return the kazoo connection string of this server."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Return the pid of the running server, or None."""
        return self._proc.pid if self._proc is not None else None

    def _write_config(self, confdir: Path) -> Path:
        data = confdir / "data"
        data.mkdir(exist_ok=True)
        config = confdir / "zoo.cfg"
        config.write_text(
            f"tickTime={self.tick_time}\n"
            f"dataDir={data}\n"
            f"clientPort={self.port}\n"
            f"clientPortAddress={self.host}\n"
            # Otherwise Jetty's admin server takes port 8080.
            "admin.enableServer=false\n"
            "4lw.commands.whitelist=ruok,srvr,mntr\n"
            f"minSessionTimeout={self.min_session_timeout}\n"
            f"maxSessionTimeout={self.max_session_timeout}\n"
        )
        return config

    def start(self, timeout: float = 30.0) -> None:
        """Start the server (keeping its port and data across restarts) and wait for imok."""
        if self._proc is not None:
            raise RuntimeError("ZooKeeper is already running")
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="ciweb-zk-")
        if not self.port:
            self.port = free_port(self.host)
        confdir = Path(self._dir.name)
        config = self._write_config(confdir)
        classpath = os.pathsep.join([str(confdir), str(JAR), str(SLF4J_SIMPLE)])
        log = (confdir / "zookeeper.log").open("ab")
        self._proc = subprocess.Popen(
            ["java", "-Xmx256m", "-cp", classpath, MAIN_CLASS, str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the server answers imok, or raise RuntimeError with its log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                break
            if four_letter_word(self.host, self.port, "ruok", 0.5) == "imok":
                return
            time.sleep(0.05)
        raise RuntimeError(f"ZooKeeper did not answer imok on {self.hosts}:\n{self.log()}")

    def log(self) -> str:
        """Return the tail of the server's log."""
        if self._dir is None:
            return ""
        path = Path(self._dir.name) / "zookeeper.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def freeze(self) -> None:
        """Stop the server process (SIGSTOP): connections stay open but get no answer."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Resume a frozen server (SIGCONT)."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after *timeout*); its data is kept."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)

    def restart_empty(self, timeout: float = 30.0) -> None:
        """Restart on the same port with no data: every session and node is forgotten."""
        self.stop()
        if self._dir is not None:
            shutil.rmtree(Path(self._dir.name) / "data", ignore_errors=True)
        self.start(timeout)

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> ZooKeeperServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
