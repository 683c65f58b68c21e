"""The bridge must never be the reason an account locks: a retried stale password costs
the directory one bad attempt, a guessing flood at most the failure budget. Counted on
the servers themselves: slapd's stats log and the Samba DC's own ``badPwdCount``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.web.keys import RUNTIME
from tests.harness import ad_people
from tests.harness import openldap_people as people
from tests.harness.auth_client import login_status
from tests.harness.clock import FakeClock
from tests.harness.configs import ad_raw, deep_merge, openldap_raw, write_secret
from tests.harness.in_process import StartBridge, StartBridgeFrom
from tests.harness.logs import log_events
from tests.harness.samba import SambaDC
from tests.harness.slapd import OpCounts, SlapdServer

ATTEMPTS = 100


def login_reasons(stream: Any, username: str) -> list[str]:
    return [
        e["reason"]
        for e in log_events(stream)
        if e.get("event") == "login" and e.get("login") == username
    ]


# ---------------------------------------------------------------- OpenLDAP


@pytest.fixture
def raw(slapd: SlapdServer, tmp_path: Path) -> dict[str, Any]:
    return openldap_raw(slapd, tmp_path)


async def warm(client: Any) -> None:
    """Open the pooled service and bind connections, so only the user's BINDs count."""
    jane = people.PEOPLE["jdoe"]
    assert await login_status(client, jane.login, jane.password) == 200


@pytest.mark.openldap
async def test_same_wrong_password_reaches_slapd_once(
    start_bridge: StartBridge, slapd: SlapdServer, log_stream: Any
) -> None:
    client = await start_bridge()
    await warm(client)
    person = people.PEOPLE["user06"]
    slapd.reset_counts()
    statuses = [
        await login_status(client, person.login, "an old saved password") for _ in range(ATTEMPTS)
    ]
    assert statuses == [403] * ATTEMPTS
    assert slapd.count_ops() == OpCounts(connections=0, binds=1, searches=1)
    reasons = login_reasons(log_stream, person.login)
    assert reasons == ["bad_password"] + ["stale_password"] * (ATTEMPTS - 1)
    assert await login_status(client, person.login, person.password) == 200


@pytest.mark.openldap
async def test_unknown_login_repeats_never_reach_slapd_again(
    start_bridge: StartBridge, slapd: SlapdServer, log_stream: Any
) -> None:
    """The found bug: identical failures of an unknown login went to the directory every
    time (and answered slower than a known user's remembered repeat). Now they are
    remembered like a stale password, and distinct guesses spend the login's budget."""
    client = await start_bridge(protection={"max_failures": 3})
    await warm(client)
    slapd.reset_counts()
    statuses = [await login_status(client, "nobody-here", "a guess") for _ in range(50)]
    assert statuses == [403] * 50
    assert slapd.count_ops() == OpCounts(connections=0, binds=0, searches=1)
    guesses = [await login_status(client, "nobody-here", f"guess {i}") for i in range(10)]
    assert guesses == [403] * 10
    assert slapd.count_ops().searches == 3  # the budget of 3, then nothing
    reasons = login_reasons(log_stream, "nobody-here")
    assert reasons == ["unknown_user"] * 52 + ["throttled"] * 8
    remembered = [e for e in log_events(log_stream) if e.get("login") == "nobody-here"][1]
    assert (remembered["guarded"], remembered["directory_asked"]) == (True, False)


@pytest.mark.openldap
async def test_guessing_flood_costs_at_most_the_budget(
    start_bridge: StartBridge, slapd: SlapdServer, log_stream: Any
) -> None:
    budget = 4
    client = await start_bridge(protection={"max_failures": budget, "failure_window": "1s"})
    clock = FakeClock(time.time())
    guard = client.server.app[RUNTIME].guard
    guard.clock = guard.store.clock = clock
    await warm(client)
    person = people.PEOPLE["user07"]
    slapd.reset_counts()
    statuses = [await login_status(client, person.login, f"guess {i}") for i in range(40)]
    assert statuses == [403] * 40
    ops = slapd.count_ops()
    assert ops.binds == budget
    assert ops.connections == 0
    reasons = login_reasons(log_stream, person.login)
    assert reasons == ["bad_password"] * budget + ["throttled"] * (40 - budget)
    # while the budget is spent even the right password is refused without asking
    slapd.reset_counts()
    assert await login_status(client, person.login, person.password) == 403
    assert slapd.count_ops().binds == 0
    clock.advance(1.5)  # the 1 s window passes
    assert await login_status(client, person.login, person.password) == 200


