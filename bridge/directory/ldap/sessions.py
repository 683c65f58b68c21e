"""Where LDAP work runs: a bounded thread pool, a deadline, failover, the right pool.

ldap3 blocks, so every operation runs in a thread pool behind an asyncio semaphore;
the event loop never waits on a socket. An operation is a function of a connection
and its server; ``as_service`` runs it on the first server that answers, on one of
that server's service-account connections, ``as_user_bind`` on a connection kept for
user binds. Everything goes through ``run``, the one place that meets the deadline
and translates what ldap3 raises, so above this module a failure is only ever
``DirectoryUnavailable`` (or ``DirectoryMisconfigured``); ``on_any`` adds failover.

The service-account reads of ``read`` and ``search`` serve the lockout reader and the
start-up checks; ``stats`` is what the ops endpoint scrapes.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeVar

import ldap3
from ldap3.core.exceptions import LDAPException, LDAPInvalidFilterError

from bridge.core.errors import DirectoryMisconfigured, DirectoryUnavailable
from bridge.core.ports import DirectoryStats, UserEntry
from bridge.directory.ldap import wire
from bridge.directory.ldap.binder import Binder
from bridge.directory.ldap.discovery import Discovery
from bridge.directory.ldap.options import LdapOptions
from bridge.directory.ldap.results import check_result, found_entries, result_text, to_entry
from bridge.directory.ldap.tls import describe_failure
from bridge.directory.ldap.transport import (
    TRANSPORT_ERRORS_AND_FAILURES,
    ServerList,
    ServerState,
    close_connection,
)

T = TypeVar("T")
#: Work on one connection of one server.
Work = Callable[[ldap3.Connection, ServerState], T]
#: (server, operation, seconds, "ok" | "fail"): the metrics' latency histogram.
OperationObserver = Callable[[str, str, float, str], None]
Scope = Literal["BASE", "LEVEL", "SUBTREE"]


class OpCounter:
    """LDAP operations done, by kind; reported by ``Sessions.stats``.

    ``binds``, ``searches`` (every one, pages included); ``group_lookups``: group
    resolutions that reached the directory (one per uncached login), ``group_searches``:
    the searches done for them (zero more on a group-cache hit); ``username_searches``:
    searches for the holders of a username value (the duplicate check).
    """

    KINDS = ("binds", "searches", "group_lookups", "group_searches", "username_searches")

    def __init__(self) -> None:
        self._counts = dict.fromkeys(self.KINDS, 0)
        self._lock = threading.Lock()  # incremented from the directory threads

    def add(self, *kinds: str) -> None:
        with self._lock:
            for kind in kinds:
                self._counts[kind] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


class Sessions:
    """The servers of one LDAP directory and the pool their operations run in."""

    def __init__(
        self,
        options: LdapOptions,
        on_operation: OperationObserver | None,
        on_discovery_failure: Callable[[], None] | None = None,
    ) -> None:
        self.options = options
        discovering = options.discovery is not None
        self.servers = ServerList(options.urls, options.transport, discovering=discovering)
        self.ops = OpCounter()
        self._executor = ThreadPoolExecutor(
            max_workers=options.max_concurrent, thread_name_prefix="ldap"
        )
        self._slots = asyncio.Semaphore(options.max_concurrent)
        #: user binds on the event loop (the steady-state login), own pools per server
        self.binder = Binder(self.servers)
        #: the failover list from DNS (``[directory] domain``), kept fresh; None: urls only
        self.discovery = (
            Discovery(options.discovery, self.servers, self.binder, on_failure=on_discovery_failure)
            if options.discovery is not None
            else None
        )
        self._on_operation = on_operation or (lambda server, op, seconds, outcome: None)

    async def located(self) -> None:
        """With discovery: wait (within one server's budget) for DNS's first answer, then
        say why there is no server at all if that is so."""
        if self.discovery is None:
            return
        await self.discovery.ready(self._per_server)
        if not self.servers.servers:
            error = self.discovery.error or "DNS has not answered yet"
            raise DirectoryUnavailable(f"no domain controller found: {error}")

    # -- running -------------------------------------------------------------------
    async def run(self, function: Callable[[float], T]) -> T:
        """Run blocking ``function(deadline)`` in the pool, bounded and with a deadline;
        whatever ldap3 raises that no server failover caught is translated here."""
        started = time.monotonic()
        await self.located()
        budget = self._budget()
        loop = asyncio.get_running_loop()
        async with self._slots:
            remaining = budget - (time.monotonic() - started)
            if remaining <= 0:
                raise DirectoryUnavailable("waited too long for a free directory slot")
            try:
                return await loop.run_in_executor(
                    self._executor, function, time.monotonic() + remaining
                )
            except LDAPInvalidFilterError as exc:
                raise DirectoryMisconfigured(
                    f"not a valid LDAP filter ({exc}); check directory.user_filter"
                ) from exc
            except LDAPException as exc:
                raise DirectoryUnavailable(describe_failure(exc)) from exc

    @property
    def _per_server(self) -> float:
        transport = self.options.transport
        return transport.connect_timeout + 2 * transport.operation_timeout

    def _budget(self) -> float:
        return self._per_server * max(1, len(self.servers.servers))

    async def on_any(self, operation: Callable[[ServerState], T]) -> T:
        """``operation`` on the first server that answers (failover, cool-downs)."""
        return await self.run(functools.partial(self.servers.run, operation))

    async def as_service(self, work: Work[T], only: ServerState | None = None) -> T:
        """``work`` on a service-account connection of the first server that answers,
        or of ``only`` (no failover: e.g. the PDC emulator's counters)."""

        def operation(server: ServerState) -> T:
            return server.use("search", self.service_connection, lambda c: work(c, server))

        if only is None:
            return await self.on_any(operation)
        return await self.run(lambda deadline: _on_one(only, operation))

    async def bind_on_loop(
        self, dn: str, password: bytes, controls: Sequence[wire.Control]
    ) -> tuple[wire.Response, ServerState]:
        """A user bind on the event loop (``binder``): no thread, under the same bound
        on concurrent directory operations; failover as ``on_any``."""
        await self.located()
        async with self._slots:
            return await self.binder.bind(dn, password, controls)

    async def as_user_bind(self, work: Work[T]) -> T:
        """``work`` on an ldap3 connection kept for user binds (never used for a search):
        direct-bind mode, where the bound connection then reads the user's own entry."""

        def operation(server: ServerState) -> T:
            return server.use("bind", _unbound, lambda c: work(c, server))

        return await self.on_any(operation)

    # -- connections ---------------------------------------------------------------
    def service_connection(self, server: ServerState) -> ldap3.Connection:
        """A new connection bound as the service account; a refused bind is a config
        problem, said with the keys to check."""
        connection = server.open(self.options.bind_dn, self.options.bind_password)
        started = time.monotonic()
        ok = connection.bind()
        self.observe(server, "service_bind", started, ok)
        if not ok:
            try:
                result = check_result(connection, "service account bind")
            finally:
                close_connection(connection)
            raise DirectoryMisconfigured(
                f"the service account could not bind ({result_text(result)}); "
                "check directory.bind_dn and its password",
                server.name,
            )
        return connection

    def observe(self, server: ServerState, op: str, started: float, ok: bool) -> None:
        self._on_operation(server.name, op, time.monotonic() - started, "ok" if ok else "fail")

    # -- service-account reads (the lockout reader, start-up checks) -----------------
    async def read(
        self, dn: str, attributes: Sequence[str], server: ServerState | None = None
    ) -> UserEntry | None:
        """One entry as the service account sees it (None: absent or not visible), on
        ``server`` only, or on the first configured server that answers."""
        found = await self.as_service(_searcher(dn, "BASE", attributes, self.ops), server)
        return found[0] if found else None

    async def search(
        self, base: str, search_filter: str, attributes: Sequence[str]
    ) -> list[UserEntry]:
        """Every matching entry under ``base`` in one answer (the policy entries: a
        handful; referrals never chased)."""
        return await self.as_service(
            _searcher(base, "SUBTREE", attributes, self.ops, search_filter)
        )

    @property
    def configured(self) -> Sequence[ServerState]:
        return self.servers.servers

    def outside(self, url: str) -> ServerState:
        return self.servers.outside(url)

    def stats(self) -> DirectoryStats:
        servers = tuple(server.stats() for server in self.servers.servers)
        return DirectoryStats(servers, self.ops.snapshot())

    async def close(self) -> None:
        if self.discovery is not None:
            await self.discovery.close()
        await self.binder.close()
        for server in self.servers.servers:
            server.drop_pools()
        self._executor.shutdown(wait=False, cancel_futures=True)


def _unbound(server: ServerState) -> ldap3.Connection:
    return server.open(None, None)


def _on_one(server: ServerState, operation: Callable[[ServerState], T]) -> T:
    try:
        return operation(server)
    except TRANSPORT_ERRORS_AND_FAILURES as exc:
        raise DirectoryUnavailable(describe_failure(exc), server.name) from exc


def _searcher(
    base: str,
    scope: Scope,
    attributes: Sequence[str],
    ops: OpCounter,
    search_filter: str = "(objectClass=*)",
) -> Work[list[UserEntry]]:
    def work(connection: ldap3.Connection, server: ServerState) -> list[UserEntry]:
        connection.search(base, search_filter, scope, attributes=list(attributes))
        ops.add("searches")
        found = found_entries(connection, "read", server.name, accepted=(0, 4, 32))
        return [to_entry(e, server.name) for e in found]  # 32: noSuchObject, e.g. not visible

    return work
