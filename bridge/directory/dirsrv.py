"""389 Directory Server (FreeIPA's directory, Red Hat Directory Server) details that are
data, not flow: what its bind results mean, the account flag, and where lockout state
lives.

389-ds refuses some accounts before it looks at the password, for the right password
and a wrong one alike, with a result code of its own:

* 53 unwillingToPerform "Account inactivated. Contact system administrator." for
  ``nsAccountLock: true`` (set on the entry, or through a role);
* 19 constraintViolation "Exceed password retry limit." once ``passwordMaxFailure``
  failed binds have locked the account (it locks on the failure that reaches it);
* on FreeIPA, whose own lockout plug-in counts Kerberos failures: 53 "Too many failed
  logins." or "Entry permanently locked.".

An expired password is result 49 with the Netscape password-expired control; a
password that expires within ``passwordWarning`` binds with the expiring control
(``bridge.directory.expiry`` reads both). It also answers the ppolicy control, which
calls an inactivated account "locked": the result code says better, so it wins.

Lockout: the global policy is attributes of ``cn=config`` (hidden from every user by
default: the service account needs an ACI to read them, see the README), a per-user
or per-subtree policy is an ``ldapSubEntry`` the entry names in ``pwdpolicysubentry``.
The counters are the entry's ``passwordRetryCount``, reset at ``retryCountResetTime``
(``passwordResetFailureCount`` after the *first* failure: a fixed window, not a
sliding one), and ``accountUnlockTime`` while locked (1970-01-01: until an
administrator unlocks).
"""

from __future__ import annotations

from bridge.core.attributes import Attributes, first_value, values
from bridge.core.errors import Reason
from bridge.core.ports import LockoutPolicy
from bridge.directory.lockout_flavors import Counters, LockoutFlavor, integer
from bridge.directory.ppolicy import generalized_time

#: Words of FreeIPA's lockout refusals (result 53, like an inactivated account).
_LOCKED_WORDS = ("failed logins", "locked")

#: Read with every user: the flag ``account_state`` judges.
STATE_ATTRIBUTES = ("nsAccountLock",)
#: Where the global password policy lives unless ``password_policy_dn`` says otherwise.
GLOBAL_POLICY_DN = "cn=config"
#: 389's defaults when a policy entry leaves an attribute out.
_DEFAULT_MAX_FAILURE = 3
_DEFAULT_RESET_FAILURE_COUNT = 600


def bind_refusal(code: int, message: str) -> Reason | None:
    """Why 389-ds refused the account before checking its password; None: not that."""
    if code == 19:
        return Reason.ACCOUNT_LOCKED
    if code == 53:
        locked = any(word in message.lower() for word in _LOCKED_WORDS)
        return Reason.ACCOUNT_LOCKED if locked else Reason.ACCOUNT_DISABLED
    return None


def account_state(attributes: Attributes) -> Reason | None:
    """``nsAccountLock: true`` (any case) disables the account."""
    flag = (first_value(attributes, "nsAccountLock") or "").strip().lower()
    return Reason.ACCOUNT_DISABLED if flag == "true" else None


def lockout_policy(source: str, attributes: Attributes) -> LockoutPolicy:
    """``cn=config`` or a local policy entry. A policy entry the service account may
    not read shows no attributes at all: its threshold is unknown (None), never
    "does not lock"; a readable one without ``passwordLockout`` does not lock."""
    lockout = first_value(attributes, "passwordLockout")
    if lockout is None and not values(attributes, "objectClass"):
        return LockoutPolicy(None, None, source)
    if (lockout or "off").strip().lower() not in ("on", "true"):
        return LockoutPolicy(0, None, source)
    threshold = integer(attributes, "passwordMaxFailure")
    window = integer(attributes, "passwordResetFailureCount")
    return LockoutPolicy(
        _DEFAULT_MAX_FAILURE if threshold is None else threshold,
        float(_DEFAULT_RESET_FAILURE_COUNT if window is None else window) or None,
        source,
    )


def lockout_counters(attributes: Attributes, policy: LockoutPolicy, now: float) -> Counters:
    """``passwordRetryCount`` while ``retryCountResetTime`` is ahead (389 resets it at the
    next bind after that); the reset moment is expressed as ``last_failure + window``,
    the shape the guard's soft lock reads."""
    reset_at = _moment(first_value(attributes, "retryCountResetTime"))
    failures = integer(attributes, "passwordRetryCount") or 0
    if reset_at is not None and reset_at <= now:
        failures = 0
    last_failure = None
    if reset_at is not None and policy.window is not None:
        last_failure = reset_at - policy.window
    unlock_at = _moment(first_value(attributes, "accountUnlockTime"))
    locked = unlock_at is not None and (unlock_at <= 0 or unlock_at > now)
    return Counters(failures=failures, last_failure=last_failure, locked=locked)


def _moment(text: str | None) -> float | None:
    return generalized_time(text) if text else None


LOCKOUT = LockoutFlavor(
    entry_attributes=(
        "passwordRetryCount",
        "retryCountResetTime",
        "accountUnlockTime",
        "pwdpolicysubentry",
    ),
    entry_policy_attribute="pwdpolicysubentry",
    policy_attributes=(
        "objectClass",
        "passwordLockout",
        "passwordMaxFailure",
        "passwordResetFailureCount",
    ),
    policy=lockout_policy,
    counters=lockout_counters,
    default_policy_at_domain_root=False,
    default_policy_dn=GLOBAL_POLICY_DN,
    policy_container=None,
    policy_filter="(&(objectClass=ldapSubEntry)(objectClass=passwordPolicy))",
    pdc_emulator=False,
)
