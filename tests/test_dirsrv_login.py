"""End to end over real HTTP against the private 389 Directory Server: the ``389ds``
flavor reads each account state 389-ds reports, nested groups from its memberOf
plug-in, and the expiring-password warning, on both bind paths (the event-loop binder
with a service account, ldap3 in direct-bind mode).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.web.keys import RUNTIME
from tests.harness import dirsrv_people as people
from tests.harness.auth_client import DENIED, audit, expected_body, login
from tests.harness.configs import dirsrv_raw, without_service_account
from tests.harness.dirsrv import DirsrvServer
from tests.harness.in_process import StartBridge

pytestmark = pytest.mark.dirsrv


@pytest.fixture
def raw(dirsrv: DirsrvServer, tmp_path: Path) -> dict[str, Any]:
    return dirsrv_raw(dirsrv, tmp_path)


@pytest.fixture
def direct_raw(raw: dict[str, Any]) -> dict[str, Any]:
    return without_service_account(raw, f"uid={{login}},{people.PEOPLE_DN}")


@pytest.fixture
async def client(start_bridge: StartBridge) -> Any:
    return await start_bridge()


def expiring_logins(client: Any) -> float:
    value: float = client.server.app[RUNTIME].metrics.password_expiring._value.get()
    return value


@pytest.mark.parametrize("name", ["jdoe", "sally", "ulrich"])
async def test_login_answers_the_employee_number(client: Any, name: str) -> None:
    """sally is only in sales, which is nested in the allowed group."""
    person = people.PEOPLE[name]
    assert await login(client, name, person.password) == (200, expected_body(person))


@pytest.mark.parametrize(
    ("name", "password", "reason"),
    [
        ("jdoe", "wrong password", "bad_password"),
        ("nobody-here", "whatever", "unknown_user"),
        ("outsider", people.PEOPLE["outsider"].password, "not_in_allowed_group"),
        ("barred", people.PEOPLE["barred"].password, "in_denied_group"),
        ("disabled", people.PEOPLE["disabled"].password, "account_disabled"),
        ("disabled", "wrong password", "account_disabled"),
        ("expired", people.PEOPLE["expired"].password, "password_expired"),
        ("mustchange", people.PEOPLE["mustchange"].password, "password_must_change"),
    ],
)
async def test_denials_name_the_389_reason(
    client: Any, log_stream: Any, name: str, password: str, reason: str
) -> None:
    """53 "Account inactivated" for either password, 49 with the expired control, a
    bind that succeeded with changeAfterReset: each its own reason, one body for all."""
    assert await login(client, name, password) == (403, DENIED)
    event = audit(log_stream, name)
    assert event["reason"] == reason, event
    assert event.get("guarded") is None  # the directory said it, not the guard


async def test_locked_account_is_refused_without_sending_the_password(
    client: Any, log_stream: Any, dirsrv: DirsrvServer
) -> None:
    """The lockout counters come with the user search: accountUnlockTime ahead means
    locked, so the guard refuses before any bind (389 would say 19 to any password)."""
    locked = people.PEOPLE["locked"]
    before = dirsrv.read_attr(locked.dn, "passwordRetryCount")
    assert await login(client, "locked", locked.password) == (403, DENIED)
    event = audit(log_stream, "locked")
    assert (event["reason"], event["guarded"]) == ("account_locked", True)
    assert dirsrv.read_attr(locked.dn, "passwordRetryCount") == before


async def test_result_19_on_the_bind_is_account_locked(
    start_bridge: StartBridge, log_stream: Any, dirsrv: DirsrvServer
) -> None:
    """A cached entry is bound without reading counters: locked after the bridge last
    looked (wrong passwords typed elsewhere), 389 answers 19, for the right password."""
    person = people.PEOPLE["fragile"]
    dirsrv.unlock(person.dn)
    try:
        client = await start_bridge()
        assert (await login(client, "fragile", person.password))[0] == 200
        dirsrv.lock_out(person, people.GLOBAL_MAX_FAILURES)
        assert await login(client, "fragile", person.password) == (403, DENIED)
        event = audit(log_stream, "fragile")
        assert (event["reason"], event.get("guarded")) == ("account_locked", None), event
        assert "Exceed password retry limit" in event["detail"]
    finally:
        dirsrv.unlock(person.dn)


async def test_expiring_password_is_accepted_and_reported(
    start_bridge: StartBridge, log_stream: Any
) -> None:
    """389 binds with the expiring control (and ppolicy's timeBeforeExpiration); on its
    first warning it moves the expiry to passwordWarning (14 days) from now."""
    person = people.PEOPLE["expiring"]
    client = await start_bridge()
    assert await login(client, "expiring", person.password) == (200, expected_body(person))
    days = audit(log_stream, "expiring")["password_expires_in_days"]
    assert 0 < days <= people.PASSWORD_WARNING / 86400
    assert expiring_logins(client) == 1
    assert await login(client, "jdoe", people.PEOPLE["jdoe"].password) == (
        200,
        expected_body(people.PEOPLE["jdoe"]),
    )
    assert "password_expires_in_days" not in audit(log_stream, "jdoe")  # 10 years left
    assert expiring_logins(client) == 1
    quiet = await start_bridge(directory={"password_expiry_warning": "1d"})
    assert (await login(quiet, "expiring", person.password))[0] == 200
    assert "password_expires_in_days" not in audit(log_stream, "expiring")
    assert expiring_logins(quiet) == 0


# ---------------------------------------------------------------- direct bind (ldap3)


@pytest.mark.parametrize("name", ["jdoe", "sally"])
async def test_direct_bind_reads_entry_and_nested_groups(
    start_bridge_from: Any, direct_raw: dict[str, Any], name: str
) -> None:
    client = await start_bridge_from(direct_raw)
    person = people.PEOPLE[name]
    assert await login(client, name, person.password) == (200, expected_body(person))


@pytest.mark.parametrize(
    ("name", "password", "reason"),
    [
        ("jdoe", "wrong", "bad_password"),
        ("disabled", people.PEOPLE["disabled"].password, "account_disabled"),
        ("locked", people.PEOPLE["locked"].password, "account_locked"),
        ("expired", people.PEOPLE["expired"].password, "password_expired"),
        ("mustchange", people.PEOPLE["mustchange"].password, "password_must_change"),
        ("outsider", people.PEOPLE["outsider"].password, "not_in_allowed_group"),
    ],
)
async def test_direct_bind_denials(
    start_bridge_from: Any,
    direct_raw: dict[str, Any],
    log_stream: Any,
    name: str,
    password: str,
    reason: str,
) -> None:
    """The same reasons through ldap3's bind (its result dict and decoded controls)."""
    client = await start_bridge_from(direct_raw)
    assert await login(client, name, password) == (403, DENIED)
    assert audit(log_stream, name)["reason"] == reason


async def test_direct_bind_reports_an_expiring_password(
    start_bridge_from: Any, direct_raw: dict[str, Any], log_stream: Any
) -> None:
    client = await start_bridge_from(direct_raw)
    person = people.PEOPLE["expiring"]
    assert (await login(client, "expiring", person.password))[0] == 200
    assert 0 < audit(log_stream, "expiring")["password_expires_in_days"] <= 14
    assert expiring_logins(client) == 1
