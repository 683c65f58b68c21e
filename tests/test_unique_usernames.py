"""A username two entries hold is handed to neither; the cache never helps a forger.

Pure logic over the suite's fake directory (tests/harness/fakes.py) and a fake clock; the same
rules against real Samba and slapd are in test_duplicate_usernames.
"""

from __future__ import annotations

import pytest

from bridge.core.branch import Branch, LoginPolicy
from bridge.core.errors import DirectoryUnavailable, Reason
from bridge.core.groups import GroupCache, GroupPolicy
from bridge.core.login import LoginService
from bridge.core.outcomes import Accepted, Rejected, Trace, Unavailable
from bridge.core.ports import Directory, UserEntry
from bridge.core.typed_login import LoginRules
from bridge.core.unique_usernames import DUPLICATE, NOT_FOUND, OTHER_HOLDER, UniqueUsernames
from bridge.core.usernames import Rule
from bridge.guard import Guard, GuardLimits, MemoryStore
from tests.harness.clock import FakeClock
from tests.harness.fakes import JANE_DN, PASSWORD, FakeDirectory

MALLORY_DN = "CN=Mallory,OU=People,DC=corp,DC=example"
TTL = 300.0
RULES = (Rule("ipPhone"), Rule("otherIpPhone"))


class Setup:
    """Jane owns 101 and 102; Mallory owns 666 and can write his own otherIpPhone."""

    def __init__(self, ttl: float = TTL, rules: tuple[Rule, ...] = RULES) -> None:
        self.clock = FakeClock(1000.0)
        self.directory = FakeDirectory()
        self.directory.add(
            "jane", JANE_DN, PASSWORD, {"ipPhone": ("101",), "otherIpPhone": ("102",)}
        )
        self.directory.add("mallory", MALLORY_DN, "m-pass", {"ipPhone": ("666",)})
        self.dropped: list[str] = []
        as_directory: Directory = self.directory
        self.unique = UniqueUsernames(
            as_directory, rules, ttl=ttl, clock=self.clock, on_drop=self.dropped.append
        )
        policy = LoginPolicy(
            rules=LoginRules(accept_domain_prefix=True),
            group_policy=GroupPolicy.from_dns((), ()),
            username_rules=rules,
            display_name_attribute="displayName",
        )
        self.service = LoginService(
            [Branch("corp", as_directory, policy, self.unique, clock=self.clock)],
            Guard(MemoryStore(), b"k" * 32, GuardLimits()),
            GroupCache(ttl=300.0, maxsize=100),
        )

    def forge(self, value: str) -> None:
        """Mallory adds ``value`` to his own otherIpPhone (the self-writable attribute)."""
        entry = self.directory.entries["mallory"]
        other = (*entry.attributes.get("otherIpPhone", ()), value)
        self.directory.entries["mallory"] = UserEntry(
            entry.dn, {**entry.attributes, "otherIpPhone": other}, server=entry.server
        )

    def unforge(self) -> None:
        self.directory.add("mallory", MALLORY_DN, "m-pass", {"ipPhone": ("666",)})

    async def login(self, who: str) -> tuple[Accepted | Rejected | Unavailable, Trace]:
        trace = Trace()
        password = PASSWORD if who == "jane" else "m-pass"
        return await self.service.login(who, password, trace), trace


def usernames(outcome: object) -> tuple[str, ...]:
    assert isinstance(outcome, Accepted), outcome
    return outcome.usernames


async def test_unique_values_are_kept_and_each_searched_once() -> None:
    setup = Setup()
    outcome, trace = await setup.login("jane")
    assert usernames(outcome) == ("101", "102")
    assert setup.directory.holder_calls == ["101", "102"]
    assert trace.dropped_usernames == {}
    assert setup.dropped == []


async def test_forged_value_is_withheld_from_the_forger_and_the_owner() -> None:
    setup = Setup()
    assert usernames((await setup.login("jane"))[0]) == ("101", "102")  # cached: jane alone
    setup.forge("101")
    outcome, trace = await setup.login("mallory")
    assert usernames(outcome) == ("666",)  # the login still succeeds with his own
    assert trace.dropped_usernames == {"101": DUPLICATE}
    assert "username 101 dropped: duplicate" in trace.steps
    # the search that found two holders also evicted "jane alone": she loses it too
    outcome, trace = await setup.login("jane")
    assert usernames(outcome) == ("102",)
    assert trace.dropped_usernames == {"101": DUPLICATE}
    assert setup.dropped == [DUPLICATE, DUPLICATE]
    # the forged copy removed: once the entry is searched again (no cache now), it is back
    setup.unforge()
    setup.clock.now += TTL + 1
    assert usernames((await setup.login("jane"))[0]) == ("101", "102")