@pytest.mark.openldap
async def test_ppolicy_account_is_never_locked_even_by_a_too_high_budget(
    start_bridge: StartBridge, slapd: SlapdServer, log_stream: Any
) -> None:
    """'fragile' locks after 3 failures in slapd's strict ppolicy, whose failures never
    expire (pwdFailureCountInterval 0). Even with a budget of 10 the bridge sends at
    most 2 wrong passwords (threshold - 1), and a fresh process reading pwdFailureTime
    sends none: the account stays soft-locked (the right password too) until its
    failures are cleared, never locked."""
    person = people.PEOPLE["fragile"]
    slapd.unlock(person.dn)
    try:
        client = await start_bridge(protection={"max_failures": 10})
        for i in range(30):
            assert await login_status(client, person.login, f"wrong {i}") == 403
        assert len(slapd.read_attr(person.dn, "pwdFailureTime")) == 2
        assert slapd.read_attr(person.dn, "pwdAccountLockedTime") == []
        assert login_reasons(log_stream, person.login)[:3] == ["bad_password"] * 2 + ["throttled"]
        fresh = await start_bridge(protection={"max_failures": 10})
        await warm(fresh)
        slapd.reset_counts()
        assert await login_status(fresh, person.login, person.password) == 403
        assert login_reasons(log_stream, person.login)[-1] == "soft_locked"
        assert slapd.count_ops().binds == 0  # the password never went to slapd
        slapd.unlock(person.dn)  # an administrator clears the failures
        status = await login_status(fresh, person.login, person.password)
        assert status == 200, [(e["reason"], e.get("detail")) for e in log_events(log_stream)[-2:]]
    finally:
        slapd.unlock(person.dn)


# ---------------------------------------------------------------- Samba AD


def bad_password_count(dc: SambaDC, dn: str) -> int:
    return int((dc.read_attr(dn, "badPwdCount") or ["0"])[0])


def lockout_time(dc: SambaDC, dn: str) -> int:
    return int((dc.read_attr(dn, "lockoutTime") or ["0"])[0])


@pytest.mark.samba
async def test_samba_same_wrong_password_100_times_costs_one_bad_attempt(
    start_bridge_from: StartBridgeFrom, samba_dc: SambaDC, tmp_path: Path, log_stream: Any
) -> None:
    person = ad_people.LOCKME
    samba_dc.unlock(person.sam)
    try:
        before = bad_password_count(samba_dc, person.dn)
        client = await start_bridge_from(ad_raw(samba_dc, tmp_path))
        statuses = [
            await login_status(client, person.sam, "Old-Saved-Password-1") for _ in range(ATTEMPTS)
        ]
        assert statuses == [403] * ATTEMPTS, [
            (e.get("reason"), e.get("detail")) for e in log_events(log_stream)[-2:]
        ]
        after = bad_password_count(samba_dc, person.dn)
        assert after - before == 1, (before, after)
        assert lockout_time(samba_dc, person.dn) == 0
        reasons = login_reasons(log_stream, person.sam)
        assert reasons == ["bad_password"] + ["stale_password"] * (ATTEMPTS - 1)
        assert await login_status(client, person.sam, person.password) == 200
        print(
            f"\nSamba {person.sam}: {ATTEMPTS} identical wrong passwords -> badPwdCount "
            f"{before} -> {after}, lockoutTime {lockout_time(samba_dc, person.dn)}, "
            "then the right password: 200"
        )
    finally:
        samba_dc.unlock(person.sam)


