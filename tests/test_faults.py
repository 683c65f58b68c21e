"""Faults under load: the bridge as a real process, 8 concurrent clients mixing good and
bad passwords, while slapd is killed, stalled, restarted or drops idle connections.

Across all of them: zero wrong answers (no 200 for a bad password, no 403 for a good
one), every request gets an HTTP answer from the contract's set, and the bridge recovers
without being restarted. A per-fault table is printed (``pytest -s``) and written to
``fault_summary.txt`` in the session's temporary directory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.harness import openldap_people as people
from tests.harness.auth_client import AUTH
from tests.harness.bridge_loadgen import (
    Attempt,
    Result,
    Summary,
    bridge_document,
    drive,
    mixed_plan,
    one,
    summarize,
    table,
    with_idle_timeout,
)
from tests.harness.bridge_process import BridgeProcess, write_config
from tests.harness.slapd import SlapdServer

pytestmark = [pytest.mark.openldap, pytest.mark.slow]

CONCURRENCY = 8
DEADLINE = 3.0  # server.request_deadline in the bridge's config
CLIENT_TIMEOUT = DEADLINE + 7.0  # far beyond the deadline: a missing answer is a failure
IDLE_TIMEOUT = 2  # slapd idletimeout on the primary
ANSWERS = {200, 403, 503}
GOOD = [people.PEOPLE[n] for n in ("user02", "user03", "user04", "user05", "user06", "jdoe")]
BAD = [people.PEOPLE[n] for n in ("user07", "user08", "user09", "ulrich")]
PLAN = mixed_plan(GOOD, BAD)

SUMMARIES: list[Summary] = []


@pytest.fixture(scope="module")
def primary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdServer]:
    server = SlapdServer(tmp_path_factory.mktemp("primary"))
    server.start()
    with_idle_timeout(server, IDLE_TIMEOUT)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def secondary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdServer]:
    with SlapdServer(tmp_path_factory.mktemp("secondary")) as server:
        yield server


def _bridge(directory: Path, urls: list[str]) -> BridgeProcess:
    config = write_config(directory / "bridge.toml", bridge_document(urls, directory))
    return BridgeProcess(config)


@pytest.fixture(scope="module")
def single(
    primary: SlapdServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BridgeProcess]:
    with _bridge(tmp_path_factory.mktemp("bridge-single"), [primary.url]) as bridge:
        yield bridge


@pytest.fixture(scope="module")
def pair(
    primary: SlapdServer, secondary: SlapdServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BridgeProcess]:
    directory = tmp_path_factory.mktemp("bridge-pair")
    with _bridge(directory, [primary.url, secondary.url]) as bridge:
        yield bridge


@pytest.fixture(scope="module", autouse=True)
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    text = table(SUMMARIES)
    path = tmp_path_factory.getbasetemp() / "fault_summary.txt"
    path.write_text(text + "\n")
    print(f"\n\nFault suite ({CONCURRENCY} concurrent clients), also in {path}:\n{text}")


async def under_load(
    bridge: BridgeProcess, seconds: float, fault: Callable[[], Awaitable[None]]
) -> list[Result]:
    load = asyncio.create_task(
        drive(
            bridge.url(),
            PLAN,
            concurrency=CONCURRENCY,
            duration=seconds,
            request_timeout=CLIENT_TIMEOUT,
        )
    )
    await fault()
    return await load


def check(name: str, results: list[Result]) -> Summary:
    summary = summarize(name, results)
    SUMMARIES.append(summary)
    print("\n" + table([summary]))
    assert summary.requests > 0
    assert summary.no_answer == 0, [r.error for r in results if r.status is None][:5]
    assert {int(s) for s in summary.by_status} <= ANSWERS, summary.by_status
    assert summary.wrong == 0, [r for r in results if r.wrong][:5]
    return summary


async def recovers(bridge: BridgeProcess, within: float = 15.0) -> None:
    """A good login gets 200 again, from the same bridge process (no restart)."""
    person = GOOD[0]
    give_up = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while True:
            attempt = Attempt(person.login, person.password, good=True)
            result = await one(session, bridge.url(), attempt, AUTH)
            if result.status == 200:
                return
            assert time.monotonic() < give_up, f"no recovery: last status {result.status}"
            await asyncio.sleep(0.2)


def idle_closes(server: SlapdServer) -> int:
    return server.log_path.read_text(errors="replace").count("closed (idletimeout)")


def during(results: list[Result], start: float, end: float) -> list[Result]:
    """Requests that started and were answered inside [start, end): one that started
    while the directory was down but was served after it came back may rightly be 200."""
    return [r for r in results if start <= r.started and r.started + r.latency < end]


async def test_baseline(single: BridgeProcess) -> None:
    async def nothing() -> None:
        return None

    summary = check("baseline (no fault)", await under_load(single, 2.0, nothing))
    assert summary.by_status.get("503", 0) == 0


async def test_killed_mid_load_only_503_then_recovers(
    single: BridgeProcess, primary: SlapdServer
) -> None:
    window: list[float] = []

    async def crash() -> None:
        await asyncio.sleep(1.0)
        window.append(time.monotonic())
        primary.kill()
        await asyncio.sleep(2.0)
        window.append(time.monotonic())
        await asyncio.to_thread(primary.start)

    try:
        results = await under_load(single, 6.0, crash)
    finally:
        primary.start()
    check("slapd killed, then started", results)
    down = during(results, window[0] + 0.05, window[1])
    assert {r.status for r in down if r.attempt.good} == {503}
    await recovers(single)


async def test_stalled_single_server_answers_within_deadline(
    single: BridgeProcess, primary: SlapdServer
) -> None:
    async def stall() -> None:
        await asyncio.sleep(1.0)
        primary.pause()
        await asyncio.sleep(4.0)
        primary.resume()

    try:
        results = await under_load(single, 7.0, stall)
    finally:
        primary.resume()
    summary = check("slapd SIGSTOP 4s (1 server)", results)
    assert summary.by_status.get("503", 0) > 0
    await recovers(single)


async def test_restarted_mid_load(single: BridgeProcess, primary: SlapdServer) -> None:
    async def restart() -> None:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(primary.restart)

    results = await under_load(single, 4.0, restart)
    check("slapd restarted", results)
    await recovers(single)


async def test_idle_connections_cut_by_server_are_replaced(
    single: BridgeProcess, primary: SlapdServer
) -> None:
    async def nothing() -> None:
        return None

    await recovers(single)
    first = await under_load(single, 1.5, nothing)
    before = idle_closes(primary)
    await asyncio.sleep(IDLE_TIMEOUT + 3)  # slapd closes every pooled connection
    cut = idle_closes(primary) - before
    assert cut > 0
    second = await under_load(single, 2.0, nothing)
    summary = check(f"idle conns cut by slapd ({cut})", first + second)
    # the server was reachable throughout: a dropped pooled connection is replaced
    assert summary.by_status.get("503", 0) == 0


async def test_stalled_primary_fails_over_to_secondary(
    pair: BridgeProcess, primary: SlapdServer
) -> None:
    window: list[float] = []

    async def stall() -> None:
        await asyncio.sleep(1.0)
        primary.pause()
        window.append(time.monotonic())
        await asyncio.sleep(4.0)
        window.append(time.monotonic())
        primary.resume()

    try:
        results = await under_load(pair, 6.0, stall)
    finally:
        primary.resume()
    check("SIGSTOP primary (2 servers)", results)
    stalled = during(results, window[0], window[1])
    assert any(r.status == 200 for r in stalled if r.attempt.good)


async def test_killed_primary_fails_over_to_secondary(
    pair: BridgeProcess, primary: SlapdServer
) -> None:
    window: list[float] = []

    async def crash() -> None:
        await asyncio.sleep(1.0)
        primary.kill()
        window.append(time.monotonic())
        await asyncio.sleep(3.0)
        window.append(time.monotonic())
        await asyncio.to_thread(primary.start)

    try:
        results = await under_load(pair, 5.0, crash)
    finally:
        primary.start()
    summary = check("primary killed (2 servers)", results)
    down = during(results, window[0], window[1])
    assert {r.status for r in down if r.attempt.good} == {200}
    assert summary.by_status.get("503", 0) == 0
