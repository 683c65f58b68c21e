"""Keep the bridge from being the reason an account locks, or a secret is guessed.

One guard per process, owned by the Runtime so that its memory outlives reloads. It
serves four things with one mechanism (counters and fingerprints in a GuardStore):

* the typed login's failure budget: ``max_failures`` in a sliding ``failure_window``;
* the account's budget, shared by every way of typing its name, and capped by the
  directory's own policy: never more than ``threshold - 1`` failures, and a window
  never shorter than the directory's observation window;
* wrong passwords (and failed unknown logins) remembered as HMACs, so the same
  wrong password again is answered without asking the directory;
* Ringotel's own credentials: failures per source address, refused with 429.

It also turns what the directory says about an account (AD's ``badPwdCount``) into a
*soft lock*, as AD FS Extranet Lockout does: at ``threshold - 1`` no password goes to
the directory until the observation window has passed, so failures from workstations
count too.

Keys are HMACs of the subject under a key from a file, never of the process, so a
shared store sees the same keys from every instance and never a login name.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from bridge.core.errors import Reason
from bridge.core.ports import AccountLockout, LockoutPolicy, Refusal
from bridge.guard.store import GuardStore

#: Wrong passwords remembered per login or account (an app cycling old passwords).
REMEMBERED = 4
#: Store keys remembered per process (each a short string), before starting afresh.
_KEY_CACHE = 20_000


@dataclass(frozen=True)
class GuardLimits:
    """The guard's numbers, from ``[protection]``; a reload may change them in place."""

    max_failures: int = 5
    failure_window: float = 900.0
    stale_ttl: float = 900.0
    client_max_failures: int = 10
    client_window: float = 900.0
    alias_ttl: float = 3600.0


def account_limits(limits: GuardLimits, policy: LockoutPolicy | None) -> tuple[int, float]:
    """The account's failure budget and window under the directory's policy.

    Below the threshold (an unknown threshold counts as the strictest, 2), and never a
    window shorter than the directory's observation window: otherwise a fresh window
    would open while the directory still counts the old failures.
    """
    budget, window = limits.max_failures, limits.failure_window
    if policy is None:
        return budget, window
    if policy.threshold is None:
        budget = 1
    elif policy.threshold > 0:
        budget = min(budget, max(1, policy.threshold - 1))
    return budget, max(window, policy.window or 0.0)


def directory_refusal(state: AccountLockout | None, now: float) -> Refusal | None:
    """The soft lock: what the directory's own counters say, before a password is sent."""
    if state is None:
        return None
    if state.locked:
        where = state.server or "the directory"
        return Refusal(Reason.ACCOUNT_LOCKED, f"locked on {where}", server=state.server)
    failures = state.failures or 0
    threshold = state.policy.threshold
    if failures == 0 or threshold == 0:
        return None
    guard_at = 1 if threshold is None else max(1, threshold - 1)
    if failures < guard_at:
        return None
    window = state.policy.window
    if window is None or state.last_failure is None:
        remaining = math.inf
    else:
        remaining = state.last_failure + window - now
        if remaining <= 0:
            return None  # the directory no longer counts those failures
    detail = (
        f"{failures} bad passwords counted on {state.server or 'the directory'}, lockout at "
        f"{threshold if threshold is not None else 'an unreadable threshold'} "
        f"({state.policy.source})"
    )
    retry = None if math.isinf(remaining) else remaining
    return Refusal(Reason.SOFT_LOCKED, detail, retry, state.server)