@pytest.mark.samba
async def test_samba_guesses_through_every_login_form_share_one_budget(
    start_bridge_from: StartBridgeFrom, samba_dc: SambaDC, tmp_path: Path, log_stream: Any
) -> None:
    """Different wrong passwords typed as sam, DOMAIN\\sam and UPN: the account's budget
    (3, below lockme's threshold of 5) is spent once, not once per form."""
    person = ad_people.LOCKME
    samba_dc.unlock(person.sam)
    forms = [person.sam, f"{ad_people.NETBIOS_DOMAIN}\\{person.sam}", person.upn]
    clock = FakeClock(time.time())
    try:
        before = bad_password_count(samba_dc, person.dn)
        client = await ad_client(start_bridge_from, samba_dc, tmp_path, clock)
        statuses = [await login_status(client, forms[i % 3], f"Guess-{i}-x") for i in range(12)]
        assert statuses == [403] * 12
        after = bad_password_count(samba_dc, person.dn)
        assert after - before == 3, (before, after)
        assert lockout_time(samba_dc, person.dn) == 0
        reasons = [e["reason"] for e in log_events(log_stream) if e["event"] == "login"]
        assert reasons == ["bad_password"] * 3 + ["throttled"] * 9
        clock.advance(1801)  # the PSO's observation window passes (on the guard's clock)
        assert await login_status(client, person.upn, person.password) == 200
    finally:
        samba_dc.unlock(person.sam)


@pytest.fixture
def domain_threshold(samba_dc: SambaDC) -> Iterator[Callable[[str], None]]:
    """Set the domain's lockoutThreshold for one test, and put it back."""

    def set_threshold(value: str) -> None:
        option = f"--account-lockout-threshold={value}"
        samba_dc.samba_tool("domain", "passwordsettings", "set", option)

    original = (samba_dc.read_attr(ad_people.BASE_DN, "lockoutThreshold") or ["0"])[0]
    yield set_threshold
    set_threshold(original)


@pytest.mark.samba
@pytest.mark.parametrize("base_dn", [ad_people.BASE_DN, ad_people.STAFF_OU])
async def test_samba_budget_at_domain_lockout_threshold_warns(
    start_bridge_from: StartBridgeFrom,
    samba_dc: SambaDC,
    tmp_path: Path,
    log_stream: Any,
    domain_threshold: Callable[[str], None],
    base_dn: str,
) -> None:
    """The lockout policies are read at start-up from the domain root (found from the
    RootDSE, so an OU as base_dn finds it too) and the PSO container; a budget that
    reaches the lowest threshold, or a window shorter than the observation window,
    warns with what to set."""
    from bridge.process.wiring import check_lockout_budget
    from bridge.web.keys import RUNTIME

    domain_threshold("6")
    raw = deep_merge(ad_raw(samba_dc, tmp_path), {"directory": {"base_dn": base_dn}})
    found = []
    for protection in (
        {"max_failures": 2},
        {"max_failures": 4, "failure_window": "4s"},
        {"max_failures": 6},
    ):
        client = await start_bridge_from(raw, protection=protection)
        found.append(await check_lockout_budget(client.server.app[RUNTIME].service))
    assert found[0] == []
    assert found[1] == [
        "protection.max_failures (4) reaches the lockout threshold 3 of the policy "
        f"CN=PSO Lock Early,{ad_people.PSO_CONTAINER}: set it below 3",
        "protection.failure_window (4s) is shorter than the observation window of the "
        f'default policy {ad_people.BASE_DN} (1800s): set it to at least "30m"',
    ]
    assert len(found[2]) == 1
    warned = [e for e in log_events(log_stream) if e.get("event") == "lockout_budget_too_high"]
    assert [w["reason"] for w in warned] == [*found[1], *found[2]]


# ---------------------------------------------------------------- Samba: the real policy


@pytest.fixture
def wall_clock() -> FakeClock:
    """The guard's clock, starting now: AD's counters carry real times."""
    return FakeClock(time.time())


async def ad_client(
    start_bridge_from: StartBridgeFrom,
    samba_dc: SambaDC,
    tmp_path: Path,
    clock: FakeClock | None = None,
    **overrides: Any,
) -> Any:
    client = await start_bridge_from(ad_raw(samba_dc, tmp_path), **overrides)
    if clock is not None:
        guard = client.server.app[RUNTIME].guard
        guard.clock = clock
        guard.store.clock = clock
    return client


@pytest.fixture
def lockme(samba_dc: SambaDC) -> Iterator[ad_people.Person]:
    """lockme, whose PSO locks at 5 bad passwords, unlocked before and after."""
    samba_dc.unlock(ad_people.LOCKME.sam)
    yield ad_people.LOCKME
    samba_dc.unlock(ad_people.LOCKME.sam)


