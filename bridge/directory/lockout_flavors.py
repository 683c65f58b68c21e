"""Where a directory keeps its lockout rule and an account's counters, as data.

Two flavors, one shape (a :class:`LockoutFlavor`): which attributes of the user entry
matter, where the account's policy lives and how to read it, and how to read the
counters. Everything here is pure; the LDAP reads are done by ``ldap.py``.

* Active Directory: the user's ``msDS-ResultantPSO`` (a fine-grained policy) or else
  the domain root's ``lockoutThreshold`` / ``lockOutObservationWindow``; counters
  ``badPwdCount`` / ``badPasswordTime`` and the computed lockout bit. Intervals are
  negative 100-ns counts, times are FILETIMEs.
* OpenLDAP ppolicy: the entry's ``pwdPolicySubentry`` or a configured default policy;
  ``pwdMaxFailure`` / ``pwdFailureCountInterval`` / ``pwdLockout``; counters are the
  entry's ``pwdFailureTime`` values and ``pwdAccountLockedTime``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bridge.core.ports import LockoutPolicy

Attributes = Mapping[str, Sequence[str]]

#: 1601-01-01 (FILETIME's epoch) to 1970-01-01, in seconds.
_FILETIME_EPOCH = 11_644_473_600
_UF_LOCKOUT = 0x10


def values(attributes: Attributes, name: str) -> Sequence[str]:
    """An attribute's values; names compare case-insensitively, as in LDAP."""
    lowered = name.lower()
    for key, found in attributes.items():
        if key.lower() == lowered:
            return found
    return ()


def _int(attributes: Attributes, name: str) -> int | None:
    found = values(attributes, name)
    try:
        return int(found[0]) if found else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Counters:
    failures: int
    last_failure: float | None
    locked: bool


@dataclass(frozen=True)
class LockoutFlavor:
    """How one directory kind stores lockout state: data and two parsers."""

    name: str
    #: read with the user (and when re-reading the counters)
    entry_attributes: tuple[str, ...]
    #: the entry's own policy DN (absent: the default policy applies)
    entry_policy_attribute: str
    #: read from the policy entry
    policy_attributes: tuple[str, ...]
    policy: Callable[[str, Attributes], LockoutPolicy]
    counters: Callable[[Attributes, LockoutPolicy, float], Counters]
    #: the default policy is the domain root (AD); else the configured policy DN
    default_policy_at_domain_root: bool
    #: where the other policies are listed: (base under the domain root or base_dn, filter)
    policy_container: str | None
    policy_filter: str
    #: counters are most complete on the PDC emulator (AD's badPwdCount)
    pdc_emulator: bool

    def policy_dn(self, attributes: Attributes) -> str | None:
        found = values(attributes, self.entry_policy_attribute)
        return found[0] if found else None


def _interval(attributes: Attributes, *names: str) -> float | None:
    """AD stores intervals as negative 100-ns counts."""
    for name in names:
        raw = _int(attributes, name)
        if raw is not None:
            return abs(raw) / 10_000_000 or None
    return None


def _ad_policy(source: str, attributes: Attributes) -> LockoutPolicy:
    """A PSO or the domain root. AD shows a PSO's entry to a reader that may not read
    its attributes: a missing threshold is "unknown" (None), never "never locks"."""
    threshold = _int(attributes, "msDS-LockoutThreshold")
    if threshold is None:
        threshold = _int(attributes, "lockoutThreshold")
    window = _interval(attributes, "msDS-LockoutObservationWindow", "lockOutObservationWindow")
    return LockoutPolicy(threshold, window, source)


def filetime(value: int | None) -> float | None:
    """A FILETIME as Unix time; 0 and absent mean never."""
    if not value:
        return None
    return value / 10_000_000 - _FILETIME_EPOCH


def _ad_counters(attributes: Attributes) -> Counters:
    computed = _int(attributes, "msDS-User-Account-Control-Computed") or 0
    return Counters(
        failures=_int(attributes, "badPwdCount") or 0,
        last_failure=filetime(_int(attributes, "badPasswordTime")),
        locked=bool(computed & _UF_LOCKOUT),
    )


def _ppolicy_policy(source: str, attributes: Attributes) -> LockoutPolicy:
    lockout = (values(attributes, "pwdLockout") or ["FALSE"])[0].upper() == "TRUE"
    threshold = _int(attributes, "pwdMaxFailure") or 0
    interval = _int(attributes, "pwdFailureCountInterval") or 0
    return LockoutPolicy(threshold if lockout else 0, float(interval) or None, source)


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


def _ppolicy_counters(attributes: Attributes, policy: LockoutPolicy, now: float) -> Counters:
    times = [t for t in map(generalized_time, values(attributes, "pwdFailureTime")) if t]
    if policy.window is not None:
        times = [t for t in times if now - t < policy.window]
    return Counters(
        failures=len(times),
        last_failure=max(times) if times else None,
        locked=bool(values(attributes, "pwdAccountLockedTime")),
    )


def budget_problems(
    max_failures: int, failure_window: float, policies: Sequence[LockoutPolicy]
) -> list[str]:
    """What is wrong with the bridge's own budget against the directory's policies.

    The bridge caps each account below its own threshold anyway; these are the
    settings an administrator should fix so the cap is not the only line.
    """
    problems = []
    locking = [p for p in policies if p.threshold]
    if locking:
        lowest = min(locking, key=lambda p: p.threshold or 0)
        if lowest.threshold is not None and max_failures >= lowest.threshold:
            problems.append(
                f"protection.max_failures ({max_failures}) reaches the lockout threshold "
                f"{lowest.threshold} of {lowest.source}: set it below {lowest.threshold}"
            )
    windows = [p for p in locking if p.window]
    if windows:
        longest = max(windows, key=lambda p: p.window or 0.0)
        if longest.window is not None and failure_window < longest.window:
            problems.append(
                f"protection.failure_window ({failure_window:g}s) is shorter than the "
                f"observation window of {longest.source} ({longest.window:g}s): set it to "
                f'at least "{_minutes(longest.window)}"'
            )
    return problems


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g}m" if seconds >= 60 else f"{seconds:g}s"


AD = LockoutFlavor(
    "active_directory",
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
    policy=lambda source, attributes: _ad_policy(source, attributes),
    counters=lambda attributes, policy, now: _ad_counters(attributes),
    default_policy_at_domain_root=True,
    policy_container="CN=Password Settings Container,CN=System",
    policy_filter="(objectClass=msDS-PasswordSettings)",
    pdc_emulator=True,
)
PPOLICY = LockoutFlavor(
    "ppolicy",
    entry_attributes=("pwdFailureTime", "pwdAccountLockedTime", "pwdPolicySubentry"),
    entry_policy_attribute="pwdPolicySubentry",
    policy_attributes=("pwdMaxFailure", "pwdFailureCountInterval", "pwdLockout"),
    policy=lambda source, attributes: _ppolicy_policy(source, attributes),
    counters=lambda attributes, policy, now: _ppolicy_counters(attributes, policy, now),
    default_policy_at_domain_root=False,
    policy_container=None,
    policy_filter="(objectClass=pwdPolicy)",
    pdc_emulator=False,
)
