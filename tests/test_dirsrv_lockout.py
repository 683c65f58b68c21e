"""The bridge must never be the reason a 389-ds account locks: its lockout policy (the
global one on cn=config, or a per-user one named by ``pwdpolicysubentry``) and the
entry's ``passwordRetryCount`` hold the guard below the threshold, counted on the
server itself. The same promises as test_lockout_guard makes for slapd and Samba.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.process.wiring import check_lockout_budget
from bridge.web.keys import RUNTIME
from tests.harness import dirsrv_people as people
from tests.harness.auth_client import audit_events, login_status
from tests.harness.clock import FakeClock
from tests.harness.configs import dirsrv_raw, write_secret
from tests.harness.dirsrv import DirsrvServer
from tests.harness.in_process import StartBridge
from tests.harness.logs import log_events

pytestmark = pytest.mark.dirsrv


@pytest.fixture
def raw(dirsrv: DirsrvServer, tmp_path: Path) -> dict[str, Any]:
    return dirsrv_raw(dirsrv, tmp_path)


def retry_count(dirsrv: DirsrvServer, person: people.Person) -> int:
    return int((dirsrv.read_attr(person.dn, "passwordRetryCount") or ["0"])[0])


def locked(dirsrv: DirsrvServer, person: people.Person) -> bool:
    return bool(dirsrv.read_attr(person.dn, "accountUnlockTime"))


def reasons(stream: Any, login: str) -> list[str]:
    return [e["reason"] for e in audit_events(stream, login)]


@pytest.fixture
def fragile(dirsrv: DirsrvServer) -> Iterator[people.Person]:
    """fragile, under the global policy (locks at 3), unlocked before and after."""
    person = people.PEOPLE["fragile"]
    dirsrv.unlock(person.dn)
    yield person
    dirsrv.unlock(person.dn)


@pytest.fixture
def strict(dirsrv: DirsrvServer) -> Iterator[people.Person]:
    """strict, whose own policy locks at 2, unlocked before and after."""
    person = people.PEOPLE["strict"]
    dirsrv.unlock(person.dn)
    yield person
    dirsrv.unlock(person.dn)


async def test_global_policy_user_is_never_locked_by_a_higher_budget(
    start_bridge: StartBridge, dirsrv: DirsrvServer, log_stream: Any, fragile: people.Person
) -> None:
    """passwordMaxFailure 3 on cn=config, max_failures 5: eight guesses cost 389 two
    failed binds (threshold - 1); a fresh process reads passwordRetryCount and sends
    nothing, not even the right password, until the count is cleared."""
    client = await start_bridge(protection={"max_failures": 5})
    statuses = [await login_status(client, fragile.login, f"guess {i}") for i in range(8)]
    assert statuses == [403] * 8
    assert retry_count(dirsrv, fragile) == people.GLOBAL_MAX_FAILURES - 1
    assert not locked(dirsrv, fragile)
    assert reasons(log_stream, fragile.login) == ["bad_password"] * 2 + ["throttled"] * 6
    fresh = await start_bridge(protection={"max_failures": 5})
    assert await login_status(fresh, fragile.login, fragile.password) == 403
    last = audit_events(log_stream, fragile.login)[-1]
    assert (last["reason"], last["guarded"]) == ("soft_locked", True)
    assert "2 bad passwords counted" in last["detail"]
    assert "lockout at 3 (the default policy cn=config)" in last["detail"]
    assert retry_count(dirsrv, fragile) == 2  # the password never went to 389
    dirsrv.unlock(fragile.dn)  # an administrator clears the count
    assert await login_status(fresh, fragile.login, fragile.password) == 200


async def test_per_user_policy_is_read_through_pwdpolicysubentry(
    start_bridge: StartBridge, dirsrv: DirsrvServer, log_stream: Any, strict: people.Person
) -> None:
    """strict's own policy locks at 2: the bridge sends one wrong password, whatever
    the budget, and the window is its passwordResetFailureCount (15 minutes)."""
    client = await start_bridge(protection={"max_failures": 5, "failure_window": "1m"})
    clock = FakeClock(time.time())
    guard = client.server.app[RUNTIME].guard
    guard.clock = guard.store.clock = clock
    statuses = [await login_status(client, strict.login, f"guess {i}") for i in range(5)]
    assert statuses == [403] * 5
    assert retry_count(dirsrv, strict) == people.STRICT_MAX_FAILURES - 1
    assert reasons(log_stream, strict.login) == ["bad_password"] + ["throttled"] * 4
    clock.advance(120)  # past the bridge's own minute, inside the policy's 15
    assert await login_status(client, strict.login, "guess again") == 403
    assert retry_count(dirsrv, strict) == 1
    assert not locked(dirsrv, strict)


async def test_failures_typed_elsewhere_count_too(
    start_bridge: StartBridge, dirsrv: DirsrvServer, log_stream: Any, fragile: people.Person
) -> None:
    """Two wrong passwords straight to 389 (another application): the bridge reads
    passwordRetryCount with the user and sends none, so the third never happens."""
    for attempt in range(2):
        dirsrv.bind_result(fragile.dn, f"typed elsewhere {attempt}")
    assert retry_count(dirsrv, fragile) == 2
    client = await start_bridge(protection={"max_failures": 10})
    statuses = [await login_status(client, fragile.login, f"guess {i}") for i in range(3)]
    assert statuses == [403] * 3
    assert reasons(log_stream, fragile.login) == ["soft_locked"] * 3
    assert retry_count(dirsrv, fragile) == 2
    assert not locked(dirsrv, fragile)


async def test_budget_check_reads_cn_config_and_the_local_policies(
    start_bridge: StartBridge, dirsrv: DirsrvServer
) -> None:
    """At start-up (and in check-config) every policy the service account can see:
    cn=config's and each per-user policy entry (an ldapSubEntry, found by its class)."""
    (policy_dn,) = dirsrv.read_attr(people.PEOPLE["strict"].dn, "pwdpolicysubentry")
    (no_lockout_dn,) = dirsrv.read_attr(people.PEOPLE["mustchange"].dn, "pwdpolicysubentry")
    client = await start_bridge(protection={"max_failures": 5, "failure_window": "5m"})
    service = client.server.app[RUNTIME].service
    policies = {
        p.source: (p.threshold, p.window) for p in await service.directory.lockout_policies()
    }
    assert policies == {
        "the default policy cn=config": (people.GLOBAL_MAX_FAILURES, 600.0),
        f"the policy {policy_dn}": (people.STRICT_MAX_FAILURES, 900.0),
        f"the policy {no_lockout_dn}": (0, None),  # mustchange's: passwordLockout unset
    }
    assert await check_lockout_budget(service) == [
        "protection.max_failures (5) reaches the lockout threshold 2 of the policy "
        f"{policy_dn}: set it below 2",
        "protection.failure_window (300s) is shorter than the observation window of the "
        f'policy {policy_dn} (900s): set it to at least "15m"',
    ]


async def test_unreadable_cn_config_is_guarded_as_the_strictest(
    start_bridge: StartBridge,
    dirsrv: DirsrvServer,
    tmp_path: Path,
    log_stream: Any,
    fragile: people.Person,
) -> None:
    """Without the README's ACI, cn=config shows no attribute to the service account:
    the threshold is unknown, not "never locks". One failure, a warning, a soft lock."""
    directory = {
        "bind_dn": people.LIMITED_DN,
        "bind_password_file": write_secret(tmp_path, "limited", people.LIMITED_PASSWORD),
    }
    client = await start_bridge(directory=directory, protection={"max_failures": 5})
    statuses = [await login_status(client, fragile.login, f"guess {i}") for i in range(4)]
    assert statuses == [403] * 4
    assert retry_count(dirsrv, fragile) == 1
    assert reasons(log_stream, fragile.login) == ["bad_password"] + ["throttled"] * 3
    warned = [e for e in log_events(log_stream) if e["event"] == "lockout_policy_unreadable"]
    assert [w["policy"] for w in warned] == ["cn=config"]