@pytest.mark.samba
async def test_samba_pso_user_never_locks_with_the_default_budget(
    start_bridge_from: StartBridgeFrom,
    samba_dc: SambaDC,
    tmp_path: Path,
    log_stream: Any,
    lockme: ad_people.Person,
    wall_clock: FakeClock,
) -> None:
    """The found bug: lockme's PSO locks at 5 and max_failures defaults to 5; eight
    distinct wrong passwords through the bridge locked the account. Now the account's
    budget is its PSO's threshold - 1, read with the user: the DC sees 4, never 5."""
    ad = ad_raw(samba_dc, tmp_path)
    del ad["protection"]  # the defaults: max_failures 5
    client = await start_bridge_from(ad)
    guard = client.server.app[RUNTIME].guard
    guard.clock = guard.store.clock = wall_clock
    statuses = [await login_status(client, lockme.sam, f"Guess-{i}-x") for i in range(8)]
    assert statuses == [403] * 8
    assert bad_password_count(samba_dc, lockme.dn) == ad_people.LOCKME_THRESHOLD - 1
    assert lockout_time(samba_dc, lockme.dn) == 0
    reasons = login_reasons(log_stream, lockme.sam)
    assert reasons == ["bad_password"] * 4 + ["throttled"] * 4
    wall_clock.advance(1801)  # the PSO's 30-minute observation window passes
    assert await login_status(client, lockme.sam, lockme.password) == 200
    assert bad_password_count(samba_dc, lockme.dn) == 0
    print(
        f"\nSamba lockme (PSO threshold {ad_people.LOCKME_THRESHOLD}), default budget: 8 "
        f"guesses -> badPwdCount {ad_people.LOCKME_THRESHOLD - 1}, lockoutTime 0, "
        f"reasons {reasons}"
    )


@pytest.mark.samba
async def test_samba_failures_from_a_workstation_count_too(
    start_bridge_from: StartBridgeFrom,
    samba_dc: SambaDC,
    tmp_path: Path,
    log_stream: Any,
    lockme: ad_people.Person,
) -> None:
    """The found bug: two wrong passwords typed on a workstation plus a few through the
    bridge locked the account. The bridge reads badPwdCount before each password once
    the account has failures, and stops at threshold - 1 (a soft lock)."""
    for attempt in range(2):  # a workstation, straight to the DC
        samba_dc.simple_bind_result(lockme.upn, f"Typed-On-A-Desk-{attempt}")
    assert bad_password_count(samba_dc, lockme.dn) == 2
    client = await ad_client(start_bridge_from, samba_dc, tmp_path, protection={"max_failures": 10})
    statuses = [await login_status(client, lockme.sam, f"Guess-{i}-x") for i in range(6)]
    assert statuses == [403] * 6
    assert bad_password_count(samba_dc, lockme.dn) == ad_people.LOCKME_THRESHOLD - 1
    assert lockout_time(samba_dc, lockme.dn) == 0
    events = [e for e in log_events(log_stream) if e.get("login") == lockme.sam]
    assert [e["reason"] for e in events] == ["bad_password"] * 2 + ["soft_locked"] * 4
    assert events[-1]["guarded"] is True
    assert "4 bad passwords counted on" in events[-1]["detail"]
    assert events[-1]["directory_asked"] is False or events[-1]["detail"]
    metrics = client.server.app[RUNTIME].metrics
    assert metrics.throttled.labels("soft_locked")._value.get() == 4


@pytest.mark.samba
async def test_samba_window_slides_and_is_never_shorter_than_the_domains(
    start_bridge_from: StartBridgeFrom,
    samba_dc: SambaDC,
    tmp_path: Path,
    log_stream: Any,
    lockme: ad_people.Person,
    wall_clock: FakeClock,
) -> None:
    """The found bug: max_failures 2, failure_window 4s, three rounds of two guesses
    4+ seconds apart: the DC saw 6 bad passwords and locked. Now the account's window
    is at least the PSO's observation window (30 min): the DC sees 2."""
    client = await ad_client(
        start_bridge_from,
        samba_dc,
        tmp_path,
        wall_clock,
        protection={"max_failures": 2, "failure_window": "4s"},
    )
    for round_ in range(3):
        for guess in range(2):
            assert await login_status(client, lockme.sam, f"R{round_}-G{guess}-x") == 403
        wall_clock.advance(5)
    assert bad_password_count(samba_dc, lockme.dn) == 2
    assert lockout_time(samba_dc, lockme.dn) == 0
    assert login_reasons(log_stream, lockme.sam) == ["bad_password"] * 2 + ["throttled"] * 4


