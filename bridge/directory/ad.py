"""Active Directory details that are data, not flow: bind diagnostics, account flags,
how a directly bound user finds their own entry, and where lockout state lives.

AD answers every failed simple bind with result 49 and a message such as
``80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 533,
v4563``; the ``data`` code says why. The specific codes appear only when the password
was right (775, locked, appears always), so mapping them leaks nothing.

Everything here is pure; ``bridge.directory.presets`` puts it together as the
``active_directory`` preset.
"""

from __future__ import annotations

import re

from bridge.core.attributes import Attributes
from bridge.core.errors import Reason
from bridge.core.ports import LockoutPolicy
from bridge.directory.ldap import filters
from bridge.directory.lockout_flavors import Counters, LockoutFlavor, integer

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

#: Read with every user: the flags ``account_state`` judges.
STATE_ATTRIBUTES = ("userAccountControl", "msDS-User-Account-Control-Computed")
#: 1601-01-01 (FILETIME's epoch) to 1970-01-01, in seconds.
_FILETIME_EPOCH = 11_644_473_600
#: Read with every user: when the password expires, as the DC computes it from
#: ``pwdLastSet`` and the resulting policy's maximum age (a PSO's or the domain's).
EXPIRY_ATTRIBUTES = ("msDS-UserPasswordExpiryTimeComputed",)
#: Its value for a password that never expires (no maximum age, DONT_EXPIRE_PASSWD).
_NEVER = 0x7FFFFFFFFFFFFFFF


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


def account_state(attributes: Attributes) -> Reason | None:
    """``account_state_reason`` of an entry read with ``STATE_ATTRIBUTES``."""
    uac, computed = (integer(attributes, name) or 0 for name in STATE_ATTRIBUTES)
    return account_state_reason(uac, computed)


def password_expiry(attributes: Attributes, now: float) -> float | None:
    """Seconds until the password expires; None when it never does, or the entry was
    read without the attribute (0 means "must change now": the bind says 773 then)."""
    raw = integer(attributes, EXPIRY_ATTRIBUTES[0])
    moment = filetime(raw) if raw and raw < _NEVER else None
    return max(0.0, moment - now) if moment is not None else None


def self_filter(bind_name: str) -> str:
    """Find a directly bound AD user by the name it bound with (AD has no usable
    WhoAmI: Samba lacks it, Windows answers ``u:CORP\\alice``, not a DN).

    ``CORP\\alice`` is a sAMAccountName; ``alice@corp.example`` is a userPrincipalName,
    or AD's implicit one (sAMAccountName@dns-domain) when the attribute is not set.
    """
    if "@" in bind_name:
        local = bind_name.rpartition("@")[0]
        upn = filters.equals("userPrincipalName", bind_name)
        return filters.any_of([upn, filters.equals("sAMAccountName", local)])
    return filters.equals("sAMAccountName", bind_name.rpartition("\\")[2])


# -- lockout: the PSO or the domain root; badPwdCount --------------------------------
def filetime(value: int | None) -> float | None:
    """A FILETIME as Unix time; 0 and absent mean never."""
    if not value:
        return None
    return value / 10_000_000 - _FILETIME_EPOCH


def _interval(attributes: Attributes, *names: str) -> float | None:
    """AD stores intervals as negative 100-ns counts."""
    for name in names:
        raw = integer(attributes, name)
        if raw is not None:
            return abs(raw) / 10_000_000 or None
    return None


def lockout_policy(source: str, attributes: Attributes) -> LockoutPolicy:
    """A PSO or the domain root. AD shows a PSO's entry to a reader that may not read
    its attributes: a missing threshold is "unknown" (None), never "never locks"."""
    threshold = integer(attributes, "msDS-LockoutThreshold")
    if threshold is None:
        threshold = integer(attributes, "lockoutThreshold")
    window = _interval(attributes, "msDS-LockoutObservationWindow", "lockOutObservationWindow")
    return LockoutPolicy(threshold, window, source)


def lockout_counters(attributes: Attributes, policy: LockoutPolicy, now: float) -> Counters:
    """``badPwdCount`` as the DC counts it (the DC applies the window itself)."""
    computed = integer(attributes, "msDS-User-Account-Control-Computed") or 0
    return Counters(
        failures=integer(attributes, "badPwdCount") or 0,
        last_failure=filetime(integer(attributes, "badPasswordTime")),
        locked=bool(computed & UF_LOCKOUT),
    )


LOCKOUT = LockoutFlavor(
    entry_attributes=(
        "badPwdCount",
        "badPasswordTime",
        "lockoutTime",
        "msDS-User-Account-Control-Computed",
        "msDS-ResultantPSO",
    ),
    entry_policy_attribute="msDS-ResultantPSO",
    policy_attributes=(
        "lockoutThreshold",
        "lockOutObservationWindow",
        "msDS-LockoutThreshold",
        "msDS-LockoutObservationWindow",
    ),
    policy=lockout_policy,
    counters=lockout_counters,
    default_policy_at_domain_root=True,
    default_policy_dn=None,
    policy_container="CN=Password Settings Container,CN=System",
    policy_filter="(objectClass=msDS-PasswordSettings)",
    pdc_emulator=True,
)
