"""Password expiry and 389-ds's bind answers, as pure logic: the controls' bytes as
389-ds sends them (recorded from the suite's server), AD's FILETIME, the order in
which a bind's answer is read, the 389 lockout data, and the login core's warning.

The same against the real servers: test_dirsrv_login, test_dirsrv_lockout and
test_ad_login's expiry test.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from typing import Any

import pytest
import structlog

from bridge.core.errors import LoginRejected, Reason
from bridge.core.outcomes import Accepted, Trace
from bridge.core.ports import LockoutPolicy, UserEntry
from bridge.directory import ad, dirsrv, expiry, ppolicy
from bridge.directory.ldap.transport import TransportFailure
from bridge.directory.ldap.verdict import judge
from bridge.directory.ppolicy import generalized_time
from bridge.directory.presets import PRESETS
from bridge.observability.audit import audit_login
from bridge.observability.logging import configure
from tests.harness.fakes import JANE_DN, PASSWORD, FakeDirectory, make_service

DIRSRV = PRESETS["389ds"]
OPENLDAP = PRESETS["openldap"]
USER = UserEntry("uid=jdoe,ou=people,dc=dirsrv,dc=test")

# What 389-ds 2.3 sent the suite, as the binder parses it (4-byte BER lengths).
PPOLICY_EXPIRED = {
    ppolicy.OID: {"criticality": False, "value": bytes.fromhex("308400000003810100")}
}
PPOLICY_LOCKED = {ppolicy.OID: {"criticality": False, "value": bytes.fromhex("308400000003810101")}}
PPOLICY_WARNING = {
    ppolicy.OID: {
        "criticality": False,
        "value": bytes.fromhex("30840000000ba084000000058003127500"),
    }
}
EXPIRED = {expiry.EXPIRED_OID: {"criticality": False, "value": b"0"}}
EXPIRING = {expiry.EXPIRING_OID: {"criticality": False, "value": b"1209600"}}


def failed(code: int, message: str = "") -> dict[str, Any]:
    return {"result": code, "message": message, "description": str(code)}


OK = {"result": 0, "message": "", "description": "success"}


# -- the controls ---------------------------------------------------------------------
def test_expiring_control_and_ppolicy_warning_give_the_seconds_left() -> None:
    assert expiry.seconds_left(EXPIRING) == 1_209_600
    assert expiry.seconds_left(PPOLICY_WARNING) == 1_209_600
    assert ppolicy.time_before_expiration(PPOLICY_WARNING) == 1_209_600
    assert expiry.seconds_left({**PPOLICY_EXPIRED}) is None
    assert expiry.seconds_left({expiry.EXPIRING_OID: {"value": b"soon"}}) is None
    assert expiry.seconds_left({expiry.EXPIRING_OID: {"value": None}}) is None
    assert expiry.seconds_left(None) is None
    assert ppolicy.time_before_expiration({ppolicy.OID: {"value": b"\x30\x84\x00"}}) is None


def test_expired_control_means_expired_when_refused_and_must_change_when_bound() -> None:
    assert expiry.expired_refusal(EXPIRED, bound=False) is Reason.PASSWORD_EXPIRED
    assert expiry.expired_refusal(EXPIRED, bound=True) is Reason.PASSWORD_MUST_CHANGE
    assert expiry.expired_refusal(EXPIRING, bound=True) is None


# -- the order a bind's answer is read in ---------------------------------------------
@pytest.mark.parametrize(
    ("result", "controls", "reason"),
    [
        # 389 calls an inactivated account "locked" in ppolicy: the result code wins
        (failed(53, "Account inactivated. Contact system administrator."), PPOLICY_LOCKED,
         Reason.ACCOUNT_DISABLED),
        (failed(19, "Exceed password retry limit. Please try later."), {}, Reason.ACCOUNT_LOCKED),
        # FreeIPA's own lockout plug-in refuses with 53 too
        (failed(53, "Too many failed logins.\n"), {}, Reason.ACCOUNT_LOCKED),
        (failed(53, "Entry permanently locked.\n"), {}, Reason.ACCOUNT_LOCKED),
        (failed(49, "password expired!"), {**PPOLICY_EXPIRED, **EXPIRED}, Reason.PASSWORD_EXPIRED),
        (failed(49, "password expired!"), EXPIRED, Reason.PASSWORD_EXPIRED),  # ppolicy not asked
        (failed(49), {}, Reason.BAD_PASSWORD),
    ],
)  # fmt: skip
def test_389_refusals(result: dict[str, Any], controls: dict[str, Any], reason: Reason) -> None:
    with pytest.raises(LoginRejected) as caught:
        judge(DIRSRV, USER, "ldap://ds", False, result, controls)
    assert caught.value.reason is reason
    assert caught.value.dn == USER.dn


def test_other_kinds_keep_their_reading_of_53_and_19() -> None:
    with pytest.raises(LoginRejected) as caught:
        judge(OPENLDAP, USER, "ldap://slapd", False, failed(53), {})
    assert caught.value.reason is Reason.BAD_PASSWORD
    with pytest.raises(TransportFailure):
        judge(OPENLDAP, USER, "ldap://slapd", False, failed(19), {})


def test_bound_with_the_expired_control_must_change_and_expiring_is_usable() -> None:
    with pytest.raises(LoginRejected) as caught:
        judge(DIRSRV, USER, "ldap://ds", True, OK, EXPIRED)
    assert caught.value.reason is Reason.PASSWORD_MUST_CHANGE
    assert judge(DIRSRV, USER, "ldap://ds", True, OK, {**EXPIRING, **PPOLICY_WARNING}) == 1_209_600
    assert judge(DIRSRV, USER, "ldap://ds", True, OK, {}) is None


def test_389_disabled_flag_is_noted_on_a_wrong_password() -> None:
    assert DIRSRV.account_state.reason({"nsAccountLock": ("TRUE",)}) is Reason.ACCOUNT_DISABLED
    assert DIRSRV.account_state.reason({"nsAccountLock": ("false",)}) is None
    assert DIRSRV.account_state.reason({}) is None


# -- AD: msDS-UserPasswordExpiryTimeComputed ------------------------------------------
def filetime(unix: float) -> str:
    return str(int((unix + 11_644_473_600) * 10_000_000))


def test_ad_expiry_is_read_from_the_entry() -> None:
    now = 1_800_000_000.0
    in_three_days = {"msDS-UserPasswordExpiryTimeComputed": (filetime(now + 3 * 86400),)}
    assert ad.password_expiry(in_three_days, now) == pytest.approx(3 * 86400)
    never = {"msDS-UserPasswordExpiryTimeComputed": (str(0x7FFFFFFFFFFFFFFF),)}
    assert ad.password_expiry(never, now) is None
    assert ad.password_expiry({"msDS-UserPasswordExpiryTimeComputed": ("0",)}, now) is None
    assert ad.password_expiry({}, now) is None
    past = {"msDS-UserPasswordExpiryTimeComputed": (filetime(now - 60),)}
    assert ad.password_expiry(past, now) == 0.0
    assert PRESETS["active_directory"].password_expiry.seconds_left(in_three_days, now) == (
        pytest.approx(3 * 86400)
    )
    assert PRESETS["active_directory"].password_expiry.attributes == ad.EXPIRY_ATTRIBUTES


# -- 389's lockout data ---------------------------------------------------------------
def test_389_policy_unreadable_off_and_on() -> None:
    assert dirsrv.lockout_policy("p", {}) == LockoutPolicy(None, None, "p")
    readable_off = {"objectClass": ("passwordpolicy",)}
    assert dirsrv.lockout_policy("p", readable_off) == LockoutPolicy(0, None, "p")
    on = {"passwordLockout": ("on",), "passwordMaxFailure": ("4",)}
    assert dirsrv.lockout_policy("p", on) == LockoutPolicy(4, 600.0, "p")  # 389's default
    on_with_window = {**on, "passwordResetFailureCount": ("900",)}
    assert dirsrv.lockout_policy("p", on_with_window) == LockoutPolicy(4, 900.0, "p")


def test_389_counters_reset_at_their_time_and_lock_until_unlocked() -> None:
    policy = LockoutPolicy(3, 600.0, "cn=config")
    now = generalized_time("20261129120000Z")
    assert now is not None
    counting = {"passwordRetryCount": ("2",), "retryCountResetTime": ("20261129120500Z",)}
    counters = dirsrv.lockout_counters(counting, policy, now)
    assert (counters.failures, counters.locked) == (2, False)
    assert counters.last_failure == now + 300 - 600  # the reset moment is last + window
    reset = {"passwordRetryCount": ("2",), "retryCountResetTime": ("20261129115959Z",)}
    assert dirsrv.lockout_counters(reset, policy, now).failures == 0
    for unlock, locked in (("20261129130000Z", True), ("20261129110000Z", False),
                           ("19700101000000Z", True)):  # fmt: skip
        state = dirsrv.lockout_counters({"accountUnlockTime": (unlock,)}, policy, now)
        assert state.locked is locked, unlock


# -- the core's warning, the audit field ------------------------------------------------
@pytest.mark.parametrize(("left", "warning", "expected"), [
    (3 * 86400.0, 14 * 86400.0, 3 * 86400.0),
    (20 * 86400.0, 14 * 86400.0, None),
    (3 * 86400.0, 0.0, None),  # off
    (None, 14 * 86400.0, None),
])  # fmt: skip
async def test_core_reports_only_what_is_within_the_warning(
    left: float | None, warning: float, expected: float | None
) -> None:
    directory = FakeDirectory()
    directory.add("jane", JANE_DN, PASSWORD)
    directory.entries["jane"] = replace(directory.entries["jane"], password_expires_in=left)
    service = make_service(directory)
    branch = service.branches["corp"]
    branch.policy = replace(branch.policy, password_expiry_warning=warning)
    outcome = await service.login("jane", PASSWORD)
    assert isinstance(outcome, Accepted)
    assert outcome.password_expires_in == expected


def test_audit_field_is_days_and_survives_redaction() -> None:
    """Its name holds "password": the redaction lets it through only as a number."""
    stream = io.StringIO()
    configure("json", "info", stream=stream)
    try:
        accepted = Accepted("jane", JANE_DN, ("101",), "Jane", None, None, 3.26 * 86400)
        audit_login(accepted, Trace(), 0.01, "127.0.0.1")
        structlog.get_logger("t").info("x", password_expires_in_days="leak")
    finally:
        structlog.reset_defaults()
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["password_expires_in_days"] == 3.3
    assert second["password_expires_in_days"] == "***"
