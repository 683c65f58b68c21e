"""The bridge must never be the reason an account locks: a retried stale password costs
the directory one bad attempt, a guessing flood at most the failure budget. Counted on
the servers themselves: slapd's stats log and the Samba DC's own ``badPwdCount``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridge.config import Config
from tests.auth_client import login_status
from tests.conftest import (
    ad_raw,
    deep_merge,
    log_events,
    openldap_raw,
)
from tests.harness import ad_people
from tests.harness import openldap_people as people
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
    raw: dict[str, Any],
    make_config: Callable[..., Config],
    bridge_client: Any,
    slapd: SlapdServer,
    log_stream: Any,
) -> None:
    client = await bridge_client(make_config(raw))
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
async def test_guessing_flood_costs_at_most_the_budget(
    raw: dict[str, Any],
    make_config: Callable[..., Config],
    bridge_client: Any,
    slapd: SlapdServer,
    log_stream: Any,
) -> None:
    budget = 4
    client = await bridge_client(
        make_config(raw, protection={"max_failures": budget, "failure_window": "1s"})
    )
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
    await asyncio.sleep(1.5)  # let the 1 s window pass (not a timing assertion)
    assert await login_status(client, person.login, person.password) == 200


@pytest.mark.openldap
async def test_budget_below_ppolicy_threshold_never_locks(
    raw: dict[str, Any], make_config: Callable[..., Config], bridge_client: Any, slapd: SlapdServer
) -> None:
    """'fragile' locks after 3 failures in slapd's ppolicy; a budget of 2 protects it."""
    client = await bridge_client(make_config(raw, protection={"max_failures": 2}))
    person = people.PEOPLE["fragile"]
    try:
        for i in range(30):
            assert await login_status(client, person.login, f"wrong {i}") == 403
        client2 = await bridge_client(make_config(raw))  # a fresh process: fresh budget
        assert await login_status(client2, person.login, person.password) == 200
    finally:
        slapd.unlock(person.dn)


# ---------------------------------------------------------------- Samba AD


def bad_password_count(dc: SambaDC, dn: str) -> int:
    return int((dc.read_attr(dn, "badPwdCount") or ["0"])[0])


def lockout_time(dc: SambaDC, dn: str) -> int:
    return int((dc.read_attr(dn, "lockoutTime") or ["0"])[0])


@pytest.mark.samba
async def test_samba_same_wrong_password_100_times_costs_one_bad_attempt(
    samba_dc: SambaDC,
    tmp_path: Path,
    make_config: Callable[..., Config],
    bridge_client: Any,
    log_stream: Any,
) -> None:
    person = ad_people.LOCKME
    samba_dc.unlock(person.sam)
    try:
        before = bad_password_count(samba_dc, person.dn)
        client = await bridge_client(make_config(ad_raw(samba_dc, tmp_path)))
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
    samba_dc: SambaDC,
    tmp_path: Path,
    make_config: Callable[..., Config],
    bridge_client: Any,
    log_stream: Any,
) -> None:
    """Different wrong passwords typed as sam, DOMAIN\\sam and UPN: the account's budget
    (3, below lockme's threshold of 5) is spent once, not once per form."""
    person = ad_people.LOCKME
    samba_dc.unlock(person.sam)
    forms = [person.sam, f"{ad_people.NETBIOS_DOMAIN}\\{person.sam}", person.upn]
    try:
        before = bad_password_count(samba_dc, person.dn)
        raw = deep_merge(ad_raw(samba_dc, tmp_path), {"protection": {"failure_window": "3s"}})
        client = await bridge_client(make_config(raw))
        statuses = [await login_status(client, forms[i % 3], f"Guess-{i}-x") for i in range(12)]
        assert statuses == [403] * 12
        after = bad_password_count(samba_dc, person.dn)
        assert after - before == 3, (before, after)
        assert lockout_time(samba_dc, person.dn) == 0
        reasons = [e["reason"] for e in log_events(log_stream) if e["event"] == "login"]
        assert reasons == ["bad_password"] * 3 + ["throttled"] * 9
        await asyncio.sleep(3.5)  # the window passes (a wait, not a timing assertion)
        assert await login_status(client, person.upn, person.password) == 200
    finally:
        samba_dc.unlock(person.sam)


@pytest.mark.samba
async def test_samba_budget_at_domain_lockout_threshold_warns(
    samba_dc: SambaDC,
    tmp_path: Path,
    make_config: Callable[..., Config],
    bridge_client: Any,
    log_stream: Any,
) -> None:
    """The domain's lockoutThreshold is read at start-up; a budget that reaches it warns."""
    from bridge.service import check_lockout_budget
    from bridge.web.keys import RUNTIME

    def domain_threshold(value: str) -> None:
        option = f"--account-lockout-threshold={value}"
        samba_dc.samba_tool("domain", "passwordsettings", "set", option)

    original = (samba_dc.read_attr(ad_people.BASE_DN, "lockoutThreshold") or ["0"])[0]
    domain_threshold("6")
    try:
        raw = ad_raw(samba_dc, tmp_path)
        warned = []
        for budget in (5, 6):
            client = await bridge_client(make_config(raw, protection={"max_failures": budget}))
            assert await check_lockout_budget(client.server.app[RUNTIME].service) == 6
            warned.append(
                [e for e in log_events(log_stream) if e.get("event") == "lockout_budget_too_high"]
            )
        assert warned[0] == []  # a budget of 5 stays below 6
        assert len(warned[1]) == 1
        assert "set protection.max_failures below 6" in warned[1][0]["reason"]
    finally:
        domain_threshold(original)
