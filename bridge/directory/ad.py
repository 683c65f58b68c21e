"""Active Directory details that are data, not flow: bind diagnostics, SIDs, flags.

AD answers every failed simple bind with result 49 and a message such as
``80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 533,
v4563``; the ``data`` code says why. The specific codes appear only when the password
was right (775, locked, appears always), so mapping them leaks nothing.
"""

from __future__ import annotations

import re

from bridge.core.errors import Reason

_DATA = re.compile(r"\bdata ([0-9a-f]{3,8})\b", re.IGNORECASE)

BIND_DIAGNOSTICS: dict[str, Reason] = {
    "52e": Reason.BAD_PASSWORD,
    "525": Reason.UNKNOWN_USER,
    "530": Reason.LOGON_HOURS,
    "531": Reason.WORKSTATION,
    "532": Reason.PASSWORD_EXPIRED,
    "533": Reason.ACCOUNT_DISABLED,
    "568": Reason.ACCOUNT_DISABLED,  # too many SIDs in the token
    "701": Reason.ACCOUNT_EXPIRED,
    "773": Reason.PASSWORD_MUST_CHANGE,
    "775": Reason.ACCOUNT_LOCKED,
}

# userAccountControl / msDS-User-Account-Control-Computed bits
UF_ACCOUNTDISABLE = 0x2
UF_LOCKOUT = 0x10
UF_PASSWORD_EXPIRED = 0x800000


def bind_failure_reason(message: str) -> Reason:
    """The precise reason in an AD bind diagnostic; BAD_PASSWORD when there is none."""
    match = _DATA.search(message or "")
    if match is None:
        return Reason.BAD_PASSWORD
    return BIND_DIAGNOSTICS.get(match.group(1).lower(), Reason.BAD_PASSWORD)


def account_state_reason(uac: int, computed: int) -> Reason | None:
    """Flags that make a successfully bound account unusable anyway."""
    if uac & UF_ACCOUNTDISABLE:
        return Reason.ACCOUNT_DISABLED
    if computed & UF_LOCKOUT:
        return Reason.ACCOUNT_LOCKED
    if computed & UF_PASSWORD_EXPIRED:
        return Reason.PASSWORD_EXPIRED
    return None


def escape_binary(raw: bytes) -> str:
    """Binary value for an LDAP filter: every byte as ``\\xx`` (RFC 4515)."""
    return "".join(f"\\{b:02x}" for b in raw)
