"""The login use case over a fake Directory: outcomes, throttling, caches, cost in binds."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bridge.core.errors import DirectoryMisconfigured, DirectoryUnavailable, LoginRejected, Reason
from bridge.core.outcomes import Accepted, Rejected, Trace, Unavailable
from bridge.core.ports import UserEntry
from tests.harness.fakes import JANE_DN, PASSWORD, USERS, FakeDirectory, make_service

MOVED_DN = "CN=Jane Doe,OU=Sales,OU=People,DC=corp,DC=example"
BANNED = "CN=Banned,OU=Groups,DC=corp,DC=example"


@pytest.fixture
def directory() -> FakeDirectory:
    fake = FakeDirectory()
    fake.add(
        "jane",
        JANE_DN,
        PASSWORD,
        {"ipPhone": ("101",), "otherIpPhone": ("102", "101"), "displayName": ("Jane Doe",)},
    )
    return fake


# --- the three outcomes -----------------------------------------------------------------


async def test_accepted(directory: FakeDirectory) -> None:
    outcome = await make_service(directory).login("CORP\\Jane", PASSWORD)
    assert outcome == Accepted(
        login="CORP\\Jane",
        dn=JANE_DN,
        usernames=("101", "102"),
        display_name="Jane Doe",
        groups=None,
        server="ldaps://dc1",
    )
    assert directory.find_calls == ["Jane"]
    assert directory.bind_calls == [(JANE_DN, PASSWORD)]


async def test_wrong_password_is_rejected(directory: FakeDirectory) -> None:
    outcome = await make_service(directory).login("jane", "wrong")
    assert isinstance(outcome, Rejected)
    assert outcome.reason is Reason.BAD_PASSWORD


async def test_unknown_user_is_rejected_without_a_bind(directory: FakeDirectory) -> None:
    outcome = await make_service(directory).login("nobody", PASSWORD)
    assert isinstance(outcome, Rejected)
    assert outcome.reason is Reason.UNKNOWN_USER
    assert directory.bind_calls == []


async def test_ambiguous_user_is_rejected(directory: FakeDirectory) -> None:
    directory.find_error = LoginRejected(Reason.AMBIGUOUS_USER, "2 entries")
    outcome = await make_service(directory).login("jane", PASSWORD)
    assert isinstance(outcome, Rejected)
    assert outcome.reason is Reason.AMBIGUOUS_USER
    assert directory.bind_calls == []


@pytest.mark.parametrize(
    "error",
    [
        DirectoryUnavailable("timed out", server="ldaps://dc1"),
        DirectoryMisconfigured("strongerAuthRequired", server="ldaps://dc2"),
    ],
)
async def test_unavailable_is_never_rejected(
    directory: FakeDirectory, error: DirectoryUnavailable
) -> None:
    service = make_service(directory, max_failures=2)
    directory.down = error
    for _ in range(5):
        outcome = await service.login("jane", "maybe-wrong")
        assert isinstance(outcome, Unavailable)
        assert outcome.server == error.server
        assert outcome.misconfigured is isinstance(error, DirectoryMisconfigured)
    directory.down = None
    # the outage spent no failure budget and remembered no password as wrong
    assert isinstance(await service.login("jane", PASSWORD), Accepted)


async def test_unavailable_during_bind(directory: FakeDirectory) -> None:
    service = make_service(directory)
    directory.bind_error = DirectoryUnavailable("connection reset", server="ldaps://dc1")
    outcome = await service.login("jane", PASSWORD)
    assert isinstance(outcome, Unavailable)
    assert outcome.detail == "connection reset"
    assert not outcome.misconfigured


async def test_unavailable_during_group_lookup(directory: FakeDirectory) -> None:
    service = make_service(directory, allow=(USERS,))
    original = directory.groups

    async def down(user: UserEntry) -> frozenset[str]:
        directory.group_calls += 1
        raise DirectoryUnavailable("group search timed out")

    directory.groups = down  # type: ignore[method-assign]
    outcome = await service.login("jane", PASSWORD)
    assert isinstance(outcome, Unavailable)
    directory.groups = original  # type: ignore[method-assign]
    assert isinstance(await service.login("jane", PASSWORD), Accepted)


# --- refused before any directory traffic ------------------------------------------------


async def test_empty_password_never_reaches_the_directory(directory: FakeDirectory) -> None:
    trace = Trace()
    outcome = await make_service(directory).login("jane", "", trace)
    assert isinstance(outcome, Rejected)
    assert outcome.reason is Reason.EMPTY_PASSWORD
    assert directory.calls == 0
    assert not trace.directory_used


async def test_whitespace_password_is_not_trimmed(directory: FakeDirectory) -> None:
    outcome = await make_service(directory).login("jane", " ")
    assert isinstance(outcome, Rejected)
    assert outcome.reason is Reason.BAD_PASSWORD
    assert directory.bind_calls == [(JANE_DN, " ")]


@pytest.mark.parametrize("typed", ["", "CN=Jane,DC=corp", "ja\x00ne", "al\ud800ice", "CORP\\"])
async def test_invalid_logins_never_reach_the_directory(
    directory: FakeDirectory, typed: str
) -> None:
    outcome = await make_service(directory).login(typed, PASSWORD)
    assert isinstance(outcome, Rejected)
    assert outcome.reason is Reason.INVALID_LOGIN
    assert directory.calls == 0


async def test_throttled_logins_never_reach_the_directory(directory: FakeDirectory) -> None:
    service = make_service(directory, max_failures=3)
    for n in range(3):
        await service.login("jane", f"wrong-{n}")
    assert len(directory.bind_calls) == 3
    calls_before = directory.calls
    trace = Trace()
    outcome = await service.login("JANE", PASSWORD, trace)  # even the right password waits
    assert isinstance(outcome, Rejected)
    assert outcome.reason is Reason.THROTTLED
    assert directory.calls == calls_before
    assert not trace.directory_used


async def test_identical_wrong_password_costs_one_bind(directory: FakeDirectory) -> None:
    service = make_service(directory)
    reasons = []
    for _ in range(100):
        outcome = await service.login("jane", "old-saved-password")
        assert isinstance(outcome, Rejected)
        reasons.append(outcome.reason)
    assert len(directory.bind_calls) == 1
    assert reasons[0] is Reason.BAD_PASSWORD
    assert set(reasons[1:]) == {Reason.STALE_PASSWORD}
    # ... and the right password still works afterwards
    assert isinstance(await service.login("jane", PASSWORD), Accepted)


async def test_stale_guard_ignores_login_case(directory: FakeDirectory) -> None:
    service = make_service(directory)
    await service.login("jane", "old")
    outcome = await service.login("CORP\\JANE", "old")
    assert isinstance(outcome, Rejected)
    assert outcome.reason is Reason.STALE_PASSWORD
    assert len(directory.bind_calls) == 1


async def test_other_refusals_spend_no_budget(directory: FakeDirectory) -> None:
    service = make_service(directory, max_failures=2)
    directory.bind_error = LoginRejected(Reason.ACCOUNT_LOCKED, "data 775")
    for _ in range(4):
        outcome = await service.login("jane", PASSWORD)
        assert isinstance(outcome, Rejected)
        assert outcome.reason is Reason.ACCOUNT_LOCKED
    assert len(directory.bind_calls) == 4
    directory.bind_error = None
    assert isinstance(await service.login("jane", PASSWORD), Accepted)


# --- user cache -------------------------------------------------------------------------


async def test_second_login_costs_only_a_bind(directory: FakeDirectory) -> None:
    service = make_service(directory, user_cache_ttl=60.0)
    assert isinstance(await service.login("jane", PASSWORD), Accepted)
    trace = Trace()
    assert isinstance(await service.login("Jane", PASSWORD, trace), Accepted)
    assert len(directory.find_calls) == 1
    assert len(directory.bind_calls) == 2
    assert trace.cached_entry


async def test_no_user_cache_by_default(directory: FakeDirectory) -> None:
    service = make_service(directory)
    await service.login("jane", PASSWORD)
    await service.login("jane", PASSWORD)
    assert len(directory.find_calls) == 2


async def test_cached_entry_wrong_password_costs_exactly_one_bind(
    directory: FakeDirectory,
) -> None:
    service = make_service(directory, user_cache_ttl=60.0)
    await service.login("jane", PASSWORD)
    binds_before = len(directory.bind_calls)
    outcome = await service.login("jane", "wrong")
    assert isinstance(outcome, Rejected)
    assert outcome.reason is Reason.BAD_PASSWORD
    assert len(directory.bind_calls) - binds_before == 1
    assert len(directory.find_calls) == 2  # looked up again in case the user moved


async def test_moved_user_is_found_again_and_bound_once_more(directory: FakeDirectory) -> None:
    service = make_service(directory, user_cache_ttl=60.0)
    await service.login("jane", PASSWORD)
    directory.move("jane", MOVED_DN)
    outcome = await service.login("jane", PASSWORD)
    assert isinstance(outcome, Accepted)
    assert outcome.dn == MOVED_DN
    assert directory.bind_calls[-2:] == [(JANE_DN, PASSWORD), (MOVED_DN, PASSWORD)]
    # the fresh entry is what is cached now: one bind, on the new DN
    await service.login("jane", PASSWORD)
    assert directory.bind_calls[-1] == (MOVED_DN, PASSWORD)
    assert len(directory.find_calls) == 2


async def test_cached_entry_dropped_after_other_refusals(directory: FakeDirectory) -> None:
    service = make_service(directory, user_cache_ttl=60.0)
    await service.login("jane", PASSWORD)
    directory.bind_error = LoginRejected(Reason.ACCOUNT_DISABLED, "data 533")
    outcome = await service.login("jane", PASSWORD)
    assert isinstance(outcome, Rejected)
    assert outcome.reason is Reason.ACCOUNT_DISABLED
    directory.bind_error = None
    await service.login("jane", PASSWORD)
    assert len(directory.find_calls) == 2


# --- groups and usernames ---------------------------------------------------------------


async def test_allowed_group(directory: FakeDirectory) -> None:
    outcome = await make_service(directory, allow=(USERS.upper(),)).login("jane", PASSWORD)
    assert isinstance(outcome, Accepted)
    assert outcome.groups is not None
    assert len(outcome.groups) == 1


async def test_not_in_allowed_group(directory: FakeDirectory) -> None:
    directory.memberships[JANE_DN] = {BANNED}
    outcome = await make_service(directory, allow=(USERS,)).login("jane", PASSWORD)
    assert isinstance(outcome, Rejected)
    assert outcome.reason is Reason.NOT_IN_ALLOWED_GROUP
    assert outcome.dn == JANE_DN


async def test_denied_group_wins(directory: FakeDirectory) -> None:
    directory.memberships[JANE_DN] = {USERS, BANNED}
    service = make_service(directory, allow=(USERS,), deny=(BANNED,))
    outcome = await service.login("jane", PASSWORD)
    assert isinstance(outcome, Rejected)
    assert outcome.reason is Reason.IN_DENIED_GROUP


async def test_groups_are_cached_across_logins(directory: FakeDirectory) -> None:
    service = make_service(directory, allow=(USERS,))
    await service.login("jane", PASSWORD)
    await service.login("jane", PASSWORD)
    assert directory.group_calls == 1


async def test_no_group_lookup_without_a_policy(directory: FakeDirectory) -> None:
    await make_service(directory).login("jane", PASSWORD)
    assert directory.group_calls == 0


async def test_groups_from_the_entry_need_no_lookup(directory: FakeDirectory) -> None:
    entry = directory.entries["jane"]
    directory.entries["jane"] = replace(entry, groups=frozenset({USERS.lower()}))
    outcome = await make_service(directory, allow=(USERS,)).login("jane", PASSWORD)
    assert isinstance(outcome, Accepted)
    assert directory.group_calls == 0


async def test_no_usernames(directory: FakeDirectory) -> None:
    directory.add("bob", "CN=Bob,DC=corp", "bobpw", {"displayName": ("Bob",)})
    outcome = await make_service(directory).login("bob", "bobpw")
    assert isinstance(outcome, Rejected)
    assert outcome.reason is Reason.NO_USERNAMES
    assert outcome.dn == "CN=Bob,DC=corp"


async def test_display_name_falls_back_to_the_first_username(directory: FakeDirectory) -> None:
    directory.add("bob", "CN=Bob,DC=corp", "bobpw", {"ipPhone": ("205",)})
    outcome = await make_service(directory).login("bob", "bobpw")
    assert isinstance(outcome, Accepted)
    assert outcome.display_name == "205"


async def test_trace_never_holds_the_password(directory: FakeDirectory) -> None:
    trace = Trace()
    service = make_service(directory, allow=(USERS,))
    await service.login("jane", PASSWORD, trace)
    await service.login("jane", "wrong-secret", trace)
    text = " ".join(trace.steps)
    assert trace.steps
    assert PASSWORD not in text
    assert "wrong-secret" not in text


# --- one account, several login forms -----------------------------------------------------


def same_account_three_ways(directory: FakeDirectory) -> None:
    """``jane`` can also be typed as ``jane@corp.example`` and as ``j.doe`` (say, mail)."""
    for other in ("jane@corp.example", "j.doe"):
        directory.entries[other] = directory.entries["jane"]


async def test_login_forms_of_one_account_share_one_budget(directory: FakeDirectory) -> None:
    same_account_three_ways(directory)
    service = make_service(directory, max_failures=3)
    forms = ["jane", "jane@corp.example", "j.doe"]
    for attempt in range(9):
        await service.login(forms[attempt % 3], f"guess-{attempt}")
    # three forms, but the account's budget of 3 is spent after 3 binds in total
    assert len(directory.bind_calls) == 3
    outcome = await service.login("j.doe", PASSWORD)
    assert isinstance(outcome, Rejected)
    assert outcome.reason is Reason.THROTTLED


async def test_stale_password_is_remembered_per_account(directory: FakeDirectory) -> None:
    same_account_three_ways(directory)
    service = make_service(directory)
    for form in ("jane", "jane@corp.example", "J.DOE", "jane"):
        outcome = await service.login(form, "old password")
        assert isinstance(outcome, Rejected)
    assert directory.bind_calls == [(JANE_DN, "old password")]
    assert isinstance(await service.login("jane@corp.example", PASSWORD), Accepted)
