"""Where a kind of directory keeps its lockout rule and an account's counters.

Each preset (``bridge.directory.presets``) names a :class:`LockoutFlavor`: which
attributes of the user entry matter, where the account's policy lives and how to read
it, and how to read the counters. The flavors themselves are data beside the rest of
their directory kind: ``ad.LOCKOUT`` (``msDS-ResultantPSO`` or the domain root's
``lockoutThreshold``; ``badPwdCount``), ``ppolicy.LOCKOUT`` (``pwdPolicySubentry`` or
a configured default; ``pwdFailureTime``), ``dirsrv.LOCKOUT`` (``pwdpolicysubentry`` or
``cn=config``; ``passwordRetryCount``). Everything here is pure; the LDAP reads are
done by ``ldap/lockout.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bridge.core.attributes import Attributes, first_value, values
from bridge.core.ports import LockoutPolicy


def integer(attributes: Attributes, name: str) -> int | None:
    """The first value as an integer; None when absent or not a number."""
    found = first_value(attributes, name)
    try:
        return int(found) if found is not None else None
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

    #: read with the user (and when re-reading the counters)
    entry_attributes: tuple[str, ...]
    #: the entry's own policy DN (absent: the default policy applies)
    entry_policy_attribute: str
    #: read from the policy entry
    policy_attributes: tuple[str, ...]
    policy: Callable[[str, Attributes], LockoutPolicy]
    counters: Callable[[Attributes, LockoutPolicy, float], Counters]
    #: the default policy is the domain root (AD); else the configured policy DN, or
    #: failing that ``default_policy_dn``
    default_policy_at_domain_root: bool
    #: where the kind keeps its default policy (389-ds: cn=config); None: only where
    #: the configuration says (OpenLDAP's ppolicy_default has no fixed place)
    default_policy_dn: str | None
    #: where the other policies are listed: (base under the domain root or base_dn, filter)
    policy_container: str | None
    policy_filter: str
    #: counters are most complete on the PDC emulator (AD's badPwdCount)
    pdc_emulator: bool

    def policy_dn(self, attributes: Attributes) -> str | None:
        found = values(attributes, self.entry_policy_attribute)
        return found[0] if found else None


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
