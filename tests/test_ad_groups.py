"""Active Directory groups against the Samba DC: nesting, allow/deny, the cache, paging.

alice is in "Sales Team", which is in "Ringotel Users": only the nested strategies
(tokenGroups, the in-chain matching rule) see her in "Ringotel Users".
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bridge.core.groups import GroupCache
from bridge.web.keys import RUNTIME
from tests.harness import ad_people
from tests.harness.auth_client import DENIED, audit, directory_of, expected_body, login, operations
from tests.harness.clock import FakeClock
from tests.harness.configs import ad_raw
from tests.harness.in_process import StartBridge
from tests.harness.samba import SambaDC

pytestmark = pytest.mark.samba

ALICE = ad_people.ALICE


@pytest.fixture
def raw(samba_dc: SambaDC, tmp_path: Path) -> dict[str, Any]:
    document = ad_raw(samba_dc, tmp_path)
    document["groups"] = {"allow": [ad_people.RINGOTEL_USERS], "deny": [ad_people.RINGOTEL_DENIED]}
    return document


def service_of(client: Any) -> Any:
    from bridge.web.keys import RUNTIME

    return client.server.app[RUNTIME].service


@pytest.mark.parametrize("strategy", [None, "token_groups", "in_chain"])
async def test_nested_member_is_allowed(
    start_bridge: StartBridge, log_stream: Any, strategy: str | None
) -> None:
    """None: the AD preset's default, which is tokenGroups."""
    groups = {"strategy": strategy} if strategy else {}
    client = await start_bridge(groups=groups)
    config = client.server.app[RUNTIME].config
    if strategy is None:
        assert getattr(config.directories[0].backend, "group_strategy", None) == "token_groups"
    status, body = await login(client, ALICE.sam, ALICE.password)
    assert status == 200, audit(log_stream, ALICE.sam)
    assert body == expected_body(ALICE)
    assert operations(client)["group_lookups"] == 1


async def test_member_of_sees_direct_groups_only(
    start_bridge: StartBridge, log_stream: Any
) -> None:
    client = await start_bridge(groups={"strategy": "member_of"})
    assert await login(client, ALICE.sam, ALICE.password) == (403, DENIED)
    assert audit(log_stream, ALICE.sam)["reason"] == "not_in_allowed_group"
    # her direct group works, and costs no group search at all: memberOf came with the user
    client = await start_bridge(
        groups={"strategy": "member_of", "allow": [ad_people.SALES_TEAM.upper()]}
    )
    assert (await login(client, ALICE.sam, ALICE.password))[0] == 200
    assert operations(client)["group_searches"] == 0


@pytest.mark.parametrize("strategy", ["token_groups", "in_chain", "member_of"])
async def test_allow_and_deny_by_dn_case_insensitively(
    start_bridge: StartBridge, log_stream: Any, strategy: str
) -> None:
    groups = {
        "strategy": strategy,
        "allow": [ad_people.RINGOTEL_USERS.lower()],
        "deny": [ad_people.RINGOTEL_DENIED.upper().replace(",", ", ")],
    }
    client = await start_bridge(groups=groups)
    bob, dana, carol = ad_people.BOB, ad_people.DANA, ad_people.CAROL
    assert (await login(client, bob.sam, bob.password))[0] == 200
    assert await login(client, dana.sam, dana.password) == (403, DENIED)
    assert audit(log_stream, dana.sam)["reason"] == "in_denied_group"
    assert await login(client, carol.sam, carol.password) == (403, DENIED)
    assert audit(log_stream, carol.sam)["reason"] == "not_in_allowed_group"


@pytest.mark.parametrize("strategy", ["token_groups", "in_chain"])
async def test_group_cache_hit_then_expiry(start_bridge: StartBridge, strategy: str) -> None:
    client = await start_bridge(groups={"strategy": strategy, "cache_ttl": "5m"})
    clock = FakeClock(1000.0)
    service = service_of(client)
    service.login.group_cache = GroupCache(300.0, 100, clock=clock)

    def group_ops() -> tuple[int, int]:
        ops = operations(client)
        return ops["group_lookups"], ops["group_searches"]

    assert (await login(client, ALICE.sam, ALICE.password))[0] == 200
    first = group_ops()
    assert first[0] == 1
    assert first[1] >= 1

    clock.now += 299  # within the TTL
    assert (await login(client, ALICE.sam, ALICE.password))[0] == 200
    assert group_ops() == first, "a cache hit searched anyway"
    assert service.login.group_cache.hits == 1

    clock.now += 2  # past the TTL
    assert (await login(client, ALICE.sam, ALICE.password))[0] == 200
    assert group_ops()[0] == 2
    if strategy == "token_groups":
        # one tokenGroups read; every SID is already in the SID -> DN cache
        assert group_ops()[1] == first[1] + 1
    print(
        f"\n{strategy}: group lookups/searches after login 1 {first}, after login 2 (cached) "
        f"{first}, after expiry {group_ops()}"
    )


async def test_concurrent_logins_share_one_group_lookup(start_bridge: StartBridge) -> None:
    client = await start_bridge()
    results = await asyncio.gather(*(login(client, ALICE.sam, ALICE.password) for _ in range(6)))
    assert [status for status, _ in results] == [200] * 6
    assert operations(client)["group_lookups"] == 1


@pytest.mark.parametrize("strategy", ["token_groups", "in_chain"])
async def test_group_search_pages_are_all_assembled(
    start_bridge: StartBridge, log_stream: Any, strategy: str
) -> None:
    """page_size = 1: every group arrives on its own page, and none is lost.

    The same code path pages past AD's MaxPageSize of 1000; seeding a DC with >1000
    groups costs ~17 s more per CI run, so this proves the multi-page assembly
    with small pages instead.
    """
    client = await start_bridge(
        directory={"page_size": 1}, groups={"strategy": strategy, "allow": [], "deny": []}
    )
    directory = directory_of(client)
    paged = await directory.groups(await _find(directory, ALICE.sam))
    assert {dn.lower() for dn in ad_people.effective_groups(ALICE)} <= {dn.lower() for dn in paged}
    pages = directory.stats().operations["group_searches"]
    assert pages > 2  # several pages, not one answer
    whole = directory_of(await start_bridge(groups={"strategy": strategy, "allow": [], "deny": []}))
    assert await whole.groups(await _find(whole, ALICE.sam)) == paged
    assert whole.stats().operations["group_searches"] < pages


async def _find(directory: Any, login_name: str) -> Any:
    user = await directory.find(login_name)
    assert user is not None
    return user
