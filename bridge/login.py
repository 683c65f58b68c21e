"""The use case: throttle -> find -> bind -> groups -> usernames -> outcome.

Plain code: it knows the Directory protocol, never aiohttp or ldap3. Three outcomes,
kept apart all the way up: Accepted, Rejected(reason), Unavailable. Only the third is
"we could not tell", and it is never reported as a wrong password.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cachetools import TTLCache

from bridge.directory.base import Directory, UserEntry
from bridge.dn import normalize_dn
from bridge.errors import DirectoryMisconfigured, DirectoryUnavailable, LoginRejected, Reason
from bridge.groups import GroupCache, GroupPolicy
from bridge.logins import LoginRules, normalize_login, throttle_key
from bridge.throttle import Throttle
from bridge.unique_usernames import UniqueUsernames
from bridge.usernames import Rule, build_usernames, first_value


def account_key(dn: str) -> str:
    """Throttle key of an account; cannot collide with a typed login's key."""
    return "dn:" + normalize_dn(dn)


@dataclass(frozen=True)
class Accepted:
    login: str
    dn: str
    usernames: tuple[str, ...]
    display_name: str
    groups: frozenset[str] | None
    server: str | None


@dataclass(frozen=True)
class Rejected:
    reason: Reason
    login: str
    detail: str = ""
    dn: str | None = None
    server: str | None = None


@dataclass(frozen=True)
class Unavailable:
    detail: str
    login: str
    server: str | None = None
    misconfigured: bool = False


Outcome = Accepted | Rejected | Unavailable


@dataclass
class Trace:
    """What happened on the way, for the audit log and ``test-login``."""

    steps: list[str] = field(default_factory=list)
    directory_used: bool = False
    cached_entry: bool = False
    #: username -> why it was withheld (bridge.unique_usernames)
    dropped_usernames: dict[str, str] = field(default_factory=dict)

    def note(self, text: str) -> None:
        self.steps.append(text)


@dataclass(frozen=True)
class LoginPolicy:
    """Everything a login decision depends on, built once from settings."""

    rules: LoginRules
    group_policy: GroupPolicy
    username_rules: tuple[Rule, ...]
    display_name_attribute: str


class LoginService:
    """Decides one login. One instance per loaded config."""

    def __init__(
        self,
        directory: Directory,
        policy: LoginPolicy,
        throttle: Throttle,
        group_cache: GroupCache,
        user_cache_ttl: float = 0.0,
        user_cache_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        unique: UniqueUsernames | None = None,
    ) -> None:
        self.directory = directory
        self.policy = policy
        self.throttle = throttle
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
            trace.note(f"refused: {exc.reason}")
            return Rejected(exc.reason, typed, exc.detail, dn=exc.dn, server=exc.server)
        except DirectoryUnavailable as exc:
            trace.note(f"directory unavailable: {exc}")
            misconfigured = isinstance(exc, DirectoryMisconfigured)
            return Unavailable(exc.detail, typed, exc.server, misconfigured)

    async def _login(self, typed: str, password: str, trace: Trace) -> Outcome:
        if password == "":
            raise LoginRejected(Reason.EMPTY_PASSWORD)
        login = normalize_login(typed, self.policy.rules)
        key = throttle_key(login)
        refusal = self.throttle.check(key, password)
        if refusal is not None:
            trace.note(f"throttle: {refusal} (directory not asked)")
            return Rejected(refusal, typed)
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
                return await self._bind(cached, key, password, trace)
            except LoginRejected as exc:
                self._forget(key)
                if exc.reason != Reason.BAD_PASSWORD:
                    raise
                fresh = await self._find(login, trace)
                if normalize_dn(fresh.dn) == normalize_dn(cached.dn):
                    raise
                return await self._bind(fresh, key, password, trace)
        return await self._bind(await self._find(login, trace), key, password, trace)

    async def _find(self, login: str, trace: Trace) -> UserEntry:
        trace.directory_used = True
        user = await self.directory.find(login)
        if user is None:
            raise LoginRejected(Reason.UNKNOWN_USER)
        trace.note(f"found {user.dn}" + (f" on {user.server}" if user.server else ""))
        return user

    async def _bind(self, user: UserEntry, key: str, password: str, trace: Trace) -> UserEntry:
        """Bind, under two budgets: the typed login's (checked before any LDAP traffic)
        and the account's, by DN, so that ``alice``, ``CORP\\alice`` and
        ``alice@corp.example`` share one budget and one stale-password memory."""
        account = account_key(user.dn)
        refusal = self.throttle.check(account, password)
        if refusal is not None:
            trace.note(f"throttle: {refusal} for the account (password not tried)")
            raise LoginRejected(refusal, dn=user.dn)
        trace.directory_used = True
        try:
            bound = await self.directory.authenticate(user, password)
        except LoginRejected as exc:
            if exc.reason == Reason.BAD_PASSWORD:
                self.throttle.record_failure(key, password)
                self.throttle.record_failure(account, password)
            raise
        trace.note("password verified" + (f" on {bound.server}" if bound.server else ""))
        self.throttle.record_success(key)
        self.throttle.record_success(account)
        return bound

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
        return Accepted(typed, user.dn, usernames, display, groups, user.server)

    async def _groups(self, user: UserEntry, trace: Trace) -> frozenset[str] | None:
        if not self.policy.group_policy.needs_groups:
            return None
        if user.groups is not None:  # read at bind time (direct-bind mode)
            groups = frozenset(map(normalize_dn, user.groups))
        else:
            groups = await self.group_cache.get(user.dn, lambda: self.directory.groups(user))
        trace.note(f"groups: {len(groups)}")
        return groups
