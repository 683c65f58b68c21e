"""The password-policy response control (draft-behera-ldap-password-policy).

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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.core.errors import Reason

OID = "1.3.6.1.4.1.42.2.27.8.5.1"
#: The request control: no value, not critical (servers without ppolicy ignore it).
REQUEST = (OID, False, None)

_ERROR_TAG = 0x81
_ERRORS = {
    0: Reason.PASSWORD_EXPIRED,
    1: Reason.ACCOUNT_LOCKED,
    2: Reason.PASSWORD_MUST_CHANGE,
}


def policy_refusal(controls: Mapping[str, Any] | None) -> Reason | None:
    """The refusal the server's ppolicy control states, or None (also for garbage)."""
    value = ((controls or {}).get(OID) or {}).get("value")
    if not isinstance(value, bytes | bytearray):
        return None
    try:
        return _error(bytes(value))
    except (IndexError, ValueError):
        return None


def _error(value: bytes) -> Reason | None:
    if not value or value[0] != 0x30:
        return None
    length, position = _length(value, 1)
    end = position + length
    while position < end:
        tag = value[position]
        length, start = _length(value, position + 1)
        if tag == _ERROR_TAG:
            return _ERRORS.get(int.from_bytes(value[start : start + length], "big"))
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
