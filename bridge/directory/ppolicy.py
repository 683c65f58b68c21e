"""The password policy of OpenLDAP (draft-behera-ldap-password-policy): the response
control on binds, and where lockout state lives.

OpenLDAP's ppolicy overlay says *why* a bind failed (account locked, password expired)
and, on a bind that succeeded, that the password must be changed first
(``changeAfterReset``): such an account may bind but may do nothing else, so it is not
a usable login. ldap3 hands the control's value over undecoded; it is three small BER
elements, decoded here.

    PasswordPolicyResponseValue ::= SEQUENCE {
        warning [0] CHOICE { timeBeforeExpiration [0] INTEGER,
                             graceAuthNsRemaining [1] INTEGER } OPTIONAL,
        error   [1] ENUMERATED { passwordExpired(0), accountLocked(1),
                                 changeAfterReset(2), ... } OPTIONAL }

On a bind that succeeded, ``timeBeforeExpiration`` says the password expires soon:
the login is accepted, and the seconds go to the audit (``bridge.directory.expiry``).

Lockout: the entry's ``pwdPolicySubentry`` or a configured default policy holds
``pwdMaxFailure`` / ``pwdFailureCountInterval`` / ``pwdLockout``; the counters are the
entry's ``pwdFailureTime`` values and ``pwdAccountLockedTime``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from bridge.core.attributes import Attributes, first_value, values
from bridge.core.errors import Reason
from bridge.core.ports import LockoutPolicy
from bridge.directory.lockout_flavors import Counters, LockoutFlavor, integer

OID = "1.3.6.1.4.1.42.2.27.8.5.1"
#: The request control: no value, not critical (servers without ppolicy ignore it).
REQUEST = (OID, False, None)

_WARNING_TAG = 0xA0
_TIME_BEFORE_EXPIRATION_TAG = 0x80
_ERROR_TAG = 0x81
_ERRORS = {
    0: Reason.PASSWORD_EXPIRED,
    1: Reason.ACCOUNT_LOCKED,
    2: Reason.PASSWORD_MUST_CHANGE,
}


def policy_refusal(controls: Mapping[str, Any] | None) -> Reason | None:
    """The refusal the server's ppolicy control states, or None (also for garbage)."""
    error = _part(controls, _ERROR_TAG)
    return _ERRORS.get(int.from_bytes(error, "big")) if error is not None else None


def time_before_expiration(controls: Mapping[str, Any] | None) -> int | None:
    """Seconds until the password expires, when the server warns (OpenLDAP's
    ``pwdExpireWarning``, 389-ds's ``passwordWarning``); None otherwise."""
    warning = _part(controls, _WARNING_TAG)
    if not warning or warning[0] != _TIME_BEFORE_EXPIRATION_TAG:
        return None
    try:
        length, start = _length(warning, 1)
    except (IndexError, ValueError):
        return None
    return int.from_bytes(warning[start : start + length], "big")


def _part(controls: Mapping[str, Any] | None, wanted: int) -> bytes | None:
    """The content of one element of the control's SEQUENCE; None if absent or garbage."""
    value = ((controls or {}).get(OID) or {}).get("value")
    if not isinstance(value, bytes | bytearray):
        return None
    try:
        return _element(bytes(value), wanted)
    except (IndexError, ValueError):
        return None


def _element(value: bytes, wanted: int) -> bytes | None:
    if not value or value[0] != 0x30:
        return None
    length, position = _length(value, 1)
    end = position + length
    while position < end:
        tag = value[position]
        length, start = _length(value, position + 1)
        if tag == wanted:
            return value[start : start + length]
        position = start + length
    return None


def _length(data: bytes, position: int) -> tuple[int, int]:
    """BER definite length at ``position``: (length, where the content starts)."""
    first = data[position]
    if first < 0x80:
        return first, position + 1
    count = first & 0x7F
    if count == 0 or position + 1 + count > len(data):
        raise ValueError("unsupported BER length")
    return int.from_bytes(data[position + 1 : position + 1 + count], "big"), position + 1 + count


# -- lockout: pwdPolicySubentry or the default policy; pwdFailureTime ------------------
def generalized_time(text: str) -> float | None:
    """``20261129193000Z`` or ``20261129193000.123456Z`` as Unix time."""
    text = text.strip()
    if not text.endswith("Z"):
        return None
    whole, _, fraction = text[:-1].partition(".")
    try:
        moment = dt.datetime.strptime(whole, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    return moment.timestamp() + (float(f"0.{fraction}") if fraction.isdigit() else 0.0)


def lockout_policy(source: str, attributes: Attributes) -> LockoutPolicy:
    lockout = (first_value(attributes, "pwdLockout") or "FALSE").upper() == "TRUE"
    threshold = integer(attributes, "pwdMaxFailure") or 0
    interval = integer(attributes, "pwdFailureCountInterval") or 0
    return LockoutPolicy(threshold if lockout else 0, float(interval) or None, source)


def lockout_counters(attributes: Attributes, policy: LockoutPolicy, now: float) -> Counters:
    """The failure times still inside the policy's window (slapd keeps older ones)."""
    times = [t for t in map(generalized_time, values(attributes, "pwdFailureTime")) if t]
    if policy.window is not None:
        times = [t for t in times if now - t < policy.window]
    return Counters(
        failures=len(times),
        last_failure=max(times) if times else None,
        locked=bool(values(attributes, "pwdAccountLockedTime")),
    )


LOCKOUT = LockoutFlavor(
    entry_attributes=("pwdFailureTime", "pwdAccountLockedTime", "pwdPolicySubentry"),
    entry_policy_attribute="pwdPolicySubentry",
    policy_attributes=("pwdMaxFailure", "pwdFailureCountInterval", "pwdLockout"),
    policy=lockout_policy,
    counters=lockout_counters,
    default_policy_at_domain_root=False,
    default_policy_dn=None,
    policy_container=None,
    policy_filter="(objectClass=pwdPolicy)",
    pdc_emulator=False,
)
