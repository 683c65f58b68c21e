"""The use case: throttle -> find -> bind -> groups -> usernames -> outcome.

Plain code: it knows the Directory protocol, never aiohttp or ldap3. Three outcomes,
kept apart all the way up: Accepted, Rejected(reason), Unavailable. Only the third is
"we could not tell", and it is never reported as a wrong password.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache

from bridge.core.attributes import first_value
from bridge.core.dn import normalize_dn
from bridge.core.errors import DirectoryMisconfigured, DirectoryUnavailable, LoginRejected, Reason
from bridge.core.groups import GroupCache, GroupPolicy
from bridge.core.outcomes import Accepted, Outcome, Rejected, Trace, Unavailable
from bridge.core.ports import AccountLockout, Directory, Guard, Refusal, UserEntry
from bridge.core.typed_login import LoginRules, fold_login, normalize_login
from bridge.core.unique_usernames import UniqueUsernames
from bridge.core.usernames import Rule, build_usernames


def account_key(dn: str) -> str:
    """Guard subject of an account; cannot collide with a typed login's subject."""
    return "dn:" + normalize_dn(dn)


@dataclass(frozen=True)
class LoginPolicy:
    """Everything a login decision depends on, built once from settings."""

    rules: LoginRules
    group_policy: GroupPolicy
    username_rules: tuple[Rule, ...]
    display_name_attribute: str
    #: an accepted password that expires within this many seconds is reported (audit,
    #: metrics) so administrators can warn its owner; 0: never
    password_expiry_warning: float = 0.0


