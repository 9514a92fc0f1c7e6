"""Tests of the bus plugins: SimplePlugin, SignalHandler (in a real child process) and PIDFile."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ciweb.process.bus import Bus, ChannelFailures, State
from ciweb.process.plugins import PIDFile, PIDFileError, SignalHandler, SimplePlugin

DEADLINE = 20.0


@pytest.fixture
def bus() -> Bus:
    return Bus()


# -- SimplePlugin ----------------------------------------------------------------------------


class _Recorder(SimplePlugin):
    priorities = {"stop": 5}

    def __init__(self, bus: Bus, calls: list[str]) -> None:
        super().__init__(bus)
        self.calls = calls

    def start(self) -> None:
        self.calls.append("plugin start")

    def stop(self) -> None:
        self.calls.append("plugin stop")


def test_a_simple_plugin_subscribes_its_methods_named_after_channels(bus: Bus) -> None:
    calls: list[str] = []
    plugin = _Recorder(bus, calls)
    bus.subscribe("stop", lambda: calls.append("other stop"), priority=10)

    plugin.subscribe()
    bus.start()
    bus.stop()

    assert calls == ["plugin start", "plugin stop", "other stop"]
    assert bus.listeners("graceful") == []


def test_an_unsubscribed_simple_plugin_hears_nothing(bus: Bus) -> None:
    calls: list[str] = []
    plugin = _Recorder(bus, calls)
    plugin.subscribe()
    plugin.unsubscribe()

    bus.start()
    bus.stop()

    assert calls == []


# -- SignalHandler in process ----------------------------------------------------------------


def test_signal_handler_installs_on_subscribe_and_restores_on_unsubscribe(bus: Bus) -> None:
    before = signal.getsignal(signal.SIGUSR2)
    handler = SignalHandler(bus, {"SIGUSR2": lambda: None})

    handler.subscribe()
    try:
        assert signal.getsignal(signal.SIGUSR2) == handler._on_signal
    finally:
        handler.unsubscribe()

    assert signal.getsignal(signal.SIGUSR2) == before


def test_a_signal_action_runs_in_the_main_thread_loop_not_in_the_handler(bus: Bus) -> None:
    before = signal.getsignal(signal.SIGUSR2)
    ran: list[int] = []
    handler = SignalHandler(bus, {signal.SIGUSR2: lambda: ran.append(threading.get_ident())})
    handler.subscribe()
    bus.start()

    signal.raise_signal(signal.SIGUSR2)
    assert ran == []  # only queued so far
    bus.call_in_main_thread(bus.exit)
    bus.block(interval=0.01)

    assert ran == [threading.main_thread().ident]
    # The bus exited in the main thread: the previous handler is back.
    assert signal.getsignal(signal.SIGUSR2) == before


def test_signal_handler_refuses_unknown_signals_and_actions(bus: Bus) -> None:
    with pytest.raises(ValueError, match="unknown signal 'SIGNOPE'"):
        SignalHandler(bus, {"SIGNOPE": lambda: None})
    with pytest.raises(ValueError, match="not callable"):
        SignalHandler(bus, {"HUP": "graceful"})  # type: ignore[dict-item]


def test_signal_handler_must_be_subscribed_in_the_main_thread(bus: Bus) -> None:
    handler = SignalHandler(bus, {"SIGUSR2": lambda: None})
    errors: list[BaseException] = []

    def subscribe() -> None:
        try:
            handler.subscribe()
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=subscribe)
    thread.start()
    thread.join(DEADLINE)

    assert len(errors) == 1
    assert "main thread" in str(errors[0])


def test_the_default_signal_map_covers_the_documented_signals(bus: Bus) -> None:
    handler = SignalHandler(bus)
    assert set(handler.handlers) == {
        signal.SIGTERM,
        signal.SIGINT,
        signal.SIGHUP,
        signal.SIGUSR1,
        signal.SIGTTIN,
        signal.SIGTTOU,
    }
    assert handler.handlers[signal.SIGTERM] == bus.exit
    assert handler.handlers[signal.SIGHUP] == bus.graceful


# -- SignalHandler in a real child process ---------------------------------------------------

CHILD = """
import functools, sys, time
from ciweb.process.bus import Bus
from ciweb.process.plugins import SignalHandler

record = sys.argv[1]
stall_on_exit = sys.argv[2] == "stall"

def note(event):
    with open(record, "a") as f:
        f.write(event + "\\n")

bus = Bus()
SignalHandler(bus).subscribe()
for channel in ("graceful", "reopen_logs", "add_worker", "remove_worker", "stop", "exit"):
    bus.subscribe(channel, functools.partial(note, channel))
if stall_on_exit:
    # Stands for a service that never finishes draining.
    bus.subscribe("exit", lambda: time.sleep(120), priority=60)
