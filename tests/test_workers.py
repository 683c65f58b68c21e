"""``server.workers = 2``: two serving processes on one listener under a supervisor,
as a real ``python -m bridge serve`` process: both serve, a dead one is restarted,
SIGHUP reaches both (a bad config reaches neither), SIGTERM drains both, READY=1 once
both listen, and /metrics adds them up."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.harness.bridge_process import BridgeProcess, write_config
from tests.harness.demo_users import ALICE, ALICE_NUMBERS, file_raw, login

pytestmark = pytest.mark.slow


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found |= {int(c) for c in text}
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (a zombie's sockets are closed already)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def listeners(port: int) -> int:
    """Sockets listening on ``port`` (IPv4), as the kernel lists them."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1 for row in rows if row.split()[1].endswith(f":{port:04X}") and row.split()[3] == "0A"
    )


def wait_until(condition: Any, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "not within the limit"
        time.sleep(0.05)


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.1)
    yield sock, path
    sock.close()


def messages(sock: socket.socket) -> list[str]:
    found = []
    while True:
        try:
            found.append(sock.recv(4096).decode())
        except TimeoutError:
            return found


@pytest.fixture
def bridge(tmp_path: Path, notify: tuple[socket.socket, str]) -> Iterator[BridgeProcess]:
    raw = file_raw(tmp_path, workers=2)
    config = write_config(tmp_path / "bridge.toml", raw)
    process = BridgeProcess(config, env={"NOTIFY_SOCKET": notify[1]})
    process.start(event="workers_listening")
    try:
        yield process
    finally:
        process.stop()


async def worker_metric(run_dir: str, index: int, name: str) -> float:
    connector = aiohttp.UnixConnector(path=f"{run_dir}/worker-{index}.sock")
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get("http://worker/metrics") as reply,
    ):
        text = await reply.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and 'outcome="accepted"' in line
    )


async def test_two_workers_serve_one_listener_and_metrics_add_up(
    bridge: BridgeProcess, notify: tuple[socket.socket, str]
) -> None:
    assert [m for m in messages(notify[0]) if m.startswith("READY=1")] != []
    assert len(children(bridge.process.pid)) == 2  # type: ignore[union-attr]
    answers = await asyncio.gather(*(login(bridge.url()) for _ in range(60)))
    assert {status for status, _ in answers} == {200}
    run_dir = bridge.wait_for_event("workers_listening")["run_dir"]
    per_worker = [await worker_metric(run_dir, i, "ringotel_bridge_logins_total") for i in (0, 1)]
    assert sum(per_worker) == 60
    assert min(per_worker) > 0, per_worker  # the kernel spread the connections
    async with (
        aiohttp.ClientSession() as session,
        session.get(bridge.ops_url + "/metrics") as reply,
    ):
        text = await reply.text()
    merged = [
        line
        for line in text.splitlines()
        if line.startswith("ringotel_bridge_logins_total") and 'outcome="accepted"' in line
    ]
    assert merged
    assert float(merged[0].rsplit(" ", 1)[1]) == 60


async def test_a_killed_worker_is_restarted_and_logins_go_on(bridge: BridgeProcess) -> None:
    pid = bridge.process.pid  # type: ignore[union-attr]
    before = children(pid)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: not running(victim))
    port = bridge.addresses[0][1]
    wait_until(lambda: listeners(port) == 1)  # its listening socket is gone with it
    statuses = [(await login(bridge.url()))[0] for _ in range(20)]
    assert statuses == [200] * 20  # the other worker answers meanwhile
    wait_until(lambda: len(children(pid)) == 2 and victim not in children(pid))
    died = bridge.wait_for_event("worker_died")
    assert died["exit_code"] == -signal.SIGKILL


async def test_reload_reaches_every_worker_and_a_bad_one_none(
    bridge: BridgeProcess, tmp_path: Path
) -> None:
    raw = file_raw(tmp_path, workers=2)
    raw["usernames"] = [{"attribute": "telephoneNumber", "transforms": ["digits_only"]}]
    raw["response"] = {"template": '{"numbers":["$username$"]}'}
    write_config(tmp_path / "bridge.toml", raw)
    bridge.send_signal(signal.SIGHUP)
    wait_until(lambda: len([e for e in bridge.events() if e.get("event") == "reloaded"]) == 2)
    answers = await asyncio.gather(*(login(bridge.url()) for _ in range(20)))
    assert {str(body) for _, body in answers} == {str({"numbers": ALICE_NUMBERS})}
    broken = {**raw, "server": {**raw["server"], "no_such_key": 1}}
    write_config(tmp_path / "bridge.toml", broken)
    bridge.send_signal(signal.SIGHUP)
    failed = bridge.wait_for_event("reload_failed")
    assert "server.no_such_key: unknown key" in failed["errors"]
    assert len([e for e in bridge.events() if e.get("event") == "reloaded"]) == 2
    assert (await login(bridge.url()))[0] == 200


async def test_sigterm_drains_every_worker(
    bridge: BridgeProcess, notify: tuple[socket.socket, str]
) -> None:
    pid = bridge.process.pid  # type: ignore[union-attr]
    workers = children(pid)
    assert await login(bridge.url()) == (
        200,
        {"values": [{"username": n, "display_name": "Alice Anders"} for n in ALICE_NUMBERS]},
    )
    assert bridge.stop() == 0
    assert not any(running(w) for w in workers)
    assert len([e for e in bridge.events() if e.get("event") == "stopped"]) == 3
    assert ALICE  # the same demo user throughout
