"""The LDAP/AD directory: search with the service account, then bind as the user.

Implements :class:`bridge.core.ports.Directory`. ldap3 blocks, so every call runs
in a bounded thread pool behind an asyncio semaphore; nothing here ever waits on a
socket from the event loop. Every value is escaped exactly once, where its filter is
built: the login in ``_user_filter``, a username value in ``_holders_search``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import ldap3
from cachetools import TTLCache
from ldap3.core.results import RESULT_CODES
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from bridge.core.errors import DirectoryMisconfigured, DirectoryUnavailable, LoginRejected, Reason
from bridge.core.ports import AccountLockout, LockoutPolicy, Readiness, UserEntry
from bridge.directory import ad, ad_schema, ppolicy
from bridge.directory.ldap.binder import Binder
from bridge.directory.ldap.lockout import CounterSource, LdapLockout
from bridge.directory.ldap.transport import (
    TRANSPORT_ERRORS_AND_FAILURES,
    ServerList,
    ServerState,
    StaleConnection,
    TransportFailure,
    TransportOptions,
    check_result,
    close_connection,
    entries,
    result_text,
)
from bridge.directory.lockout_flavors import LockoutFlavor
from bridge.directory.passwords import as_typed
from bridge.directory.presets import GroupStrategy

T = TypeVar("T")

IN_CHAIN = "1.2.840.113556.1.4.1941"
_PAGED_RESULTS = "1.2.840.113556.1.4.319"
#: SIDs per resolving search: keeps the filter well under AD's MaxQueryDuration limits.
_SID_BATCH = 200
_UNKNOWN: Any = object()
_AD_STATE_ATTRIBUTES = ("userAccountControl", "msDS-User-Account-Control-Computed")


@dataclass(frozen=True)
class LdapOptions:
    """What the LDAP directory needs from settings, already resolved."""

    urls: Sequence[str]
    transport: TransportOptions
    base_dn: str
    user_filter: str
    bind_dn: str | None
    #: the secret file's bytes, sent as they are (a ``str`` would be SASLprepped)
    bind_password: bytes | None
    bind_template: str | None
    attributes: Sequence[str]
    group_strategy: GroupStrategy
    active_directory: bool
    page_size: int = 500
    max_concurrent: int = 16
    group_base_dn: str | None = None
    password_policy_control: bool = False
    #: group allow/deny lists are configured (direct-bind mode reads groups at bind time)
    needs_groups: bool = True
    #: where this kind of directory keeps lockout policies and counters (None: nowhere)
    lockout: LockoutFlavor | None = None
    #: OpenLDAP: the ppolicy entry that applies when a user names none (ppolicy_default)
    password_policy_dn: str | None = None
    #: the [[usernames]] attributes: checked against the schema, searched for duplicates
    username_attributes: Sequence[str] = ()


@dataclass
class OpCounter:
    """LDAP operations done, by kind; read by metrics and the benchmark."""

    binds: int = 0
    searches: int = 0
    #: group resolutions that reached the directory (one per uncached login)
    group_lookups: int = 0
    #: searches done for them (pages included): zero more on a group-cache hit
    group_searches: int = 0
    #: searches for the holders of a username value (the duplicate check)
    username_searches: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, kind: str) -> None:
        with self._lock:  # incremented from the directory threads
            setattr(self, kind, getattr(self, kind) + 1)


class LdapDirectory:
    """Directory backed by one or more LDAP servers."""

    def __init__(
        self,
        options: LdapOptions,
        on_operation: Callable[[str, str, float, str], None] | None = None,
    ) -> None:
        self.options = options
        self.servers = ServerList(options.urls, options.transport)
        self._executor = ThreadPoolExecutor(
            max_workers=options.max_concurrent, thread_name_prefix="ldap"
        )
        self._slots = asyncio.Semaphore(options.max_concurrent)
        self._sids: TTLCache[bytes, str | None] = TTLCache(50_000, 3600)
        self._sid_lock = threading.Lock()
        self.ops = OpCounter()
        self._on_operation = on_operation or (lambda server, op, seconds, outcome: None)
        self.binder = Binder(self.servers)
        self.lockouts = (
            LdapLockout(self, options.lockout, options.password_policy_dn)
            if options.lockout is not None and options.bind_dn is not None
            else None
        )

    # -- plumbing -----------------------------------------------------------------
    async def _run(self, function: Callable[[float], T], budget: float | None = None) -> T:
        """Run blocking ``function(deadline)`` in the pool, bounded and with a deadline."""
        budget = budget or self._budget()
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        async with self._slots:
            remaining = budget - (time.monotonic() - started)
            if remaining <= 0:
                raise DirectoryUnavailable("waited too long for a free directory slot")
            deadline = time.monotonic() + remaining
            return await loop.run_in_executor(self._executor, function, deadline)

    def _budget(self) -> float:
        transport = self.options.transport
        per_server = transport.connect_timeout + 2 * transport.operation_timeout
        return per_server * max(1, len(self.options.urls))

    def _service_connection(self, server: ServerState) -> ldap3.Connection:
        connection = server.open(self.options.bind_dn, self.options.bind_password)
        started = time.monotonic()
        ok = connection.bind()
        self._observe(server, "service_bind", started, ok)
        if not ok:
            try:
                result = check_result(connection, "service account bind")
            finally:
                close_connection(connection)
            raise DirectoryMisconfigured(
                f"the service account could not bind ({result.get('description')}: "
                f"{result.get('message', '').strip()}); check directory.bind_dn and its password",
                server.name,
            )
        return connection

    def _observe(self, server: ServerState, op: str, started: float, ok: bool) -> None:
        self._on_operation(server.name, op, time.monotonic() - started, "ok" if ok else "fail")

    def _on_server(
        self,
        server: ServerState,
        kind: str,
        factory: Callable[[ServerState], ldap3.Connection],
        work: Callable[[ldap3.Connection], T],
    ) -> T:
        """Run ``work`` on a pooled connection; if the server had dropped it while idle,
        once more on a new connection (the other idle ones are stale too: drop them)."""
        try:
            with server.lease(kind, lambda: factory(server)) as connection:
                return work(connection)
        except StaleConnection:
            server.drop_pools()
        with server.lease(kind, lambda: factory(server), fresh=True) as connection:
            return work(connection)

    # -- Directory protocol -------------------------------------------------------
    async def find(self, login: str) -> UserEntry | None:
        if self.options.bind_dn is None:
            return UserEntry(dn=self._bind_name(login), provisional=True)
        search_filter = self._user_filter(login)
        return await self._run(functools.partial(self._find_sync, search_filter))

    def _bind_name(self, login: str) -> str:
        """Direct-bind mode: the template filled in; a DN template gets the login escaped
        as an RDN value (RFC 4514), exactly once, so ``a,ou=x`` cannot name another entry."""
        template = self.options.bind_template or "{login}"
        value = escape_rdn(login) if "=" in template else login
        return template.replace("{login}", value)

    def _user_filter(self, login: str) -> str:
        """The one place a login enters a filter, escaped once (RFC 4515)."""
        return self.options.user_filter.replace("{login}", escape_filter_chars(login))

    def _find_sync(self, search_filter: str, deadline: float) -> UserEntry | None:
        def work(connection: ldap3.Connection, server: ServerState) -> UserEntry | None:
            started = time.monotonic()
            connection.search(
                self.options.base_dn,
                search_filter,
                ldap3.SUBTREE,
                attributes=list(self._attributes()),
                size_limit=2,
                time_limit=int(self.options.transport.operation_timeout) or 1,
            )
            self.ops.add("searches")
            self._observe(server, "search", started, True)
            result = check_result(connection, "user search")
            matches = entries(connection)
            if result.get("result") not in (0, 4) and not matches:
                _explain_search_failure(result, server.name)
            if len(matches) > 1:
                raise LoginRejected(Reason.AMBIGUOUS_USER, f"{len(matches)}+ entries match")
            if not matches:
                return None
            return _entry(matches[0], server.name)

        return self.servers.run(
            lambda server: self._on_server(
                server, "search", self._service_connection, lambda c: work(c, server)
            ),
            deadline,
        )

    def _attributes(self) -> Iterable[str]:
        wanted = list(self.options.attributes)
        if self.options.group_strategy == "member_of":
            wanted.append("memberOf")
        if self.options.active_directory:
            wanted += _AD_STATE_ATTRIBUTES
        if self.options.lockout is not None:
            wanted += self.options.lockout.entry_attributes
        return dict.fromkeys(wanted)

    async def authenticate(self, user: UserEntry, password: str) -> UserEntry:
        if password == "":  # RFC 4513 5.1.2: this would be an unauthenticated bind
            raise LoginRejected(Reason.EMPTY_PASSWORD)
        typed = as_typed(password)
        if typed is None:
            raise LoginRejected(Reason.BAD_PASSWORD, "not valid Unicode; not sent")
        if not user.provisional:  # the steady-state login: one bind, on the event loop
            return await self._bind_on_loop(user, typed)
        return await self._run(functools.partial(self._authenticate_sync, user, typed))

    async def _bind_on_loop(self, user: UserEntry, password: bytes) -> UserEntry:
        """The user's bind through ``ldap/binder.py``: no thread, no pyasn1."""
        controls = [ppolicy.REQUEST] if self.options.password_policy_control else []
        started = time.monotonic()
        async with self._slots:
            answer, server = await self.binder.bind(user.dn, password, controls)
        self.ops.add("binds")
        self._observe(server, "bind", started, answer.result == 0)
        stated = ppolicy.policy_refusal(answer.controls)
        if answer.result != 0:
            result = {
                "result": answer.result,
                "message": answer.message,
                "description": RESULT_CODES.get(answer.result, str(answer.result)),
            }
            if answer.result == 8:  # strongerAuthRequired
                raise DirectoryMisconfigured(
                    "user bind: the server requires transport encryption for simple binds; "
                    "use an ldaps:// URL or set start_tls = true",
                    server.name,
                )
            try:
                reason = stated or self._bind_reason(result)
            except TransportFailure as exc:
                raise DirectoryUnavailable(str(exc), server.name) from None
            detail = result_text(result) + _state_note(reason, user)
            raise LoginRejected(reason, detail, server.name, user.dn)
        if stated is not None:  # bound, but e.g. must change the password first
            raise LoginRejected(stated, "password policy control", server.name, user.dn)
        return dataclasses.replace(user, server=server.name)

    def _authenticate_sync(self, user: UserEntry, password: bytes, deadline: float) -> UserEntry:
        """Bind as the user with the typed bytes: ldap3 sends ``bytes`` untouched, where a
        ``str`` would go through SASLprep (see bridge.directory.passwords)."""

        def work(connection: ldap3.Connection, server: ServerState) -> UserEntry:
            started = time.monotonic()
            controls = [ppolicy.REQUEST] if self.options.password_policy_control else None
            try:
                ok = connection.rebind(user=user.dn, password=password, controls=controls)
            finally:
                connection.password = None  # a pooled connection keeps no user's password
            self.ops.add("binds")
            self._observe(server, "bind", started, bool(ok))
            stated = ppolicy.policy_refusal((connection.result or {}).get("controls"))
            if not ok:
                result = check_result(connection, "user bind")
                reason = stated or self._bind_reason(result)
                detail = result_text(result) + _state_note(reason, user)
                raise LoginRejected(reason, detail, server.name, user.dn)
            if stated is not None:  # bound, but e.g. must change the password first
                raise LoginRejected(stated, "password policy control", server.name, user.dn)
            if user.provisional:
                return self._read_self(connection, user, server)
            return dataclasses.replace(user, server=server.name)

        return self.servers.run(
            lambda server: self._on_server(
                server, "bind", lambda s: s.open(None, None), lambda c: work(c, server)
            ),
            deadline,
        )

    def _bind_reason(self, result: Mapping[str, Any]) -> Reason:
        code = result.get("result")
        if code == 49:
            return ad.bind_failure_reason(str(result.get("message", "")))
        if code == 53:  # unwillingToPerform: e.g. slapd and an empty password
            return Reason.BAD_PASSWORD
        if code == 50:
            return Reason.PASSWORD_MUST_CHANGE
        raise TransportFailure(f"user bind: {result.get('description')}")

    def _read_self(
        self, connection: ldap3.Connection, user: UserEntry, server: ServerState
    ) -> UserEntry:
        """Direct-bind mode: read our own entry, our groups, and who else holds each of
        our username values, with the user's own rights (there is no service account to
        do it later; these searches see only what the user may read)."""
        entry = self._own_entry(connection, user, server)
        groups = self._group_lookup(connection, entry) if self.options.needs_groups else None
        holders = {
            value: self._holders_search(connection, value)
            for value in dict.fromkeys(self._username_values(entry))
        }
        return UserEntry(entry.dn, entry.attributes, groups, server.name, holders=holders)

    def _username_values(self, entry: UserEntry) -> Iterable[str]:
        for name in self.options.username_attributes:
            yield from _values(entry.attributes, name)

    def _own_entry(
        self, connection: ldap3.Connection, user: UserEntry, server: ServerState
    ) -> UserEntry:
        who = connection.extend.standard.who_am_i() if not self.options.active_directory else None
        search: tuple[str, str, str]
        if who and who.startswith("dn:"):
            search = (who[3:], "(objectClass=*)", ldap3.BASE)
        elif "=" in user.dn and "@" not in user.dn:
            search = (user.dn, "(objectClass=*)", ldap3.BASE)
        else:
            search = (self.options.base_dn, _self_filter(user.dn), ldap3.SUBTREE)
        connection.search(
            search[0], search[1], search[2], attributes=list(self._attributes()), size_limit=2
        )
        self.ops.add("searches")
        matches = entries(connection)
        if len(matches) > 1:  # a UPN and someone else's sAMAccountName: the UPN wins
            matches = [e for e in matches if _has_value(e, "userPrincipalName", user.dn)]
        if len(matches) != 1:
            raise LoginRejected(Reason.UNKNOWN_USER, "bound, but cannot read own entry")
        return _entry(matches[0], server.name)

    async def holders_of(self, value: str) -> tuple[str, ...]:
        if self.options.bind_dn is None:  # direct bind: searched at bind time, see _read_self
            raise DirectoryMisconfigured("no service account to search for username holders")
        return await self._run(functools.partial(self._holders_sync, value))

    def _holders_sync(self, value: str, deadline: float) -> tuple[str, ...]:
        return self.servers.run(
            lambda server: self._on_server(
                server,
                "search",
                self._service_connection,
                lambda c: self._holders_search(c, value),
            ),
            deadline,
        )

    def _holders_search(self, connection: ldap3.Connection, value: str) -> tuple[str, ...]:
        """Up to two entries holding ``value`` in any username attribute; the value is
        escaped here, once (RFC 4515). Any entry counts, not only users: a contact or an
        OU holding the number is a claim on it too."""
        escaped = escape_filter_chars(value)
        terms = [f"({name}={escaped})" for name in self.options.username_attributes]
        if not terms:  # nothing configured holds usernames: nobody holds the value
            return ()
        search_filter = terms[0] if len(terms) == 1 else f"(|{''.join(terms)})"
        connection.search(
            self.options.base_dn,
            search_filter,
            ldap3.SUBTREE,
            attributes=["1.1"],
            size_limit=2,
            time_limit=int(self.options.transport.operation_timeout) or 1,
        )
        self.ops.add("searches")
        self.ops.add("username_searches")
        result = check_result(connection, "username holder search")
        matches = entries(connection)
        if result.get("result") not in (0, 4) and not matches:
            _explain_search_failure(result, str(connection.server.name))
        return tuple(str(match["dn"]) for match in matches)

    async def groups(self, user: UserEntry) -> frozenset[str]:
        if self.options.group_strategy == "member_of":
            return self._group_lookup(None, user)
        return await self._run(functools.partial(self._groups_sync, user))

    def _groups_sync(self, user: UserEntry, deadline: float) -> frozenset[str]:
        return self.servers.run(
            lambda server: self._on_server(
                server, "search", self._service_connection, lambda c: self._group_lookup(c, user)
            ),
            deadline,
        )

    def _group_lookup(self, connection: ldap3.Connection | None, user: UserEntry) -> frozenset[str]:
        """The user's groups by the configured strategy, on whichever connection may."""
        strategy = self.options.group_strategy
        if strategy == "member_of":
            return frozenset(_values(user.attributes, "memberOf"))
        assert connection is not None
        self.ops.add("group_lookups")
        if strategy == "in_chain":
            member_filter = f"(member:{IN_CHAIN}:={escape_filter_chars(user.dn)})"
            return frozenset(self._paged_dns(connection, f"(&(objectClass=group){member_filter})"))
        if strategy == "token_groups":
            return self._token_groups(connection, user)
        return self._member_walk(connection, user.dn)

    def _paged_search(
        self, connection: ldap3.Connection, search_filter: str, attributes: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Every matching entry, page by page, so AD's MaxPageSize never truncates silently.

        Referrals in the answer (AD's DomainDnsZones, Configuration) are dropped, never
        chased: group objects of this domain live in this naming context.
        """
        base = self.options.group_base_dn or self.options.base_dn
        found: list[dict[str, Any]] = []
        cookie: Any = None
        while True:
            connection.search(
                base,
                search_filter,
                ldap3.SUBTREE,
                attributes=list(attributes),
                paged_size=self.options.page_size,
                paged_cookie=cookie,
            )
            self.ops.add("searches")
            self.ops.add("group_searches")
            result = check_result(connection, "group search")
            if result.get("result") != 0:
                _explain_search_failure(result, str(connection.server.name))
            found += entries(connection)
            controls = result.get("controls", {}) or {}
            cookie = controls.get(_PAGED_RESULTS, {}).get("value", {}).get("cookie")
            if not cookie:
                return found

    def _paged_dns(self, connection: ldap3.Connection, search_filter: str) -> list[str]:
        return [r["dn"] for r in self._paged_search(connection, search_filter, ["1.1"])]

    def _token_groups(self, connection: ldap3.Connection, user: UserEntry) -> frozenset[str]:
        """All nested groups from one base read; SIDs not seen before resolved in batches."""
        connection.search(user.dn, "(objectClass=*)", ldap3.BASE, attributes=["tokenGroups"])
        self.ops.add("searches")
        self.ops.add("group_searches")
        check_result(connection, "tokenGroups read")
        matches = entries(connection)
        if not matches:
            return frozenset()
        sids: list[bytes] = list(matches[0].get("raw_attributes", {}).get("tokenGroups", []))
        known: dict[bytes, str | None] = {}
        with self._sid_lock:  # cachetools caches are not thread-safe; we run in the pool
            for sid in sids:
                dn = self._sids.get(sid, _UNKNOWN)
                if dn is not _UNKNOWN:
                    known[sid] = dn
        unknown = [sid for sid in dict.fromkeys(sids) if sid not in known]
        for start in range(0, len(unknown), _SID_BATCH):
            known.update(self._resolve_sids(connection, unknown[start : start + _SID_BATCH]))
        return frozenset(dn for dn in known.values() if dn)

    def _resolve_sids(
        self, connection: ldap3.Connection, batch: Sequence[bytes]
    ) -> dict[bytes, str | None]:
        """One search for a batch of SIDs; a SID with no entry here is cached as None."""
        terms = "".join(f"(objectSid={ad.escape_binary(sid)})" for sid in batch)
        resolved: dict[bytes, str | None] = dict.fromkeys(batch)
        for entry in self._paged_search(connection, f"(|{terms})", ["objectSid"]):
            for raw in entry.get("raw_attributes", {}).get("objectSid", []):
                resolved[raw] = entry["dn"]
        with self._sid_lock:
            self._sids.update(resolved)
        return resolved

    def _member_walk(self, connection: ldap3.Connection, user_dn: str) -> frozenset[str]:
        """Breadth-first over ``member`` with a seen-set, so cycles end."""
        seen: set[str] = set()
        groups: list[str] = []
        frontier = [user_dn]
        while frontier:
            terms = "".join(
                f"(member={escape_filter_chars(dn)})(uniqueMember={escape_filter_chars(dn)})"
                for dn in frontier
            )
            found = self._paged_dns(connection, f"(|{terms})")
            frontier = [dn for dn in found if dn.lower() not in seen]
            seen.update(dn.lower() for dn in frontier)
            groups += frontier
        return frozenset(groups)

    async def check(self) -> Readiness:
        def probe(deadline: float) -> Readiness:
            def work(server: ServerState) -> Readiness:
                if self.options.bind_dn is None:
                    connection = server.open(None, None)
                    connection.unbind()
                    return Readiness(server.name, "connected (no service account)")

                def read_base(c: ldap3.Connection) -> Readiness:
                    c.search(
                        self.options.base_dn, "(objectClass=*)", ldap3.BASE, attributes=["1.1"]
                    )
                    check_result(c, "readiness probe")
                    return Readiness(server.name, "service account bound")

                return self._on_server(server, "search", self._service_connection, read_base)

            return self.servers.run(work, deadline)

        return await self._run(probe)

    # -- reads for the lockout guard and the commands ------------------------------
    async def read(
        self, dn: str, attributes: Sequence[str], server: ServerState | None = None
    ) -> UserEntry | None:
        """One entry as the service account sees it (None: absent or not visible), on
        ``server`` only, or on the first configured server that answers."""
        found = await self._run(
            functools.partial(
                self._search_sync, dn, "(objectClass=*)", ldap3.BASE, attributes, server
            )
        )
        return found[0] if found else None

    async def search(
        self, base: str, search_filter: str, attributes: Sequence[str]
    ) -> list[UserEntry]:
        """Every matching entry under ``base`` (paged; referrals never chased)."""
        return await self._run(
            functools.partial(
                self._search_sync, base, search_filter, ldap3.SUBTREE, attributes, None
            )
        )

    def _search_sync(
        self,
        base: str,
        search_filter: str,
        scope: Literal["BASE", "LEVEL", "SUBTREE"],
        attributes: Sequence[str],
        only: ServerState | None,
        deadline: float,
    ) -> list[UserEntry]:
        def work(connection: ldap3.Connection, server: ServerState) -> list[UserEntry]:
            connection.search(base, search_filter, scope, attributes=list(attributes))
            self.ops.add("searches")
            result = check_result(connection, "read")
            if result.get("result") not in (0, 4, 32):  # 32: noSuchObject, e.g. not visible
                _explain_search_failure(result, server.name)
            return [_entry(e, server.name) for e in entries(connection)]

        if only is not None:
            try:
                return self._with_service(only, work)
            except TRANSPORT_ERRORS_AND_FAILURES as exc:
                raise DirectoryUnavailable(str(exc) or type(exc).__name__, only.name) from exc
        return self.servers.run(lambda server: self._with_service(server, work), deadline)

    def _with_service(
        self, server: ServerState, work: Callable[[ldap3.Connection, ServerState], T]
    ) -> T:
        """``work`` on one of ``server``'s service-account connections."""
        return self._on_server(
            server, "search", self._service_connection, lambda c: work(c, server)
        )

    async def lockout(self, user: UserEntry, counters: CounterSource) -> AccountLockout | None:
        if self.lockouts is None or user.provisional:
            return None
        return await self.lockouts.state(user, counters)

    async def lockout_policies(self) -> list[LockoutPolicy]:
        if self.lockouts is None:
            return []
        return await self.lockouts.all_policies()

    async def username_attribute_verdicts(self) -> list[ad_schema.Verdict]:
        """Which username attributes users may write on themselves (AD schema); empty
        without a service account or for OpenLDAP, which publish no such facts.

        Read at start-up, so a forgeable attribute is a warning in the log then.
        """

        def read(deadline: float) -> list[ad_schema.Verdict]:
            def work(connection: ldap3.Connection) -> list[ad_schema.Verdict]:
                try:
                    return ad_schema.read_verdicts(connection, self.options.username_attributes)
                except ad_schema.SchemaUnreadable as exc:
                    raise DirectoryUnavailable(f"cannot read the schema: {exc}") from None

            return self.servers.run(
                lambda server: self._on_server(server, "search", self._service_connection, work),
                deadline,
            )

        options = self.options
        if not (options.bind_dn and options.active_directory and options.username_attributes):
            return []
        return await self._run(read)

    async def close(self) -> None:
        await self.binder.close()
        for server in self.servers.servers:
            server.drop_pools()
        self._executor.shutdown(wait=False, cancel_futures=True)


def _entry(response: Mapping[str, Any], server: str) -> UserEntry:
    attributes: dict[str, tuple[str, ...]] = {}
    for name, value in (response.get("attributes") or {}).items():
        values = value if isinstance(value, list) else [value]
        attributes[name] = tuple(_text(v) for v in values if v not in (None, b"", ""))
    return UserEntry(dn=response["dn"], attributes=attributes, server=server)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _values(attributes: Mapping[str, Sequence[str]], name: str) -> tuple[str, ...]:
    for key, values in attributes.items():
        if key.lower() == name.lower():
            return tuple(values)
    return ()


def _state_note(reason: Reason, user: UserEntry) -> str:
    """AD says only 52e for a wrong password on a disabled or locked account; its flags
    tell the administrator reading the audit log that the right password would not help
    either. The reason stays bad_password: nothing about the account leaks out."""
    if reason is not Reason.BAD_PASSWORD:
        return ""
    flags = [_int(user.attributes, name) for name in _AD_STATE_ATTRIBUTES]
    state = ad.account_state_reason(*flags)
    return f"; the account is also {state}" if state else ""


def _int(attributes: Mapping[str, Sequence[str]], name: str) -> int:
    values = _values(attributes, name)
    try:
        return int(values[0]) if values else 0
    except ValueError:
        return 0


def _self_filter(bind_name: str) -> str:
    """Find a directly bound AD user by the name it bound with.

    ``CORP\\alice`` is a sAMAccountName; ``alice@corp.example`` is a userPrincipalName,
    or AD's implicit one (sAMAccountName@dns-domain) when the attribute is not set.
    """
    if "@" in bind_name:
        local = bind_name.rpartition("@")[0]
        upn = escape_filter_chars(bind_name)
        return f"(|(userPrincipalName={upn})(sAMAccountName={escape_filter_chars(local)}))"
    return f"(sAMAccountName={escape_filter_chars(bind_name.rpartition(chr(92))[2])})"


def _has_value(response: Mapping[str, Any], attribute: str, value: str) -> bool:
    values = _entry(response, "").attributes
    return any(v.casefold() == value.casefold() for v in _values(values, attribute))


def _explain_search_failure(result: Mapping[str, Any], server: str) -> None:
    """Answers only a config change fixes become DirectoryMisconfigured, saying what to set."""
    code = result.get("result")
    if code == 10:  # referral
        raise DirectoryMisconfigured(
            "the search returned a referral: base_dn is outside this server's naming "
            f"context ({_referrals(result)}); referrals are never chased: set directory.base_dn "
            "to a DN inside the domain this server holds (e.g. DC=corp,DC=example)",
            server,
        )
    if code == 32:  # noSuchObject
        raise DirectoryMisconfigured(
            f"directory.base_dn does not exist ({result_text(result)})", server
        )
    if code == 50:
        raise DirectoryMisconfigured(
            f"the service account may not search ({result_text(result)})", server
        )
    raise TransportFailure(f"search: {result_text(result)}")


def _referrals(result: Mapping[str, Any]) -> str:
    urls = result.get("referrals") or []
    return "referred to " + ", ".join(str(u) for u in urls) if urls else "no referral URL"
