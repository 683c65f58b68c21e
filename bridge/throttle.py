"""Keep the bridge from being the reason an AD account locks.

Two guards, both in memory, both bounded, neither ever holding a password:

* a failure budget per login inside a window (default 5 in 15 minutes, kept below
  the domain's lockout threshold): once spent, the directory is not asked again
  until the window passes; a success resets it;
* a stale-password guard: a wrong password is remembered as an HMAC under a
  per-process random key, so the same wrong password again (an app retrying an old
  saved password) is refused without costing the account another bad attempt.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache

from bridge.errors import Reason

_REMEMBERED_PER_LOGIN = 4


@dataclass
class _Budget:
    failures: int
    window_ends: float


class Throttle:
    """Failure budgets and remembered wrong passwords, keyed by normalised login."""

    def __init__(
        self,
        max_failures: int,
        window: float,
        stale_ttl: float,
        maxsize: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        key: bytes | None = None,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._key = key or secrets.token_bytes(32)
        self._budgets: TTLCache[str, _Budget] = TTLCache(maxsize, window, timer=clock)
        self._stale: TTLCache[str, tuple[bytes, ...]] = TTLCache(maxsize, stale_ttl, timer=clock)

    def _digest(self, login: str, password: str) -> bytes:
        message = login.encode() + b"\x00" + password.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def check(self, login: str, password: str) -> Reason | None:
        """A reason to refuse without asking the directory, or None to go ahead."""
        budget = self._budgets.get(login)
        spent = budget is not None and budget.failures >= self.max_failures
        if spent and budget is not None and self._clock() < budget.window_ends:
            return Reason.THROTTLED
        digest = self._digest(login, password)
        if any(hmac.compare_digest(digest, seen) for seen in self._stale.get(login, ())):
            return Reason.STALE_PASSWORD
        return None

    def record_failure(self, login: str, password: str) -> None:
        """The directory said the password is wrong: spend budget, remember the HMAC."""
        now = self._clock()
        budget = self._budgets.get(login)
        if budget is None or now >= budget.window_ends:
            budget = _Budget(0, now + self.window)
        budget.failures += 1
        self._budgets[login] = budget
        remembered = self._stale.get(login, ())
        self._stale[login] = (*remembered, self._digest(login, password))[-_REMEMBERED_PER_LOGIN:]

    def record_success(self, login: str) -> None:
        self._budgets.pop(login, None)
        self._stale.pop(login, None)

    def failures(self, login: str) -> int:
        budget = self._budgets.get(login)
        if budget is None or self._clock() >= budget.window_ends:
            return 0
        return budget.failures


def lockout_budget_problem(max_failures: int, lockout_threshold: int | None) -> str | None:
    """What is wrong when the failure budget reaches the domain's lockout threshold.

    0 or None means the domain never locks accounts, so any budget is safe.
    """
    if not lockout_threshold or max_failures < lockout_threshold:
        return None
    return (
        f"protection.max_failures ({max_failures}) reaches the domain's lockoutThreshold "
        f"({lockout_threshold}): set protection.max_failures below {lockout_threshold}, or "
        "apps retrying a stale password and people guessing can lock accounts"
    )