class LoginService:
    """Decides one login. One instance per loaded config; the guard outlives it."""

    def __init__(
        self,
        directory: Directory,
        policy: LoginPolicy,
        guard: Guard,
        group_cache: GroupCache,
        user_cache_ttl: float = 0.0,
        user_cache_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        unique: UniqueUsernames | None = None,
    ) -> None:
        self.directory = directory
        self.policy = policy
        self.guard = guard
        self.group_cache = group_cache
        self.unique = (
            unique if unique is not None else UniqueUsernames(directory, policy.username_rules)
        )
        self._users: TTLCache[str, UserEntry] | None = (
            TTLCache(user_cache_size, user_cache_ttl, timer=clock) if user_cache_ttl > 0 else None
        )

    async def login(
        self,
        typed: str,
        password: str,
        trace: Trace | None = None,
        deadline: float | None = None,
    ) -> Outcome:
        """Decide one login; with ``deadline`` (seconds), no answer in time is Unavailable."""
        trace = trace if trace is not None else Trace()
        try:
            async with asyncio.timeout(deadline):
                return await self._login(typed, password, trace)
        except TimeoutError:
            trace.note("request deadline reached")
            return Unavailable(f"no answer within the request deadline ({deadline}s)", typed)
        except LoginRejected as exc:
            trace.note(f"refused: {exc.reason}" + (f" ({exc.detail})" if exc.guarded else ""))
            return Rejected(
                exc.reason, typed, exc.detail, dn=exc.dn, server=exc.server, guarded=exc.guarded
            )
        except DirectoryUnavailable as exc:
            trace.note(f"directory unavailable: {exc}")
            misconfigured = isinstance(exc, DirectoryMisconfigured)
            return Unavailable(exc.detail, typed, exc.server, misconfigured)

    async def _login(self, typed: str, password: str, trace: Trace) -> Outcome:
        if password == "":
            raise LoginRejected(Reason.EMPTY_PASSWORD)
        login = normalize_login(typed, self.policy.rules)
        key = fold_login(login)
        _refuse(await self.guard.before_login(key, password), "the typed login")
        user = await self._verify(login, key, password, trace)
        return await self._decide(typed, key, user, trace)

    async def _verify(self, login: str, key: str, password: str, trace: Trace) -> UserEntry:
        """Find and bind. A cached entry costs one bind; if that bind fails, the user is
        looked up again (they may have been moved or renamed) but the password is only
        tried a second time when the DN really changed: one wrong password must cost the
        account exactly one bad attempt."""
        cached = self._users.get(key) if self._users is not None else None
        if cached is not None:
            trace.cached_entry = True
            trace.note(f"user entry from cache: {cached.dn}")
            try:
                return await self._bind(cached, key, password, trace, cached=True)
            except LoginRejected as exc:
                self._forget(key)
                if exc.reason != Reason.BAD_PASSWORD:
                    raise
                fresh = await self._find(login, key, password, trace)
                if await self._account(fresh) == account_key(cached.dn):
                    raise  # the same account (in direct-bind mode: by its known DN)
                return await self._bind(fresh, key, password, trace, cached=False)
        user = await self._find(login, key, password, trace)
        return await self._bind(user, key, password, trace, cached=False)

    async def _find(self, login: str, key: str, password: str, trace: Trace) -> UserEntry:
        trace.directory_used = True
        user = await self.directory.find(login)
        if user is None:
            await self.guard.unknown_login(key, password)
            raise LoginRejected(Reason.UNKNOWN_USER)
        trace.note(f"found {user.dn}" + (f" on {user.server}" if user.server else ""))
        return user

    async def _bind(
        self, user: UserEntry, key: str, password: str, trace: Trace, cached: bool
    ) -> UserEntry:
        """Bind, under two budgets: the typed login's (checked before any LDAP traffic)
        and the account's, by DN, so that ``alice``, ``CORP\\alice`` and
        ``alice@corp.example`` share one budget and one stale-password memory. The
        account's budget follows the directory's own policy, and the directory's own
        counters are read first when the account has failed recently."""
        account = await self._account(user)
        state = await self._lockout(user, account, cached)
        policy = state.policy if state is not None else None
        _refuse(await self.guard.before_password(account, password, policy), "the account", user)
        _refuse(self.guard.directory_refusal(state), "the directory's counters", user)
        trace.directory_used = True
        try:
            bound = await self.directory.authenticate(user, password)
        except LoginRejected as exc:
            if exc.reason == Reason.BAD_PASSWORD:
                await self.guard.bad_password(key, account, password, policy)
            raise
        trace.note("password verified" + (f" on {bound.server}" if bound.server else ""))
        if user.provisional:  # direct bind: from now on the name's failures count by DN
            bind_name = account_key(user.dn)
            await self.guard.remember_alias(bind_name, bound.dn)
            await self.guard.good_password(key, bind_name)
            account = account_key(bound.dn)
        await self.guard.good_password(key, account)
        return bound

    async def _account(self, user: UserEntry) -> str:
        """The account's guard subject: its DN; in direct-bind mode the DN an earlier
        bind showed this bind name to be, else the bind name itself."""
        if not user.provisional:
            return account_key(user.dn)
        alias = await self.guard.alias(account_key(user.dn))
        return account_key(alias) if alias else account_key(user.dn)

    async def _lockout(self, user: UserEntry, account: str, cached: bool) -> AccountLockout | None:
        """The directory's policy for the account, and its counters when they matter:
        a freshly searched entry carries them; a cached one is re-read only when the
        account failed recently (a steady-state login stays one bind)."""
        if cached:
            recent = await self.guard.recent_failures(account)
            return await self.directory.lockout(user, "read" if recent else "none")
        return await self.directory.lockout(user, "entry")

    def _forget(self, key: str) -> None:
        if self._users is not None:
            self._users.pop(key, None)

    async def _decide(self, typed: str, key: str, user: UserEntry, trace: Trace) -> Outcome:
        groups = await self._groups(user, trace)
        if groups is not None:
            reason = self.policy.group_policy.decide(groups)
            if reason is not None:
                return Rejected(reason, typed, dn=user.dn, server=user.server)
        usernames = build_usernames(user.attributes, self.policy.username_rules)
        usernames = await self.unique.keep(user, usernames, trace)
        trace.note(f"usernames: {', '.join(usernames) or '(none)'}")
        if not usernames:
            return Rejected(Reason.NO_USERNAMES, typed, dn=user.dn, server=user.server)
        if self._users is not None:
            self._users[key] = user
        display = first_value(user.attributes, self.policy.display_name_attribute) or usernames[0]
        expiring = self._expiring(user, trace)
        return Accepted(typed, user.dn, usernames, display, groups, user.server, expiring)

    def _expiring(self, user: UserEntry, trace: Trace) -> float | None:
        """The seconds the password has left, if few enough to warn about."""
        left = user.password_expires_in
        if left is None or left > self.policy.password_expiry_warning:
            return None
        trace.note(f"password expires in {left / 86400:.1f} days")
        return left

    async def _groups(self, user: UserEntry, trace: Trace) -> frozenset[str] | None:
        if not self.policy.group_policy.needs_groups:
            return None
        if user.groups is not None:  # read at bind time (direct-bind mode)
            groups = frozenset(map(normalize_dn, user.groups))
        else:
            groups = await self.group_cache.get(user.dn, lambda: self.directory.groups(user))
        trace.note(f"groups: {len(groups)}")
        return groups


def _refuse(refusal: Refusal | None, what: str, user: UserEntry | None = None) -> None:
    """Turn a guard refusal into the rejection, saying which check refused."""
    if refusal is None:
        return
    detail = f"{what}: {refusal.detail}" if refusal.detail else what
    if refusal.retry_after is not None:
        detail += f"; retry in {refusal.retry_after:.0f}s"
    dn = user.dn if user is not None and not user.provisional else None
    raise LoginRejected(refusal.reason, detail, refusal.server, dn, guarded=True)
