"""Group allow/deny decisions and the single-flight TTL cache of a user's groups."""

from __future__ import annotations

import asyncio

import pytest

from bridge.core.errors import Reason
from bridge.core.groups import GroupCache, GroupPolicy
from tests.harness.clock import FakeClock

USERS = "CN=Ringotel Users,OU=Groups,DC=corp,DC=example"
BANNED = "CN=Ringotel Banned,OU=Groups,DC=corp,DC=example"
STAFF = "CN=Staff,OU=Groups,DC=corp,DC=example"
JANE = "CN=Jane Doe,OU=People,DC=corp,DC=example"


class Lookup:
    """Counts calls; optionally waits for a gate, fails, or answers given groups."""

    def __init__(self, groups: set[str], gate: asyncio.Event | None = None) -> None:
        self.groups = groups
        self.gate = gate
        self.calls = 0
        self.error: Exception | None = None

    async def __call__(self) -> frozenset[str]:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return frozenset(self.groups)


# --- policy -----------------------------------------------------------------------------


def test_allow_list() -> None:
    policy = GroupPolicy.from_dns([USERS], [])
    assert policy.needs_groups
    assert policy.decide(frozenset({policy_dn(USERS), policy_dn(STAFF)})) is None
    assert policy.decide(frozenset({policy_dn(STAFF)})) is Reason.NOT_IN_ALLOWED_GROUP
    assert policy.decide(frozenset()) is Reason.NOT_IN_ALLOWED_GROUP


def test_deny_wins_over_allow() -> None:
    policy = GroupPolicy.from_dns([USERS], [BANNED])
    groups = frozenset({policy_dn(USERS), policy_dn(BANNED)})
    assert policy.decide(groups) is Reason.IN_DENIED_GROUP


def test_deny_only_allows_everyone_else() -> None:
    policy = GroupPolicy.from_dns([], [BANNED])
    assert policy.needs_groups
    assert policy.decide(frozenset()) is None
    assert policy.decide(frozenset({policy_dn(STAFF)})) is None
    assert policy.decide(frozenset({policy_dn(BANNED)})) is Reason.IN_DENIED_GROUP


def test_empty_policy_allows_everyone_and_needs_no_lookup() -> None:
    policy = GroupPolicy.from_dns([], [])
    assert not policy.needs_groups
    assert policy.decide(frozenset()) is None


async def test_dn_spelling_does_not_matter() -> None:
    policy = GroupPolicy.from_dns(["cn=ringotel users, ou=groups, dc=CORP, dc=example"], [])
    cache = GroupCache(ttl=60, maxsize=10)
    groups = await cache.get(JANE, Lookup({"CN=RINGOTEL USERS,OU=Groups,DC=corp,DC=example"}))
    assert policy.decide(groups) is None
    denied = GroupPolicy.from_dns([], ["CN=ringotel users,OU=groups,DC=corp,DC=example"])
    assert denied.decide(groups) is Reason.IN_DENIED_GROUP


def policy_dn(dn: str) -> str:
    """A group DN as the cache hands it to the policy."""
    return next(iter(GroupPolicy.from_dns([dn], []).allow))


# --- cache ------------------------------------------------------------------------------


async def test_ttl_expiry_and_counters() -> None:
    clock = FakeClock(50.0)
    cache = GroupCache(ttl=300, maxsize=10, clock=clock)
    lookup = Lookup({USERS})
    first = await cache.get(JANE, lookup)
    assert (lookup.calls, cache.hits, cache.misses) == (1, 0, 1)
    clock.now += 299
    assert await cache.get(JANE, lookup) == first
    assert (lookup.calls, cache.hits, cache.misses) == (1, 1, 1)
    clock.now += 1
    assert await cache.get(JANE, lookup) == first
    assert (lookup.calls, cache.hits, cache.misses) == (2, 1, 2)


async def test_cache_key_is_the_normalised_user_dn() -> None:
    cache = GroupCache(ttl=60, maxsize=10)
    lookup = Lookup({USERS})
    await cache.get(JANE, lookup)
    await cache.get("cn=jane doe, ou=people, dc=corp, dc=example", lookup)
    assert lookup.calls == 1
    await cache.get("CN=John Doe,OU=People,DC=corp,DC=example", lookup)
    assert lookup.calls == 2


async def test_empty_group_set_is_cached() -> None:
    cache = GroupCache(ttl=60, maxsize=10)
    lookup = Lookup(set())
    assert await cache.get(JANE, lookup) == frozenset()
    assert await cache.get(JANE, lookup) == frozenset()
    assert lookup.calls == 1


async def test_concurrent_gets_share_one_lookup() -> None:
    cache = GroupCache(ttl=60, maxsize=10)
    gate = asyncio.Event()
    lookup = Lookup({USERS, STAFF}, gate)
    tasks = [asyncio.create_task(cache.get(JANE, lookup)) for _ in range(10)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks)
    assert lookup.calls == 1
    assert len(set(results)) == 1
    assert results[0] == frozenset({policy_dn(USERS), policy_dn(STAFF)})
    assert (cache.misses, cache.hits) == (1, 9)


async def test_concurrent_gets_for_different_users_do_not_share() -> None:
    cache = GroupCache(ttl=60, maxsize=10)
    gate = asyncio.Event()
    jane, john = Lookup({USERS}, gate), Lookup({STAFF}, gate)
    tasks = [
        asyncio.create_task(cache.get(JANE, jane)),
        asyncio.create_task(cache.get("CN=John,DC=corp", john)),
    ]
    await asyncio.sleep(0)
    gate.set()
    got_jane, got_john = await asyncio.gather(*tasks)
    assert (jane.calls, john.calls) == (1, 1)
    assert got_jane != got_john


async def test_failing_lookup_reaches_every_waiter_and_is_not_cached() -> None:
    cache = GroupCache(ttl=60, maxsize=10)
    gate = asyncio.Event()
    lookup = Lookup({USERS}, gate)
    lookup.error = RuntimeError("directory down")
    tasks = [asyncio.create_task(cache.get(JANE, lookup)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert lookup.calls == 1
    assert all(isinstance(r, RuntimeError) and str(r) == "directory down" for r in results)
    lookup.error = None
    assert await cache.get(JANE, lookup) == frozenset({policy_dn(USERS)})
    assert lookup.calls == 2


async def test_failing_lookup_alone_raises() -> None:
    cache = GroupCache(ttl=60, maxsize=10)
    lookup = Lookup({USERS})
    lookup.error = ValueError("boom")
    with pytest.raises(ValueError, match="boom"):
        await cache.get(JANE, lookup)
    lookup.error = None
    await cache.get(JANE, lookup)
    assert lookup.calls == 2


async def test_cancelling_the_first_caller_does_not_fail_the_others() -> None:
    """A request that hits its deadline must not take the shared lookup down with it."""
    cache = GroupCache(ttl=60, maxsize=10)
    release = asyncio.Event()
    calls = 0

    async def lookup() -> frozenset[str]:
        nonlocal calls
        calls += 1
        await release.wait()
        return frozenset({"CN=Sales,DC=x"})

    first = asyncio.ensure_future(cache.get("CN=U,DC=x", lookup))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(cache.get("CN=U,DC=x", lookup))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == frozenset({"cn=sales,dc=x"})
    assert first.cancelled()
    assert calls == 1
    assert await cache.get("CN=U,DC=x", lookup) == frozenset({"cn=sales,dc=x"})
    assert calls == 1
