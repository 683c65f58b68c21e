"""High availability, shown: the shipped HAProxy example in front of two bridges that
share one Redis, under steady login load, one bridge killed with SIGKILL mid-load.

Afterwards: no answer was wrong (never 200 for a wrong password, never 403 for a right
one); only the requests in flight on the killed bridge failed; and the lockout budget,
kept in Redis, still holds on the survivor for failures spent through the dead one.
"""

from __future__ import annotations

import asyncio
import signal
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import openldap_people as people
from tests.harness.bridge_loadgen import Attempt, Result, drive, mixed_plan
from tests.harness.bridge_process import BridgeProcess, write_config
from tests.harness.configs import openldap_raw, write_secret
from tests.harness.haproxy import HAProxy
from tests.harness.redis import RedisServer
from tests.harness.slapd import SlapdServer
from tests.harness.tls import make_ca

pytestmark = pytest.mark.slow

CONCURRENCY = 8
MAX_FAILURES = 3


@pytest.fixture
def bridges(
    slapd: SlapdServer, redis_server: RedisServer, tmp_path: Path
) -> Iterator[list[BridgeProcess]]:
    processes = []
    try:
        for name in ("a", "b"):
            folder = tmp_path / name
            folder.mkdir()
            raw = openldap_raw(slapd, folder)
            raw["server"] = {
                **raw["server"],
                "ops_listen": "127.0.0.1:0",
                "trusted_proxies": ["127.0.0.1/32"],
            }
            raw["protection"] = {
                "max_failures": MAX_FAILURES,
                "store": redis_server.url,
                "store_password_file": write_secret(folder, "redis", redis_server.password),
                "expected_instances": 2,
            }
            raw["logging"] = {"format": "json"}
            (folder / "guard-key").write_bytes(b"h" * 32)  # copied to every instance
            (folder / "guard-key").chmod(0o600)
            processes.append(BridgeProcess(write_config(folder / "bridge.toml", raw)).start())
        yield processes
    finally:
        for process in processes:
            if process.process is not None and process.process.poll() is None:
                process.stop()


@pytest.fixture
def haproxy(
    bridges: list[BridgeProcess], tmp_path: Path
) -> Iterator[tuple[HAProxy, ssl.SSLContext]]:
    ca = make_ca(tmp_path / "ca")
    cert, key = ca.issue_server_cert(tmp_path / "ca")
    pem = tmp_path / "haproxy.pem"
    pem.write_bytes(cert.read_bytes() + key.read_bytes())
    targets = []
    for bridge in bridges:
        host, port = bridge.addresses[0]
        assert bridge.ops_address is not None
        targets.append((host, port, bridge.ops_address[1]))
    proxy = HAProxy(tmp_path, pem, targets)
    proxy.start()
    client = ssl.create_default_context(cafile=str(ca.cert_path))
    try:
        yield proxy, client
    finally:
        proxy.stop()


def wrong(results: list[Result]) -> list[Result]:
    return [r for r in results if r.wrong]


async def test_a_bridge_killed_mid_load_costs_only_its_requests_in_flight(
    bridges: list[BridgeProcess],
    haproxy: tuple[HAProxy, ssl.SSLContext],
    slapd: SlapdServer,
) -> None:
    proxy, tls = haproxy
    good = [people.PEOPLE[n] for n in ("jdoe", "user01", "user02", "user03")]
    bad = [people.PEOPLE[n] for n in ("user04", "user05")]
    plan = mixed_plan(good, bad)
    # one failure for user07 through each bridge before the kill: 2 of the 3 spent
    guesser = people.PEOPLE["user07"]
    first = await drive(
        proxy.url, lambda w, i: Attempt(guesser.login, f"g{i}", False) if i < 2 else None,
        concurrency=1, duration=10, tls=tls,
    )  # fmt: skip
    assert [r.status for r in first] == [403, 403]

    load = asyncio.create_task(drive(proxy.url, plan, concurrency=CONCURRENCY, duration=6, tls=tls))
    await asyncio.sleep(2)
    victim = bridges[0]
    assert victim.process is not None
    killed_at = time.monotonic()
    victim.process.send_signal(signal.SIGKILL)
    results = await load

    assert wrong(results) == []
    failed = [r for r in results if r.status not in (200, 403)]
    # At most one per client connection, and only around the kill: the requests in
    # flight on the victim, or sent on a keep-alive connection HAProxy had paired with
    # it as it died; HAProxy takes it out after two failed checks (2 x 200 ms here).
    assert len(failed) <= CONCURRENCY, failed
    assert all(r.started <= killed_at + 1.0 for r in failed), failed
    after = [r for r in results if r.started > killed_at + 1.0]
    assert after, "the load went on after the kill"
    assert {r.status for r in after} <= {200, 403}
    print(
        f"\nHA: {len(results)} logins, {len(failed)} failed (in flight on the killed bridge), "
        f"{len(after)} after the kill all answered, 0 wrong"
    )

    # the survivor knows the 2 failures spent through both: one more, then throttled
    slapd.reset_counts()
    rest = await drive(
        proxy.url, lambda w, i: Attempt(guesser.login, f"h{i}", False) if i < 5 else None,
        concurrency=1, duration=10, tls=tls,
    )  # fmt: skip
    assert [r.status for r in rest] == [403] * 5
    assert slapd.count_ops().binds == MAX_FAILURES - 2