class Guard:
    """Failure budgets, remembered failures and client limits over one GuardStore."""

    def __init__(
        self,
        store: GuardStore,
        key: bytes,
        limits: GuardLimits,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._key = key
        self._keys: dict[tuple[str, str], str] = {}
        self.limits = limits
        #: wall-clock seconds; the directory's counters carry wall-clock times too
        self.clock = clock

    def update(self, limits: GuardLimits) -> None:
        """A reload changed ``[protection]``: new numbers, same memory."""
        self.limits = limits

    def _budget(self, budget: int) -> int:
        """This guard's part of a budget: all of it with a shared store, 1/N of it when
        N processes each keep their own memory (never below 1)."""
        return max(1, budget // self.store.share)

    def _hmac(self, *parts: str) -> bytes:
        """A keyed BLAKE2b (a MAC by design, RFC 7693): one C call, where the hmac
        module's SHA-256 construction costs several Python-level steps per login."""
        message = b"\x00".join(p.encode("utf-8", "surrogatepass") for p in parts)
        return hashlib.blake2b(message, key=self._key, digest_size=32).digest()

    def _k(self, kind: str, subject: str) -> str:
        """The store key of ``subject``; remembered, since every login asks for the same
        few keys several times (bounded: cleared when it grows past ``_KEY_CACHE``)."""
        cached = self._keys.get((kind, subject))
        if cached is None:
            if len(self._keys) >= _KEY_CACHE:
                self._keys.clear()
            cached = f"{kind}:{self._hmac(kind, subject)[:16].hex()}"
            self._keys[kind, subject] = cached
        return cached

    # -- logins -----------------------------------------------------------------------
    async def before_login(self, login: str, password: str) -> Refusal | None:
        """Checked for the typed login before the directory is asked anything."""
        spent = await self._spent(self._k("login", login), self._budget(self.limits.max_failures))
        if spent is not None:
            return spent
        fingerprint = self._hmac("password", login, password)
        if await self.store.marked(self._k("unknown", login), fingerprint):
            return Refusal(Reason.UNKNOWN_USER, "failed before; the directory was not asked")
        if await self.store.marked(self._k("stale", login), fingerprint):
            return Refusal(Reason.STALE_PASSWORD)
        return None

    async def before_password(
        self, account: str, password: str, policy: LockoutPolicy | None
    ) -> Refusal | None:
        """Checked for the account (by DN) before its password goes to the directory."""
        budget, _ = account_limits(self.limits, policy)
        spent = await self._spent(self._k("account", account), self._budget(budget))
        if spent is not None:
            return spent
        if await self.store.marked(
            self._k("stale", account), self._hmac("password", account, password)
        ):
            return Refusal(Reason.STALE_PASSWORD)
        return None

    def directory_refusal(self, state: AccountLockout | None) -> Refusal | None:
        return directory_refusal(state, self.clock())

    async def recent_failures(self, account: str) -> bool:
        """Whether the account has failed through this guard inside its window."""
        return await self.store.count(self._k("account", account)) is not None

    async def bad_password(
        self, login: str, account: str, password: str, policy: LockoutPolicy | None
    ) -> None:
        """The directory said the password is wrong: spend both budgets, remember it."""
        limits = self.limits
        budget, window = account_limits(limits, policy)
        login_budget = self._budget(limits.max_failures)
        await self.store.hit(self._k("login", login), limits.failure_window, login_budget)
        await self.store.hit(self._k("account", account), window, self._budget(budget))
        for subject in (login, account):
            fingerprint = self._hmac("password", subject, password)
            await self.store.mark(
                self._k("stale", subject), fingerprint, limits.stale_ttl, REMEMBERED
            )

    async def unknown_login(self, login: str, password: str) -> None:
        """Nobody has that name: spend the login's budget and remember the attempt, so
        repeating it is answered from memory, as fast as a known user's repeat."""
        limits = self.limits
        login_budget = self._budget(limits.max_failures)
        await self.store.hit(self._k("login", login), limits.failure_window, login_budget)
        fingerprint = self._hmac("password", login, password)
        await self.store.mark(self._k("unknown", login), fingerprint, limits.stale_ttl, REMEMBERED)

    async def good_password(self, login: str, account: str) -> None:
        """A success proves the earlier failures were typos, not an attack."""
        await self.store.clear(
            self._k("login", login),
            self._k("stale", login),
            self._k("unknown", login),
            self._k("account", account),
            self._k("stale", account),
        )

    async def _spent(self, key: str, budget: int) -> Refusal | None:
        count = await self.store.count(key)
        if count is None or count.value < budget:
            return None
        return Refusal(
            Reason.THROTTLED,
            f"{count.value} failures, budget {budget}",
            max(0.0, count.expires - self.clock()),
        )

    # -- direct bind ------------------------------------------------------------------
    async def alias(self, bind_name: str) -> str | None:
        """The DN a direct-bind name turned out to be, once a bind has shown it."""
        return await self.store.get(self._k("alias", bind_name))

    async def remember_alias(self, bind_name: str, dn: str) -> None:
        await self.store.put(self._k("alias", bind_name), dn, self.limits.alias_ttl)

    # -- Ringotel's own credentials ---------------------------------------------------
    async def client_refusal(self, source: str) -> Refusal | None:
        """A source address that has guessed too often is refused without checking."""
        budget = self._budget(self.limits.client_max_failures)
        return await self._spent(self._k("client", source), budget)

    async def client_failed(self, source: str) -> None:
        limits = self.limits
        budget = self._budget(limits.client_max_failures)
        await self.store.hit(self._k("client", source), limits.client_window, budget)
