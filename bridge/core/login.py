"""The use case: route -> throttle -> find -> bind -> groups -> usernames -> outcome.

Plain code: it knows the Directory protocol, never aiohttp or ldap3. Three outcomes,
kept apart all the way up: Accepted, Rejected(reason), Unavailable. Only the third is
"we could not tell", and it is never reported as a wrong password.

Each login goes to one directory (a :class:`Branch`: the directory with its own login
rules, group lists, username rules and caches), chosen by the router
(``bridge.core.routing``) before any directory traffic; one directory is the router
with one entry. Only a bare name may have several places to look (several default
directories, a global catalog); ``bridge.core.locating`` narrows them to one or
refuses the login. Every guard subject carries the directory's name, so ``jane`` in
one directory and ``jane`` in another, or the same DN string in two, never share a
budget or a remembered password.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from bridge.core.attributes import first_value
from bridge.core.branch import Branch, LoginPolicy, account_key, login_key, refuse
from bridge.core.dn import normalize_dn
from bridge.core.errors import DirectoryMisconfigured, DirectoryUnavailable, LoginRejected, Reason
from bridge.core.groups import GroupCache
from bridge.core.locating import Candidate, Locator
from bridge.core.outcomes import Accepted, Outcome, Rejected, Trace, Unavailable
from bridge.core.ports import AccountLockout, Catalog, Guard, UserEntry
from bridge.core.routing import Router, RouteRules
from bridge.core.typed_login import normalize_login
from bridge.core.usernames import build_usernames


class LoginService:
    """Decides one login. One instance per loaded config; the guard outlives it."""

    def __init__(
        self,
        branches: Sequence[Branch],
        guard: Guard,
        group_cache: GroupCache,
        router: Router | None = None,
        catalogs: Mapping[str, Catalog] | None = None,
    ) -> None:
        self.branches = {branch.name: branch for branch in branches}
        self.router = router or Router([RouteRules(branch.name) for branch in branches])
        self.guard = guard
        self.group_cache = group_cache
        self._locator = Locator(self.router, self.branches, guard, catalogs or {})

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
        route = self.router.route(typed)
        trace.note(route.why)
        located = await self._locator.narrow(route, typed, password, trace)
        if isinstance(located, Candidate):  # found already, in exactly one directory
            branch, key = located.branch, located.key
            trace.directory = branch.name
            user = await self._bind(branch, located.user, key, password, trace, cached=False)
            return await self._decide(branch, typed, key, user, trace)
        branch = located
        trace.directory = branch.name
        login = normalize_login(typed, branch.policy.rules)
        key = login_key(branch.name, login)
        refuse(await self.guard.before_login(key, password), "the typed login")
        user = await self._verify(branch, login, key, password, trace)
        return await self._decide(branch, typed, key, user, trace)

    async def _verify(
        self, branch: Branch, login: str, key: str, password: str, trace: Trace
    ) -> UserEntry:
        """Find and bind. A cached entry costs one bind; if that bind fails, the user is
        looked up again (they may have been moved or renamed) but the password is only
        tried a second time when the DN really changed: one wrong password must cost the
        account exactly one bad attempt."""
        cached = branch.users.get(key) if branch.users is not None else None
        if cached is not None:
            trace.cached_entry = True
            trace.note(f"user entry from cache: {cached.dn}")
            try:
                return await self._bind(branch, cached, key, password, trace, cached=True)
            except LoginRejected as exc:
                branch.forget(key)
                if exc.reason != Reason.BAD_PASSWORD:
                    raise
                fresh = await self._find(branch, login, key, password, trace)
                if await self._account(branch, fresh) == account_key(branch.name, cached.dn):
                    raise  # the same account (in direct-bind mode: by its known DN)
                return await self._bind(branch, fresh, key, password, trace, cached=False)
        user = await self._find(branch, login, key, password, trace)
        return await self._bind(branch, user, key, password, trace, cached=False)

    async def _find(
        self, branch: Branch, login: str, key: str, password: str, trace: Trace
    ) -> UserEntry:
        trace.directory_used = True
        user = await branch.directory.find(login)
        if user is None:
            await self.guard.unknown_login(key, password)
            raise LoginRejected(Reason.UNKNOWN_USER)
        trace.note(f"found {user.dn}" + (f" on {user.server}" if user.server else ""))
        return user

    async def _bind(
        self, branch: Branch, user: UserEntry, key: str, password: str, trace: Trace, cached: bool
    ) -> UserEntry:
        """Bind, under two budgets: the typed login's (checked before any LDAP traffic)
        and the account's, by DN, so that ``alice``, ``CORP\\alice`` and
        ``alice@corp.example`` share one budget and one stale-password memory. The
        account's budget follows the directory's own policy, and the directory's own
        counters are read first when the account has failed recently."""
        account = await self._account(branch, user)
        state = await self._lockout(branch, user, account, cached)
        policy = state.policy if state is not None else None
        refuse(await self.guard.before_password(account, password, policy), "the account", user)
        refuse(self.guard.directory_refusal(state), "the directory's counters", user)
        trace.directory_used = True
        try:
            bound = await branch.directory.authenticate(user, password)
        except LoginRejected as exc:
            if exc.reason == Reason.BAD_PASSWORD:
                await self.guard.bad_password(key, account, password, policy)
            raise
        trace.note("password verified" + (f" on {bound.server}" if bound.server else ""))
        if user.provisional:  # direct bind: from now on the name's failures count by DN
            bind_name = account_key(branch.name, user.dn)
            await self.guard.remember_alias(bind_name, bound.dn)
            await self.guard.good_password(key, bind_name)
            account = account_key(branch.name, bound.dn)
        await self.guard.good_password(key, account)
        return bound

    async def _account(self, branch: Branch, user: UserEntry) -> str:
        """The account's guard subject: its DN; in direct-bind mode the DN an earlier
        bind showed this bind name to be, else the bind name itself."""
        own = account_key(branch.name, user.dn)
        if not user.provisional:
            return own
        alias = await self.guard.alias(own)
        return account_key(branch.name, alias) if alias else own

    async def _lockout(
        self, branch: Branch, user: UserEntry, account: str, cached: bool
    ) -> AccountLockout | None:
        """The directory's policy for the account, and its counters when they matter:
        a freshly searched entry carries them; a cached one is re-read only when the
        account failed recently (a steady-state login stays one bind)."""
        if cached:
            recent = await self.guard.recent_failures(account)
            return await branch.directory.lockout(user, "read" if recent else "none")
        return await branch.directory.lockout(user, "entry")

    async def _decide(
        self, branch: Branch, typed: str, key: str, user: UserEntry, trace: Trace
    ) -> Outcome:
        policy = branch.policy
        groups = await self._groups(branch, user, trace)
        if groups is not None:
            reason = policy.group_policy.decide(groups)
            if reason is not None:
                return Rejected(reason, typed, dn=user.dn, server=user.server)
        usernames = build_usernames(user.attributes, policy.username_rules)
        usernames = await branch.unique.keep(user, usernames, trace)
        trace.note(f"usernames: {', '.join(usernames) or '(none)'}")
        if not usernames:
            return Rejected(Reason.NO_USERNAMES, typed, dn=user.dn, server=user.server)
        if branch.users is not None:
            branch.users[key] = user
        display = first_value(user.attributes, policy.display_name_attribute) or usernames[0]
        expiring = _expiring(policy, user, trace)
        return Accepted(typed, user.dn, usernames, display, groups, user.server, expiring)

    async def _groups(self, branch: Branch, user: UserEntry, trace: Trace) -> frozenset[str] | None:
        if not branch.policy.group_policy.needs_groups:
            return None
        if user.groups is not None:  # read at bind time (direct-bind mode)
            groups = frozenset(map(normalize_dn, user.groups))
        else:
            groups = await self.group_cache.get(
                user.dn, lambda: branch.directory.groups(user), scope=branch.name
            )
        trace.note(f"groups: {len(groups)}")
        return groups


def _expiring(policy: LoginPolicy, user: UserEntry, trace: Trace) -> float | None:
    """The seconds the password has left, if few enough to warn about."""
    left = user.password_expires_in
    if left is None or left > policy.password_expiry_warning:
        return None
    trace.note(f"password expires in {left / 86400:.1f} days")
    return left