@pytest.mark.samba
async def test_samba_same_wrong_password_through_every_form_costs_one(
    start_bridge_from: StartBridgeFrom,
    samba_dc: SambaDC,
    tmp_path: Path,
    log_stream: Any,
    lockme: ad_people.Person,
) -> None:
    """A stale password typed every way costs the account one bad attempt; the HMAC key
    that remembers it is a file (beside the config here), not the process's."""
    forms = [lockme.sam, f"{ad_people.NETBIOS_DOMAIN}\\{lockme.sam}", lockme.upn]
    client = await ad_client(start_bridge_from, samba_dc, tmp_path)
    for _ in range(5):
        for form in forms:
            assert await login_status(client, form, "Old-Saved-Password-1") == 403
    assert bad_password_count(samba_dc, lockme.dn) == 1
    key = tmp_path / "guard-key"  # the HMAC key is a file, the same for every instance
    assert key.stat().st_mode & 0o777 == 0o600
    assert client.server.app[RUNTIME].guard._key == key.read_bytes()


@pytest.mark.samba
async def test_samba_unreadable_pso_is_guarded_as_the_strictest(
    start_bridge_from: StartBridgeFrom,
    samba_dc: SambaDC,
    tmp_path: Path,
    log_stream: Any,
    lockme: ad_people.Person,
) -> None:
    """AD's default ACL hides PSOs from a plain service account (bob here): lockme's
    msDS-ResultantPSO is visible but not its threshold. The bridge then allows one
    failure per observation window and says so once in the log."""
    bob = ad_people.BOB
    directory = {
        "bind_dn": bob.dn,
        "bind_password_file": write_secret(tmp_path, "bob-password", bob.password),
    }
    first = await ad_client(start_bridge_from, samba_dc, tmp_path, directory=directory)
    for i in range(4):
        assert await login_status(first, lockme.sam, f"Guess-{i}-x") == 403
    assert bad_password_count(samba_dc, lockme.dn) == 1
    warned = [e for e in log_events(log_stream) if e["event"] == "lockout_policy_unreadable"]
    assert [w["policy"] for w in warned] == [f"CN=PSO Lock Later,{ad_people.PSO_CONTAINER}"]
    second = await ad_client(start_bridge_from, samba_dc, tmp_path, directory=directory)
    assert await login_status(second, lockme.sam, lockme.password) == 403
    assert login_reasons(log_stream, lockme.sam)[-1] == "soft_locked"
    assert bad_password_count(samba_dc, lockme.dn) == 1


@pytest.mark.samba
async def test_samba_direct_bind_failures_count_by_the_dn(
    start_bridge_from: StartBridgeFrom,
    samba_dc: SambaDC,
    tmp_path: Path,
    log_stream: Any,
    lockme: ad_people.Person,
) -> None:
    """No service account: the bind name is whatever was typed (a UPN or DOMAIN\\name).
    Once a bind has shown which DN a name is, failures through every name of that
    account spend one budget: the DC sees max_failures, not max_failures per name."""
    raw = ad_raw(samba_dc, tmp_path)
    directory = {
        k: v for k, v in raw["directory"].items() if k not in ("bind_dn", "bind_password_file")
    }
    directory.update(bind_template="{login}", accept_domain_prefix=False)
    raw = {**raw, "directory": directory, "protection": {"max_failures": 3}}
    client = await start_bridge_from(raw)
    forms = [lockme.upn, f"{ad_people.NETBIOS_DOMAIN}\\{lockme.sam}"]
    for form in forms:
        assert await login_status(client, form, lockme.password) == 200
    statuses = [await login_status(client, forms[i % 2], f"Guess-{i}-x") for i in range(8)]
    assert statuses == [403] * 8
    assert bad_password_count(samba_dc, lockme.dn) == 3
    assert lockout_time(samba_dc, lockme.dn) == 0
