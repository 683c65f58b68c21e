"""The sd_notify protocol against a real AF_UNIX datagram socket, as systemd listens."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.process import systemd
from tests.harness.clock import FakeClock, SteppedSleep

# Watchdog period for the loop tests: 100 ms, so pings every 50 ms. The loop's sleeps
# are stepped by the tests (SteppedSleep); only a hanging check's cut-off and the
# blocked-loop test spend this much real time.
SHORT_WATCHDOG_USEC = 100_000
PING_INTERVAL = SHORT_WATCHDOG_USEC / 2 / 1_000_000


def _receiver(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    # systemd identifies the sender from SCM_CREDENTIALS; ask for them too.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.bind(address)
    sock.setblocking(False)
    return sock


def _drain(sock: socket.socket) -> list[str]:
    messages: list[str] = []
    while True:
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return messages
        messages.append(data.decode("utf-8"))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def path_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> Iterator[socket.socket]:
    path = tmp_path / "notify"
    sock = _receiver(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


@pytest.fixture
def abstract_socket(monkeypatch: pytest.MonkeyPatch, clean_env: None) -> Iterator[socket.socket]:
    name = f"ringotel-bridge-test-{uuid.uuid4().hex}"
    sock = _receiver("\0" + name)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    yield sock
    sock.close()


# --- notify and the message helpers ---------------------------------------------------------


@pytest.mark.usefixtures("clean_env")
def test_notify_without_notify_socket_returns_false() -> None:
    assert systemd.notify("READY=1") is False
    assert systemd.ready() is False
    assert systemd.watchdog_ping() is False


@pytest.mark.usefixtures("clean_env")
def test_notify_to_missing_socket_returns_false(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert systemd.notify("READY=1") is False


@pytest.mark.parametrize("value", ["relative/path", "@", "vsock:2:1234"])
@pytest.mark.usefixtures("clean_env")
def test_notify_with_unusable_address_returns_false(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", value)
    assert systemd.notify("READY=1") is False


def test_ready_sends_exactly_ready(path_socket: socket.socket) -> None:
    assert systemd.ready() is True
    assert _drain(path_socket) == ["READY=1"]


def test_ready_with_status(path_socket: socket.socket) -> None:
    assert systemd.ready("listening on 0.0.0.0:8443") is True
    assert _drain(path_socket) == ["READY=1\nSTATUS=listening on 0.0.0.0:8443"]


def test_status_stopping_and_watchdog_messages(path_socket: socket.socket) -> None:
    assert systemd.status("draining 3 requests") is True
    assert systemd.stopping() is True
    assert systemd.watchdog_ping() is True
    assert _drain(path_socket) == ["STATUS=draining 3 requests", "STOPPING=1", "WATCHDOG=1"]


def test_status_cannot_inject_further_assignments(path_socket: socket.socket) -> None:
    systemd.status("config error\nREADY=1")
    systemd.ready("bad\r\nSTOPPING=1")
    assert _drain(path_socket) == ["STATUS=config error READY=1", "READY=1\nSTATUS=bad STOPPING=1"]


def test_reloading_carries_monotonic_timestamp(path_socket: socket.socket) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert systemd.reloading() is True
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    [message] = _drain(path_socket)
    first, second = message.split("\n")
    assert first == "RELOADING=1"
    key, value = second.split("=")
    assert key == "MONOTONIC_USEC"
    assert value.isdigit()
    assert before <= int(value) <= after


def test_abstract_socket(abstract_socket: socket.socket) -> None:
    assert systemd.ready("up") is True
    assert systemd.stopping() is True
    assert _drain(abstract_socket) == ["READY=1\nSTATUS=up", "STOPPING=1"]


def test_sender_is_this_process(path_socket: socket.socket) -> None:
    """NotifyAccess=main accepts only datagrams whose credentials name the main PID."""
    systemd.ready()
    creds_size = struct.calcsize("3i")
    data, ancdata, _flags, _addr = path_socket.recvmsg(4096, socket.CMSG_SPACE(creds_size))
    assert data == b"READY=1"
    [(level, kind, payload)] = ancdata
    assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS)
    pid, uid, _gid = struct.unpack("3i", payload[:creds_size])
    assert pid == os.getpid()
    assert uid == os.getuid()


# --- watchdog_interval ------------------------------------------------------------------------


@pytest.mark.usefixtures("clean_env")
def test_no_watchdog_without_watchdog_usec() -> None:
    assert systemd.watchdog_interval() is None


@pytest.mark.usefixtures("clean_env")
def test_watchdog_interval_is_half_the_period(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert systemd.watchdog_interval() == 15.0


@pytest.mark.usefixtures("clean_env")
def test_watchdog_pid_of_this_process_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert systemd.watchdog_interval() == 1.0


@pytest.mark.usefixtures("clean_env")
def test_watchdog_pid_of_another_process_disables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getppid()))
    assert systemd.watchdog_interval() is None


@pytest.mark.parametrize(
    ("usec", "pid"),
    [("0", None), ("-5", None), ("abc", None), ("", None), ("2000000", "not-a-pid")],
)
@pytest.mark.usefixtures("clean_env")
def test_malformed_watchdog_variables_disable(
    usec: str, pid: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", usec)
    if pid is not None:
        monkeypatch.setenv("WATCHDOG_PID", pid)
    assert systemd.watchdog_interval() is None


# --- watchdog_loop ----------------------------------------------------------------------------


@pytest.fixture
def short_watchdog(path_socket: socket.socket, monkeypatch: pytest.MonkeyPatch) -> socket.socket:
    monkeypatch.setenv("WATCHDOG_USEC", str(SHORT_WATCHDOG_USEC))
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    return path_socket


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.usefixtures("clean_env")
async def test_watchdog_loop_returns_when_not_armed() -> None:
    calls: list[int] = []

    def healthy() -> bool:
        calls.append(1)
        return True

    await asyncio.wait_for(systemd.watchdog_loop(healthy), timeout=1)
    assert calls == []


async def test_watchdog_loop_pings_only_while_healthy(short_watchdog: socket.socket) -> None:
    is_healthy = True
    sleep = SteppedSleep()
    task = asyncio.create_task(systemd.watchdog_loop(lambda: is_healthy, sleep=sleep))

    await sleep.until_asleep()  # the first check runs before the first sleep
    await sleep.wake(5)
    assert _drain(short_watchdog) == ["WATCHDOG=1"] * 6

    is_healthy = False
    await sleep.wake(6)
    assert _drain(short_watchdog) == []

    is_healthy = True
    await sleep.wake()
    assert _drain(short_watchdog) == ["WATCHDOG=1"]
    await _cancel(task)


async def test_watchdog_loop_keeps_its_period_when_a_check_takes_time(
    short_watchdog: socket.socket,
) -> None:
    """The time a check took comes off the next sleep; a check longer than the period, all."""
    clock = FakeClock(0.0)
    check_takes = [0.0, 0.02, PING_INTERVAL * 2]

    def healthy() -> bool:
        clock.advance(check_takes.pop(0) if check_takes else 0.0)
        return True

    sleep = SteppedSleep(clock)
    task = asyncio.create_task(systemd.watchdog_loop(healthy, sleep=sleep, clock=clock))
    await sleep.until_asleep()
    await sleep.wake(3)
    await _cancel(task)
    expected = [PING_INTERVAL, PING_INTERVAL - 0.02, 0.0, PING_INTERVAL]
    assert sleep.requested == pytest.approx(expected)
    assert _drain(short_watchdog) == ["WATCHDOG=1"] * 4


async def test_watchdog_loop_awaits_async_health_check(short_watchdog: socket.socket) -> None:
    checks = 0

    async def healthy() -> bool:
        nonlocal checks
        checks += 1
        await asyncio.sleep(0)
        return True

    sleep = SteppedSleep()
    task = asyncio.create_task(systemd.watchdog_loop(healthy, sleep=sleep))
    await sleep.until_asleep()
    await sleep.wake(2)
    await _cancel(task)
    assert _drain(short_watchdog) == ["WATCHDOG=1"] * 3
    assert checks == 3


async def test_failing_health_check_stops_pings(short_watchdog: socket.socket) -> None:
    checks = 0

    def healthy() -> bool:
        nonlocal checks
        checks += 1
        raise RuntimeError("event loop state is corrupt")

    sleep = SteppedSleep()
    task = asyncio.create_task(systemd.watchdog_loop(healthy, sleep=sleep))
    await sleep.until_asleep()
    await sleep.wake(3)
    assert not task.done(), "the loop must survive a raising check and keep evaluating it"
    assert checks == 4
    await _cancel(task)
    assert _drain(short_watchdog) == []


async def test_hanging_health_check_stops_pings(short_watchdog: socket.socket) -> None:
    """The hang is cut off after one period of real time; then the loop sleeps, unpinged."""
    release = asyncio.Event()

    async def healthy() -> bool:
        await release.wait()
        return True

    sleep = SteppedSleep()
    task = asyncio.create_task(systemd.watchdog_loop(healthy, sleep=sleep))
    await sleep.until_asleep()
    await sleep.wake()
    assert _drain(short_watchdog) == []
    await _cancel(task)


async def test_blocked_event_loop_stops_pings(short_watchdog: socket.socket) -> None:
    """The reason pings come from the loop: synchronous code that blocks it starves them."""
    task = asyncio.create_task(systemd.watchdog_loop(lambda: True))
    await asyncio.sleep(PING_INTERVAL / 2)
    _drain(short_watchdog)
    time.sleep(PING_INTERVAL * 4)  # noqa: ASYNC251 - this *is* the wedged handler
    assert _drain(short_watchdog) == []
    await _cancel(task)