async def test_a_cached_holder_counts_only_for_that_same_entry() -> None:
    """Jane's "held alone" must not let Mallory's copy through: he searches again."""
    setup = Setup()
    await setup.login("jane")
    setup.forge("102")
    calls = len(setup.directory.holder_calls)
    outcome, trace = await setup.login("mallory")
    assert trace.dropped_usernames == {"102": DUPLICATE}
    assert usernames(outcome) == ("666",)
    assert setup.directory.holder_calls[calls:] == ["666", "102"]


async def test_second_login_costs_no_search_until_the_ttl_passes() -> None:
    setup = Setup()
    await setup.login("jane")
    assert len(setup.directory.holder_calls) == 2
    setup.clock.now += TTL - 1
    assert usernames((await setup.login("jane"))[0]) == ("101", "102")
    assert len(setup.directory.holder_calls) == 2
    setup.clock.now += 2
    await setup.login("jane")
    assert len(setup.directory.holder_calls) == 4


async def test_ttl_zero_searches_every_time_but_still_checks() -> None:
    setup = Setup(ttl=0)
    for _ in range(3):
        await setup.login("jane")
    assert len(setup.directory.holder_calls) == 6
    setup.forge("101")
    outcome, _ = await setup.login("jane")
    assert usernames(outcome) == ("102",)


async def test_all_values_dropped_is_no_usernames() -> None:
    setup = Setup()
    setup.directory.entries["mallory"] = UserEntry(
        MALLORY_DN, {"otherIpPhone": ("101", "102")}, server="ldaps://dc1"
    )
    outcome, trace = await setup.login("mallory")
    assert isinstance(outcome, Rejected)
    assert outcome.reason is Reason.NO_USERNAMES
    assert trace.dropped_usernames == {"101": DUPLICATE, "102": DUPLICATE}


async def test_value_held_by_nobody_or_by_someone_else_is_withheld() -> None:
    """E.g. a replica that has not seen the change yet: not proven ours, not handed out."""
    setup = Setup()
    user = UserEntry(JANE_DN, {"ipPhone": ("101",)})
    setup.directory.entries.pop("jane")  # jane's value is in no entry the search sees
    trace = Trace()
    assert await setup.unique.keep(user, ("101",), trace) == ()
    assert trace.dropped_usernames == {"101": NOT_FOUND}
    trace = Trace()
    assert await setup.unique.keep(UserEntry(JANE_DN, {"ipPhone": ("666",)}), ("666",), trace) == ()
    assert trace.dropped_usernames == {"666": OTHER_HOLDER}


async def test_transformed_usernames_are_checked_by_the_stored_values() -> None:
    """``digits_only`` makes 101 of "ext. 101": the directory holds "ext. 101"."""
    setup = Setup(rules=(Rule("ipPhone", ("digits_only",)), Rule("otherIpPhone")))
    user = UserEntry(JANE_DN, {"ipPhone": ("ext. 101",)})
    setup.directory.entries["jane"] = user
    trace = Trace()
    assert await setup.unique.keep(user, ("101",), trace) == ("101",)
    assert setup.directory.holder_calls == ["ext. 101"]


async def test_direct_bind_uses_the_holders_read_at_bind_time() -> None:
    setup = Setup()
    trace = Trace()
    user = UserEntry(
        JANE_DN,
        {"ipPhone": ("101",), "otherIpPhone": ("102",)},
        holders={"101": (JANE_DN, MALLORY_DN), "102": (JANE_DN.upper(),)},
    )
    assert await setup.unique.keep(user, ("101", "102"), trace) == ("102",)
    assert trace.dropped_usernames == {"101": DUPLICATE}
    assert setup.directory.holder_calls == []  # no service account to ask


async def test_directory_down_during_the_check_is_unavailable_not_a_guess() -> None:
    setup = Setup()

    async def down(value: str) -> tuple[str, ...]:
        raise DirectoryUnavailable("no server answered", "ldaps://dc1")

    setup.directory.holders_of = down  # type: ignore[method-assign]
    outcome, _ = await setup.login("jane")
    assert isinstance(outcome, Unavailable)


@pytest.mark.parametrize("dn", [JANE_DN.lower(), "cn=Jane Doe, ou=People, dc=corp, dc=example"])
async def test_holder_dn_spelling_does_not_matter(dn: str) -> None:
    setup = Setup()
    trace = Trace()
    user = UserEntry(JANE_DN, {"ipPhone": ("101",)}, holders={"101": (dn,)})
    assert await setup.unique.keep(user, ("101",), trace) == ("101",)
