"""The guard on a real redis-server: shared between guards, every key with a TTL, and
a fallback that never fails a login and never fails open."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from bridge.core.errors import Reason
from bridge.guard import Guard, GuardLimits, MemoryStore
from bridge.guard.redis_store import RedisStore, connect
from bridge.guard.shared_store import SharedStore
from tests.harness.logs import log_events
from tests.harness.redis import RedisServer

KEY = b"k" * 32
LIMITS = GuardLimits(max_failures=4, failure_window=600.0, stale_ttl=900.0)


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    redis = connect(redis_server.url, redis_server.password.encode(), timeout=1.0)
    await redis.flushdb()
    yield redis
    await redis.aclose()


def guard_on(store: Any) -> Guard:
    return Guard(store, KEY, LIMITS)


async def test_two_guards_on_one_redis_share_budgets_and_fingerprints(client: Redis) -> None:
    first, second = guard_on(RedisStore(client)), guard_on(RedisStore(client))
    for n in range(2):
        await first.bad_password("jane", "dn:jane", f"guess-{n}", None)
    await second.bad_password("jane", "dn:jane", "guess-2", None)
    assert await second.before_login("jane", "fresh") is None  # 3 of 4
    await first.bad_password("jane", "dn:jane", "guess-3", None)
    refusal = await second.before_login("jane", "fresh")
    assert refusal is not None
    assert refusal.reason is Reason.THROTTLED
    assert refusal.retry_after == pytest.approx(600, abs=2)
    await second.good_password("jane", "dn:jane")
    assert await first.before_login("jane", "guess-1") is None
    await first.bad_password("jane", "dn:jane", "old saved password", None)
    stale = await second.before_password("dn:jane", "old saved password", None)
    assert stale is not None
    assert stale.reason is Reason.STALE_PASSWORD


async def test_every_key_is_namespaced_has_a_ttl_and_names_nobody(client: Redis) -> None:
    guard = guard_on(RedisStore(client))
    await guard.bad_password("jane.doe", "dn:cn=jane doe,dc=corp", "Secret-1", None)
    await guard.unknown_login("nobody", "Secret-2")
    await guard.client_failed("203.0.113.9")
    await guard.remember_alias("dn:jane@corp", "CN=Jane Doe,DC=corp")
    keys = [k.decode() for k in await client.keys("*")]
    assert len(keys) >= 6
    for key in keys:
        assert key.startswith("ringotel-bridge:guard:")
        assert 0 < await client.pttl(key) <= 3_600_000
        for name in ("jane", "nobody", "203.0.113.9"):
            assert name not in key
    values = [await client.dump(k) for k in keys]
    assert not any(b"Secret-" in (v or b"") for v in values)


async def test_a_counter_slides_with_every_failure(client: Redis) -> None:
    store = RedisStore(client)
    await store.hit("c", 60.0, 5)
    await client.pexpire("ringotel-bridge:guard:c", 1000)  # as if 59 s had passed
    await store.hit("c", 60.0, 5)
    assert await client.pttl("ringotel-bridge:guard:c") > 59_000
    count = await store.count("c")
    assert count is not None
    assert count.value == 2


@pytest.fixture
def shared(redis_server: RedisServer) -> Iterator[SharedStore]:
    remote = RedisStore(connect(redis_server.url, redis_server.password.encode(), timeout=0.2))
    store = SharedStore(
        remote, MemoryStore(), expected_instances=2, timeout=0.2, backoff=(0.05, 0.2)
    )
    yield store
    redis_server.resume()


async def wait_until(condition: Any, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "not within the limit"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("outage", ["paused", "killed"])
async def test_store_down_falls_back_to_half_the_budget_then_recovers(
    redis_server: RedisServer, shared: SharedStore, log_stream: Any, outage: str
) -> None:
    guard = guard_on(shared)
    assert await guard.before_login("jane", "x") is None
    assert shared.up
    if outage == "paused":
        redis_server.pause()
    else:
        redis_server.kill()
    try:
        started = time.monotonic()
        await guard.bad_password("jane", "dn:jane", "guess-0", None)
        assert time.monotonic() - started < 1.0  # one store timeout, not a hang
        assert not shared.up
        assert shared.share == 2
        await guard.bad_password("jane", "dn:jane", "guess-1", None)
        refusal = await guard.before_login("jane", "fresh")  # 2 of 4/2: spent, not open
        assert refusal is not None
        assert refusal.reason is Reason.THROTTLED
        for n in range(20):  # no further timeouts while down: local answers at once
            await guard.before_login(f"user{n}", "x")
        assert time.monotonic() - started < 2.0
    finally:
        if outage == "paused":
            redis_server.resume()
        else:
            redis_server.start()
    await wait_until(lambda: shared.up)
    events = [e["event"] for e in log_events(log_stream) if e["event"].startswith("guard_store")]
    assert events == ["guard_store_down", "guard_store_up"]
    await shared.close()
