"""The LDAP/AD directory: search with the service account, then bind as the user.

Implements :class:`bridge.core.ports.Directory`. Where the work runs (a bounded pool,
the deadline, failover, pooled connections) is ``sessions``; the group strategies are
``groups``; lockout policies and counters ``lockout``; ``check-config``'s examination
``probe``. Every difference between kinds of directory (AD, OpenLDAP) is read from
``options.preset``, never asked of a flag. Every value is escaped exactly once, where
its filter or DN is built: the login in ``filters.user_filter`` or, in direct-bind
mode, ``escape_rdn_value``; a username value in ``filters.holding``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import Callable, Iterable

import ldap3
from ldap3.core.results import RESULT_CODES

from bridge.core.attributes import values
from bridge.core.dn import escape_rdn_value
from bridge.core.errors import DirectoryMisconfigured, DirectoryUnavailable, LoginRejected, Reason
from bridge.core.ports import (
    AccountLockout,
    AttributeVerdict,
    DirectoryStats,
    Finding,
    LockoutPolicy,
    Probe,
    Readiness,
    UserEntry,
)
from bridge.directory import ad_schema, ppolicy
from bridge.directory.ldap import filters, wire
from bridge.directory.ldap.groups import GroupReader
from bridge.directory.ldap.lockout import CounterSource, LdapLockout
from bridge.directory.ldap.options import LdapOptions
from bridge.directory.ldap.probe import probe_server
from bridge.directory.ldap.results import (
    check_result,
    found_entries,
    to_entry,
    user_entries,
)
from bridge.directory.ldap.sessions import OperationObserver, Scope, Sessions
from bridge.directory.ldap.transport import ServerState, TransportFailure, close_connection
from bridge.directory.ldap.verdict import judge
from bridge.directory.locator.locator import SOURCE_WORDS
from bridge.directory.passwords import as_typed


class LdapDirectory:
    """Directory backed by one or more LDAP servers."""

    def __init__(
        self,
        options: LdapOptions,
        on_operation: OperationObserver | None = None,
        on_discovery_failure: Callable[[], None] | None = None,
    ):
        self.options = options
        self._sessions = Sessions(options, on_operation, on_discovery_failure)
        #: the failover list; a test may swap its clock to end a cool-down
        self.servers = self._sessions.servers
        self._ops = self._sessions.ops
        self._groups = GroupReader(options, self._ops)
        preset = options.preset
        lockout = preset.lockout if options.bind_dn is not None else None
        self._lockouts = (
            LdapLockout(self._sessions, lockout, options.base_dn, options.password_policy_dn)
            if lockout is not None
            else None
        )
        #: read with every user: configured ones, and what the preset needs to judge it
        self._attributes = tuple(
            dict.fromkeys(
                [
                    *options.attributes,
                    *self._groups.entry_attributes,
                    *preset.account_state.attributes,
                    *preset.password_expiry.attributes,
                    *(lockout.entry_attributes if lockout else ()),
                ]
            )
        )

    # -- find ---------------------------------------------------------------------
    async def find(self, login: str) -> UserEntry | None:
        if self.options.bind_dn is None:
            return UserEntry(dn=self._bind_name(login), provisional=True)
        search_filter = filters.user_filter(self.options.user_filter, login)
        return await self._sessions.as_service(functools.partial(self._find, search_filter))

    def _bind_name(self, login: str) -> str:
        """Direct-bind mode: the template filled in; a DN template gets the login escaped
        as an RDN value, so ``a,ou=x`` cannot name another entry."""
        template = self.options.bind_template or "{login}"
        value = escape_rdn_value(login) if "=" in template else login
        return template.replace("{login}", value)

    def _find(
        self, search_filter: str, connection: ldap3.Connection, server: ServerState
    ) -> UserEntry | None:
        started = time.monotonic()
        connection.search(
            self.options.base_dn,
            search_filter,
            ldap3.SUBTREE,
            attributes=self._attributes,
            size_limit=2,
            time_limit=self._time_limit,
        )
        self._ops.add("searches")
        self._sessions.observe(server, "search", started, True)
        matches = found_entries(connection, "user search", server.name)
        if len(matches) > 1:
            raise LoginRejected(Reason.AMBIGUOUS_USER, f"{len(matches)}+ entries match")
        return to_entry(matches[0], server.name) if matches else None

    @property
    def _time_limit(self) -> int:
        return int(self.options.transport.operation_timeout) or 1

    # -- bind ---------------------------------------------------------------------
    async def authenticate(self, user: UserEntry, password: str) -> UserEntry:
        if password == "":  # RFC 4513 5.1.2: this would be an unauthenticated bind
            raise LoginRejected(Reason.EMPTY_PASSWORD)
        typed = as_typed(password)
        if typed is None:
            raise LoginRejected(Reason.BAD_PASSWORD, "not valid Unicode; not sent")
        if not user.provisional:  # the steady-state login: one bind, on the event loop
            return await self._bind_on_loop(user, typed)
        return await self._sessions.as_user_bind(functools.partial(self._bind, user, typed))

    @property
    def _controls(self) -> list[wire.Control]:
        return [ppolicy.REQUEST] if self.options.preset.password_policy_control else []

    async def _bind_on_loop(self, user: UserEntry, password: bytes) -> UserEntry:
        """The user's bind through ``ldap/binder.py``: no thread, no pyasn1."""
        started = time.monotonic()
        preset = self.options.preset
        answer, server = await self._sessions.bind_on_loop(user.dn, password, self._controls)
        self._ops.add("binds")
        self._sessions.observe(server, "bind", started, answer.result == 0)
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
            stated = judge(preset, user, server.name, answer.result == 0, result, answer.controls)
        except TransportFailure as exc:
            raise DirectoryUnavailable(str(exc), server.name) from None
        return self._expiring(stated, dataclasses.replace(user, server=server.name))

    def _bind(
        self, user: UserEntry, password: bytes, connection: ldap3.Connection, server: ServerState
    ) -> UserEntry:
        """Direct-bind mode: bind as the user with the typed bytes (ldap3 sends ``bytes``
        untouched, where a ``str`` would go through SASLprep, see directory.passwords),
        then read the user's own entry on that connection."""
        started = time.monotonic()
        try:
            ok = connection.rebind(user=user.dn, password=password, controls=self._controls)
        finally:
            connection.password = None  # a pooled connection keeps no user's password
        self._ops.add("binds")
        self._sessions.observe(server, "bind", started, bool(ok))
        result = (connection.result or {}) if ok else check_result(connection, "user bind")
        preset = self.options.preset
        stated = judge(preset, user, server.name, bool(ok), result, result.get("controls"))
        return self._expiring(stated, self._read_self(connection, user, server))

    def _expiring(self, stated: int | None, user: UserEntry) -> UserEntry:
        """The entry with the seconds its password has left: as the bind's controls said,
        else as the entry says (AD), else not known."""
        seconds: float | None = stated
        if seconds is None:
            seconds = self.options.preset.password_expiry.seconds_left(user.attributes, time.time())
        return dataclasses.replace(user, password_expires_in=seconds)

    # -- direct-bind mode: the user reads their own entry ---------------------------
    def _read_self(
        self, connection: ldap3.Connection, user: UserEntry, server: ServerState
    ) -> UserEntry:
        """Read our own entry, our groups, and who else holds each of our username
        values, with the user's own rights (there is no service account to do it
        later; these searches see only what the user may read)."""
        entry = self._own_entry(connection, user, server)
        groups = self._groups.lookup(connection, entry) if self.options.needs_groups else None
        holders = {
            value: self._holders(connection, server, value)
            for value in dict.fromkeys(self._username_values(entry))
        }
        return UserEntry(entry.dn, entry.attributes, groups, server.name, holders=holders)

    def _username_values(self, entry: UserEntry) -> Iterable[str]:
        for name in self.options.username_attributes:
            yield from values(entry.attributes, name)

    def _own_entry(
        self, connection: ldap3.Connection, user: UserEntry, server: ServerState
    ) -> UserEntry:
        lookup = self.options.preset.self_lookup
        who = connection.extend.standard.who_am_i() if lookup.who_am_i else None
        scope: Scope = "BASE"
        if who and who.startswith("dn:"):
            base, search_filter = who[3:].strip(), "(objectClass=*)"  # 389: "dn: uid=..."
        elif "=" in user.dn and "@" not in user.dn:  # the bind name is a DN
            base, search_filter = user.dn, "(objectClass=*)"
        elif lookup.search_filter is not None:
            base, search_filter = self.options.base_dn, lookup.search_filter(user.dn)
            scope = "SUBTREE"
        else:
            raise LoginRejected(Reason.UNKNOWN_USER, "bound, but no way to find our own entry")
        connection.search(base, search_filter, scope, attributes=self._attributes, size_limit=2)
        self._ops.add("searches")
        matches = user_entries(connection, server.name)
        if len(matches) > 1 and lookup.exact_attribute:  # AD: a UPN and another's sAMAccountName
            wanted = user.dn.casefold()
            matches = [
                m
                for m in matches
                if wanted in (v.casefold() for v in values(m.attributes, lookup.exact_attribute))
            ]
        if len(matches) != 1:
            raise LoginRejected(Reason.UNKNOWN_USER, "bound, but cannot read own entry")
        return matches[0]

    # -- username holders -----------------------------------------------------------
    async def holders_of(self, value: str) -> tuple[str, ...]:
        if self.options.bind_dn is None:  # direct bind: searched at bind time, see _read_self
            raise DirectoryMisconfigured("no service account to search for username holders")
        return await self._sessions.as_service(
            lambda connection, server: self._holders(connection, server, value)
        )

    def _holders(
        self, connection: ldap3.Connection, server: ServerState, value: str
    ) -> tuple[str, ...]:
        """Up to two entries holding ``value`` in any username attribute. Any entry
        counts, not only users: a contact or an OU holding the number is a claim too."""
        search_filter = filters.holding(self.options.username_attributes, value)
        if not search_filter:  # nothing configured holds usernames: nobody holds the value
            return ()
        connection.search(
            self.options.base_dn,
            search_filter,
            ldap3.SUBTREE,
            attributes=["1.1"],
            size_limit=2,
            time_limit=self._time_limit,
        )
        self._ops.add("searches", "username_searches")
        matches = found_entries(connection, "username holder search", server.name)
        return tuple(str(match["dn"]) for match in matches)

    # -- groups, readiness, lockout -------------------------------------------------
    async def groups(self, user: UserEntry) -> frozenset[str]:
        if not self._groups.needs_connection:
            return self._groups.lookup(None, user)
        return await self._sessions.as_service(
            lambda connection, server: self._groups.lookup(connection, user)
        )

    async def check(self) -> Readiness:
        if self.options.bind_dn is None:
            return await self._sessions.on_any(_connects)

        def read_base(connection: ldap3.Connection, server: ServerState) -> Readiness:
            base = self.options.base_dn
            connection.search(base, "(objectClass=*)", ldap3.BASE, attributes=["1.1"])
            check_result(connection, "readiness probe")
            return Readiness(server.name, "service account bound")

        return await self._sessions.as_service(read_base)

    async def lockout(self, user: UserEntry, counters: CounterSource) -> AccountLockout | None:
        if self._lockouts is None or user.provisional:
            return None
        return await self._lockouts.state(user, counters)

    async def lockout_policies(self) -> list[LockoutPolicy]:
        if self._lockouts is None:
            return []
        return await self._lockouts.all_policies()

    # -- for the administrator: start-up checks, check-config, metrics ---------------
    async def username_attribute_verdicts(self) -> list[AttributeVerdict]:
        """Judged from the AD schema where the preset says so, with the service account;
        read at start-up, so a forgeable attribute is a warning in the log then."""
        options = self.options
        names = options.username_attributes
        if not (options.bind_dn and options.preset.username_acl.from_ad_schema and names):
            return []

        def read(connection: ldap3.Connection, server: ServerState) -> list[AttributeVerdict]:
            try:
                return ad_schema.read_verdicts(connection, names)
            except ad_schema.SchemaUnreadable as exc:
                raise DirectoryUnavailable(f"cannot read the schema: {exc}") from None

        return await self._sessions.as_service(read)

    async def probe(self) -> Probe:
        servers = []
        discovery = self._sessions.discovery
        if discovery is not None:  # where the servers below came from, and the site
            await discovery.ready(discovery.settings.locator.timeout * 4)
            lines, failures = discovery.report()
            subject = f"domain controllers from DNS ({discovery.settings.locator.domain})"
            servers.append(Finding(subject, tuple(lines), tuple(failures)))
        for server in self.servers.servers:
            found = await asyncio.to_thread(probe_server, server, self.options)
            if discovery is not None:
                subject = f"{found.subject} ({SOURCE_WORDS.get(server.source, server.source)})"
                found = dataclasses.replace(found, subject=subject)
            servers.append(found)
        notes: tuple[str, ...] = ()
        if self._lockouts is not None and not any(found.failures for found in servers):
            note = await self._lockouts.counters_note()
            notes = (note,) if note else ()
        return Probe(tuple(servers), notes)

    def stats(self) -> DirectoryStats:
        return self._sessions.stats()

    async def close(self) -> None:
        await self._sessions.close()


def _connects(server: ServerState) -> Readiness:
    close_connection(server.open(None, None))
    return Readiness(server.name, "connected (no service account)")
