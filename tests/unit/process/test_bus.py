"""Tests of the process bus: states, listener order, failures, waiting, blocking, restart."""

from __future__ import annotations

import functools
import logging
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ciweb.process.bus import Bus, ChannelFailures, State


@pytest.fixture
def bus() -> Bus:
    return Bus()


def _recorder(calls: list[Any], name: Any, result: Any = None) -> Any:
    def listener(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return result

    return listener


def test_start_then_stop_walks_the_states_in_order(bus: Bus) -> None:
    seen: list[tuple[str, State]] = []
    bus.subscribe("start", lambda: seen.append(("start", bus.state)))
    bus.subscribe("stop", lambda: seen.append(("stop", bus.state)))
    messages: list[str] = []
    bus.subscribe("log", lambda msg, level: messages.append(msg))

    assert bus.state is State.STOPPED
    bus.start()
    assert bus.state is State.STARTED
    bus.stop()
    assert bus.state is State.STOPPED

    assert seen == [("start", State.STARTING), ("stop", State.STOPPING)]
    assert [m for m in messages if m.startswith("Bus ")] == [
        "Bus STARTING",
        "Bus STARTED",
        "Bus STOPPING",
        "Bus STOPPED",
    ]


def test_exit_stops_then_enters_exiting_and_publishes_exit_once(bus: Bus) -> None:
    seen: list[tuple[str, State]] = []
    bus.subscribe("stop", lambda: seen.append(("stop", bus.state)))
    bus.subscribe("exit", lambda: seen.append(("exit", bus.state)))
    bus.start()

    bus.exit()
    bus.exit()

    assert seen == [("stop", State.STOPPING), ("exit", State.EXITING)]
    assert bus.state is State.EXITING


def test_an_exited_bus_refuses_to_start_again(bus: Bus) -> None:
    bus.exit()
    with pytest.raises(RuntimeError, match="exited"):
        bus.start()


def test_listeners_run_by_priority_with_ties_in_subscription_order(bus: Bus) -> None:
    calls: list[str] = []
    bus.subscribe("custom", _recorder(calls, "late"), priority=90)
    bus.subscribe("custom", _recorder(calls, "first-50"))
    bus.subscribe("custom", _recorder(calls, "early"), priority=10)
    bus.subscribe("custom", _recorder(calls, "second-50"), priority=50)

    bus.publish("custom")

    assert calls == ["early", "first-50", "second-50", "late"]


def test_a_listener_priority_attribute_is_the_default_priority(bus: Bus) -> None:
    calls: list[str] = []
    early = _recorder(calls, "early")
    early.priority = 5
    bus.subscribe("start", _recorder(calls, "default"))
    bus.subscribe("start", early)

    bus.publish("start")

    assert calls == ["early", "default"]


def test_publish_passes_arguments_and_returns_results_in_call_order(bus: Bus) -> None:
    bus.subscribe("sum", lambda a, b=0: a + b, priority=20)
    bus.subscribe("sum", lambda a, b=0: a * b, priority=10)

    assert bus.publish("sum", 3, b=4) == [12, 7]
    assert bus.publish("nobody-listens") == []


def test_subscribing_again_changes_the_priority_without_calling_twice(bus: Bus) -> None:
    calls: list[str] = []
    a, b = _recorder(calls, "a"), _recorder(calls, "b")
    bus.subscribe("custom", a)
    bus.subscribe("custom", b)
    bus.subscribe("custom", a, priority=60)

    bus.publish("custom")

    assert calls == ["b", "a"]


def test_unsubscribed_listeners_are_not_called(bus: Bus) -> None:
    calls: list[str] = []
    a = _recorder(calls, "a")
    bus.subscribe("custom", a)
    bus.unsubscribe("custom", a)
    bus.unsubscribe("custom", a)  # absent: no error
    bus.unsubscribe("never-used", a)

    bus.publish("custom")

    assert calls == []
    assert bus.listeners("custom") == []


def test_a_failing_listener_is_logged_the_others_run_and_channel_failures_follows(
    bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []
    boom = ValueError("boom")
    bang = KeyError("bang")

    def fail(exc: Exception) -> None:
        calls.append(f"fail {exc!r}")
        raise exc

    bus.subscribe("custom", functools.partial(fail, boom), priority=10)
    bus.subscribe("custom", _recorder(calls, "after"), priority=20)
    bus.subscribe("custom", functools.partial(fail, bang), priority=30)
    bus.subscribe("custom", _recorder(calls, "last"), priority=40)

    with caplog.at_level(logging.ERROR), pytest.raises(ChannelFailures) as info:
        bus.publish("custom")

    assert calls == [f"fail {boom!r}", "after", f"fail {bang!r}", "last"]
    assert info.value.exceptions == [boom, bang]
    assert info.value.channel == "custom"
    assert "2 listener(s) of channel 'custom' failed" in str(info.value)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert [r.exc_info[1] if r.exc_info else None for r in errors] == [boom, bang]
    assert "Error in 'custom' listener" in errors[0].getMessage()


def test_a_failing_log_listener_does_not_recurse_and_log_still_returns(
    bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(msg: str, level: int) -> None:
        raise RuntimeError("log sink down")

    bus.subscribe("log", broken)
    with caplog.at_level(logging.INFO):
        bus.log("hello")

    assert caplog.records[0].getMessage() == "hello"
    assert any("Error in 'log' listener" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("exc_type", [SystemExit, KeyboardInterrupt])
def test_system_exit_and_keyboard_interrupt_stop_a_publish_at_once(
    bus: Bus, exc_type: type[BaseException]
) -> None:
    calls: list[str] = []

    def stop_now() -> None:
        raise exc_type()

    bus.subscribe("custom", stop_now, priority=10)
    bus.subscribe("custom", _recorder(calls, "never"), priority=20)

    with pytest.raises(exc_type):
        bus.publish("custom")
    assert calls == []


def test_system_exit_after_failed_listeners_reports_a_failure_code(bus: Bus) -> None:
    def fail() -> None:
        raise ValueError("first")

    def leave() -> None:
        raise SystemExit(0)

    bus.subscribe("custom", fail, priority=10)
    bus.subscribe("custom", leave, priority=20)

    with pytest.raises(SystemExit) as info:
        bus.publish("custom")
    assert info.value.code == 1


def test_a_failing_start_listener_exits_the_bus_and_reraises(bus: Bus) -> None:
    calls: list[str] = []

    def fail() -> None:
        raise OSError("address in use")

    bus.subscribe("start", _recorder(calls, "start ok"), priority=10)
    bus.subscribe("start", fail, priority=20)
    bus.subscribe("stop", _recorder(calls, "stop"))
    bus.subscribe("exit", _recorder(calls, "exit"))

    with pytest.raises(ChannelFailures) as info:
        bus.start()

    assert isinstance(info.value.exceptions[0], OSError)
    assert calls == ["start ok", "stop", "exit"]
    assert bus.state is State.EXITING


def test_exit_reaches_exiting_even_when_stop_and_exit_listeners_fail(bus: Bus) -> None:
    def fail() -> None:
        raise RuntimeError("cannot stop")

    calls: list[str] = []
    bus.subscribe("stop", fail)
    bus.subscribe("exit", fail, priority=10)
    bus.subscribe("exit", _recorder(calls, "exit"), priority=20)
    bus.start()

    bus.exit()

    assert bus.state is State.EXITING
    assert calls == ["exit"]


def test_stop_reaches_stopped_and_then_raises_listener_failures(bus: Bus) -> None:
    def fail() -> None:
        raise RuntimeError("cannot stop")

    bus.subscribe("stop", fail)
    bus.start()
    with pytest.raises(ChannelFailures):
        bus.stop()
    assert bus.state is State.STOPPED


def test_graceful_publishes_graceful_and_keeps_the_state(bus: Bus) -> None:
    calls: list[str] = []
    bus.subscribe("graceful", _recorder(calls, "reload"))
    bus.start()

    bus.graceful()

    assert calls == ["reload"]
    assert bus.state is State.STARTED


def test_log_publishes_on_the_log_channel_and_logs_to_the_module_logger(
    bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    published: list[tuple[str, int]] = []
    bus.subscribe("log", lambda msg, level: published.append((msg, level)))

    with caplog.at_level(logging.INFO, logger="ciweb.process.bus"):
        bus.log("disk full", level=logging.WARNING)
        try:
            raise ValueError("with traceback")
        except ValueError:
            bus.log("oops", level=logging.ERROR, traceback=True)

    assert published[0] == ("disk full", logging.WARNING)
    assert published[1][0].startswith("oops\nTraceback")
    assert "ValueError: with traceback" in published[1][0]
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("ciweb.process.bus", logging.WARNING, "disk full"),
        ("ciweb.process.bus", logging.ERROR, "oops"),
    ]
    assert caplog.records[1].exc_info is not None


def test_wait_wakes_at_once_when_another_thread_changes_the_state(bus: Bus) -> None:
    def start_once_waited_on() -> None:
        # Change the state only once the main thread sleeps on the bus's condition.
        deadline = time.monotonic() + 10
        while not bus._cond._waiters and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.001)
        bus.start()

    starter = threading.Thread(target=start_once_waited_on)
    began = time.monotonic()
    starter.start()
    # An interval of 60 s: only the condition's notify can wake the waiter within 10 s.
    reached = bus.wait(State.STARTED, interval=60, timeout=10)
    elapsed = time.monotonic() - began
    starter.join(10)

    assert reached is True
    assert elapsed < 10
    assert bus.state is State.STARTED


def test_wait_accepts_several_states(bus: Bus) -> None:
    assert bus.wait([State.STARTED, State.STOPPED], timeout=1) is True


def test_wait_returns_false_at_its_timeout(bus: Bus) -> None:
    began = time.monotonic()
    assert bus.wait(State.STARTED, interval=0.01, timeout=0.05) is False
    assert time.monotonic() - began >= 0.05


def test_wait_publishes_its_channel_each_interval(bus: Bus) -> None:
    ticks: list[int] = []

    def tick() -> None:
        ticks.append(1)
        if len(ticks) == 3:
            bus.exit()

    bus.subscribe("tick", tick)
    assert bus.wait(State.EXITING, interval=0.01, channel="tick", timeout=10) is True
    assert len(ticks) == 3


def test_wait_refuses_a_non_positive_interval(bus: Bus) -> None:
    with pytest.raises(ValueError, match="interval"):
        bus.wait(State.STARTED, interval=0)


def test_start_with_callback_runs_the_callback_in_a_new_thread_once_started(bus: Bus) -> None:
    seen: list[tuple[State, int, tuple[Any, ...], dict[str, Any]]] = []

    def callback(*args: Any, **kwargs: Any) -> None:
        seen.append((bus.state, threading.get_ident(), args, kwargs))

    thread = bus.start_with_callback(callback, (1, 2), {"key": "value"})
    thread.join(10)

    assert not thread.is_alive()
    assert seen == [(State.STARTED, thread.ident, (1, 2), {"key": "value"})]
    assert thread.ident != threading.get_ident()


def test_start_with_callback_creates_no_thread_when_start_fails(bus: Bus) -> None:
    calls: list[str] = []

    def fail() -> None:
        raise RuntimeError("no start")

    bus.subscribe("start", fail)
    with pytest.raises(ChannelFailures):
        bus.start_with_callback(_recorder(calls, "callback"))
    assert calls == []


def test_block_returns_when_another_thread_exits_the_bus(bus: Bus) -> None:
    exited: list[str] = []
    bus.subscribe("exit", _recorder(exited, "exit"))
    bus.start()
    threading.Thread(target=bus.exit, name="exiter").start()

    bus.block(interval=0.01)

    assert bus.state is State.EXITING
    assert exited == ["exit"]
    assert not bus.restart_requested


def test_block_runs_calls_queued_for_the_main_thread(bus: Bus) -> None:
    ran: list[tuple[str, int]] = []

    def fail() -> None:
        raise RuntimeError("a queued call failed")

    bus.start()
    bus.call_in_main_thread(fail)
    bus.call_in_main_thread(lambda tag: ran.append((tag, threading.get_ident())), "queued")
    bus.call_in_main_thread(bus.exit)

    bus.block(interval=0.01)

    assert ran == [("queued", threading.main_thread().ident)]
    assert bus.state is State.EXITING


def test_restart_reexecutes_the_process_once_with_the_same_pid(tmp_path: Path) -> None:
    script = tmp_path / "restarting.py"
    runs = tmp_path / "runs.txt"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys, threading
            from ciweb.process.bus import Bus

            runs_file = sys.argv[1]
            with open(runs_file, "a") as f:
                f.write(f"{os.getpid()}\\n")
            with open(runs_file) as f:
                runs = len(f.read().split())
            bus = Bus()
            bus.start()
            if runs == 1:
                threading.Thread(target=bus.restart).start()
            else:
                bus.exit()
            bus.block(interval=0.01)
            sys.exit(0 if runs == 2 else 3)
            """
        )
    )

    done = subprocess.run(
        [sys.executable, str(script), str(runs)], capture_output=True, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr.decode()
    pids = runs.read_text().split()
    assert len(pids) == 2
    assert pids[0] == pids[1]  # execv replaced the process; nothing was spawned


def test_a_failing_main_listener_does_not_stop_wait_or_the_exit() -> None:
    # wspbus: a failure is logged, the bus carries on; block() must still see EXITING.
    bus = Bus()
    calls: list[str] = []

    def broken() -> None:
        calls.append("main")
        raise OSError("cannot spawn")

    bus.subscribe("main", broken)
    bus.subscribe("exit", lambda: calls.append("exit"))
    bus.start()
    assert bus.wait(State.EXITING, interval=0.01, channel="main", timeout=0.1) is False
    assert calls.count("main") >= 2
    bus.exit()
    assert calls[-1] == "exit"


def test_block_does_not_wait_for_a_thread_that_ran_before_the_bus() -> None:
    # A library's idle, non-daemon executor thread would otherwise hold the exit forever.
    release = threading.Event()
    older = threading.Thread(target=release.wait, name="older")
    older.start()
    try:
        bus = Bus()
        bus.start()
        bus.call_in_main_thread(bus.exit)
        bus.block(interval=0.01)
        assert bus.state is State.EXITING
    finally:
        release.set()
        older.join()