bus.start()
note("ready")
bus.block(interval=0.02)
note("block returned")
"""


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _wait_for_line(path: Path, line: str, proc: subprocess.Popen[bytes]) -> list[str]:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        lines = _lines(path)
        if line in lines:
            return lines
        if proc.poll() is not None and line not in _lines(path):
            pytest.fail(f"child exited ({proc.returncode}) before {line!r}: {lines}")
        time.sleep(0.01)
    pytest.fail(f"no {line!r} within {DEADLINE}s: {_lines(path)}")


@pytest.fixture
def record(tmp_path: Path) -> Path:
    return tmp_path / "record.txt"


def _spawn(tmp_path: Path, record: Path, mode: str = "normal") -> Iterator[subprocess.Popen[bytes]]:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(record), mode],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_line(record, "ready", proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(DEADLINE)
        if proc.stderr:
            proc.stderr.close()


@pytest.fixture
def child(tmp_path: Path, record: Path) -> Iterator[subprocess.Popen[bytes]]:
    yield from _spawn(tmp_path, record)


@pytest.fixture
def stalling_child(tmp_path: Path, record: Path) -> Iterator[subprocess.Popen[bytes]]:
    yield from _spawn(tmp_path, record, "stall")


def test_sighup_sigusr1_sigttin_and_sigttou_publish_without_exiting(
    child: subprocess.Popen[bytes], record: Path
) -> None:
    for sig, event in [
        (signal.SIGHUP, "graceful"),
        (signal.SIGUSR1, "reopen_logs"),
        (signal.SIGTTIN, "add_worker"),
        (signal.SIGTTOU, "remove_worker"),
    ]:
        child.send_signal(sig)
        _wait_for_line(record, event, child)

    assert child.poll() is None
    assert _lines(record) == ["ready", "graceful", "reopen_logs", "add_worker", "remove_worker"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_stop_and_exit_the_bus_and_block_returns(
    child: subprocess.Popen[bytes], record: Path, sig: signal.Signals
) -> None:
    child.send_signal(sig)

    lines = _wait_for_line(record, "block returned", child)
    assert child.wait(DEADLINE) == 0
    assert lines == ["ready", "stop", "exit", "block returned"]


def test_a_second_sigterm_while_exiting_forces_the_process_out(
    stalling_child: subprocess.Popen[bytes], record: Path
) -> None:
    stalling_child.send_signal(signal.SIGTERM)
    _wait_for_line(record, "exit", stalling_child)

    stalling_child.send_signal(signal.SIGTERM)

    assert stalling_child.wait(DEADLINE) == -signal.SIGTERM
    assert "block returned" not in _lines(record)


# -- PIDFile ---------------------------------------------------------------------------------


@pytest.fixture
def pidfile(tmp_path: Path) -> Path:
    return tmp_path / "ciweb.pid"


@pytest.fixture
def live_pid() -> Iterator[int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        yield proc.pid
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(DEADLINE)


@pytest.fixture
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(DEADLINE)  # reaped: the pid names no process any more
    return proc.pid


def test_pid_file_is_written_on_start_and_removed_on_exit(bus: Bus, pidfile: Path) -> None:
    PIDFile(bus, pidfile).subscribe()

    bus.start()
    assert pidfile.read_text() == f"{os.getpid()}\n"
    assert oct(pidfile.stat().st_mode & 0o777) == oct(0o644)

    bus.exit()
    assert not pidfile.exists()
    assert list(pidfile.parent.iterdir()) == []  # no temporary file left behind


def test_pid_file_refuses_to_start_while_a_live_process_holds_it(
    bus: Bus, pidfile: Path, live_pid: int
) -> None:
    pidfile.write_text(f"{live_pid}\n")
    PIDFile(bus, pidfile).subscribe()

    with pytest.raises(ChannelFailures) as info:
        bus.start()

    (error,) = info.value.exceptions
    assert isinstance(error, PIDFileError)
    assert str(pidfile) in str(error)
    assert str(live_pid) in str(error)
    assert bus.state is State.EXITING
    assert pidfile.read_text() == f"{live_pid}\n"  # exit left the other process's file alone
    assert list(pidfile.parent.iterdir()) == [pidfile]


def test_a_stale_pid_file_of_a_dead_process_is_replaced_with_a_warning(
    bus: Bus, pidfile: Path, dead_pid: int, caplog: pytest.LogCaptureFixture
) -> None:
    pidfile.write_text(f"{dead_pid}\n")
    PIDFile(bus, pidfile).subscribe()

    with caplog.at_level(logging.WARNING):
        bus.start()

    assert pidfile.read_text() == f"{os.getpid()}\n"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("stale" in m and str(dead_pid) in m for m in warnings)


@pytest.mark.parametrize("content", ["", "not a pid\n", "0\n", "-1\n"])
def test_a_pid_file_without_a_valid_pid_is_replaced(bus: Bus, pidfile: Path, content: str) -> None:
    pidfile.write_text(content)
    PIDFile(bus, pidfile).subscribe()

    bus.start()

    assert pidfile.read_text() == f"{os.getpid()}\n"


def test_exit_leaves_a_pid_file_that_another_process_took_over(
    bus: Bus, pidfile: Path, live_pid: int
) -> None:
    PIDFile(bus, pidfile).subscribe()
    bus.start()
    pidfile.write_text(f"{live_pid}\n")

    bus.exit()

    assert pidfile.read_text() == f"{live_pid}\n"


def test_pid_file_refuses_an_empty_path(bus: Bus) -> None:
    with pytest.raises(ValueError, match="path"):
        PIDFile(bus, "")
