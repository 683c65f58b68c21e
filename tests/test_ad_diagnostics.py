"""Active Directory bind diagnostics, SIDs and binary filter values."""

from __future__ import annotations

import struct

import pytest

from bridge.core.errors import Reason
from bridge.directory.ad import (
    UF_ACCOUNTDISABLE,
    UF_LOCKOUT,
    UF_PASSWORD_EXPIRED,
    account_state_reason,
    bind_failure_reason,
)
from bridge.directory.ldap.filters import escape_bytes


def ad_message(code: str) -> str:
    """What Windows Server answers to a failed simple bind (result 49), NUL included."""
    return (
        "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, "
        f"data {code}, v4563\x00"
    )


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("52e", Reason.BAD_PASSWORD),
        ("525", Reason.UNKNOWN_USER),
        ("530", Reason.LOGON_HOURS),
        ("531", Reason.WORKSTATION),
        ("532", Reason.PASSWORD_EXPIRED),
        ("533", Reason.ACCOUNT_DISABLED),
        ("568", Reason.ACCOUNT_DISABLED),
        ("701", Reason.ACCOUNT_EXPIRED),
        ("773", Reason.PASSWORD_MUST_CHANGE),
        ("775", Reason.ACCOUNT_LOCKED),
    ],
)
def test_bind_failure_reason_for_each_code(code: str, reason: Reason) -> None:
    assert bind_failure_reason(ad_message(code)) is reason
    assert bind_failure_reason(ad_message(code.upper())) is reason


def test_samba_spelling() -> None:
    message = (
        "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 775, v1db1"
    )
    assert bind_failure_reason(message) is Reason.ACCOUNT_LOCKED


@pytest.mark.parametrize(
    "message",
    [
        "",
        "invalidCredentials",
        ad_message("999"),  # an unknown code
        "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, v4563",
        "8009030C: LdapErr: DSID-0C0906D2, comment: AcceptSecurityContext error, data 0, v2580",
        "metadata 775",  # not the word "data"
    ],
)
def test_no_precise_code_means_bad_password(message: str) -> None:
    assert bind_failure_reason(message) is Reason.BAD_PASSWORD


@pytest.mark.parametrize(
    ("uac", "computed", "reason"),
    [
        (0x200, 0, None),
        (0x200 | UF_ACCOUNTDISABLE, 0, Reason.ACCOUNT_DISABLED),
        (0x200, UF_LOCKOUT, Reason.ACCOUNT_LOCKED),
        (0x200, UF_PASSWORD_EXPIRED, Reason.PASSWORD_EXPIRED),
        (0x200 | UF_ACCOUNTDISABLE, UF_LOCKOUT, Reason.ACCOUNT_DISABLED),
    ],
)
def test_account_state_reason(uac: int, computed: int, reason: Reason | None) -> None:
    assert account_state_reason(uac, computed) is reason


def sid_bytes(authority: int, *subs: int) -> bytes:
    return (
        bytes([1, len(subs)]) + authority.to_bytes(6, "big") + struct.pack(f"<{len(subs)}I", *subs)
    )


def test_escape_bytes() -> None:
    assert escape_bytes(b"") == ""
    assert escape_bytes(b"\x01\x05\x00\xff") == "\\01\\05\\00\\ff"
    assert escape_bytes(b"(*)\\") == "\\28\\2a\\29\\5c"
    assert escape_bytes(b"ab") == "\\61\\62"  # every byte, even printable ones


def test_escaped_sid_is_a_filter_value() -> None:
    raw = sid_bytes(5, 21, 1, 2, 3, 1013)
    escaped = escape_bytes(raw)
    assert len(escaped) == 3 * len(raw)
    assert bytes(int(escaped[i + 1 : i + 3], 16) for i in range(0, len(escaped), 3)) == raw
    assert not set(escaped) & set("()*\x00")
