"""An AD forest's global catalog (ports 3268/3269): which domain holds a login.

Implements :class:`bridge.core.ports.Catalog`. The catalog holds every object of the
forest with a partial set of attributes, and of the groups only the universal ones:
so it is asked for DNs and nothing else. The login core maps a DN's DC= parts to the
configured directory serving that domain, and that directory does the rest (the bind,
the lockout counters, the groups).

It runs on the same machinery as a directory (``Sessions``: a bounded pool, the
deadline, failover across the catalog's servers, the service account of the directory
it is configured on), and shows itself to the ops endpoints and ``check-config`` as a
directory does: ``check``, ``stats``, ``probe``.
"""

from __future__ import annotations

import asyncio
import functools
import time

import ldap3

from bridge.core.ports import DirectoryStats, Probe, Readiness
from bridge.directory.ldap import filters
from bridge.directory.ldap.options import LdapOptions
from bridge.directory.ldap.probe import probe_server
from bridge.directory.ldap.results import check_result, found_entries
from bridge.directory.ldap.sessions import OperationObserver, Sessions
from bridge.directory.ldap.transport import ServerState

#: The whole forest: a catalog search based at the root names no domain.
FOREST = ""


class GlobalCatalog:
    """The catalog servers of one forest, searched with a directory's user filter."""

    def __init__(self, options: LdapOptions, on_operation: OperationObserver | None = None):
        self.options = options
        self._sessions = Sessions(options, on_operation)

    async def locate(self, login: str) -> tuple[str, ...]:
        search_filter = filters.user_filter(self.options.user_filter, login)
        return await self._sessions.as_service(functools.partial(self._search, search_filter))

    def _search(
        self, search_filter: str, connection: ldap3.Connection, server: ServerState
    ) -> tuple[str, ...]:
        started = time.monotonic()
        connection.search(
            FOREST,
            search_filter,
            ldap3.SUBTREE,
            attributes=["1.1"],
            size_limit=2,
            time_limit=int(self.options.transport.operation_timeout) or 1,
        )
        self._sessions.ops.add("searches")
        self._sessions.observe(server, "catalog_search", started, True)
        matches = found_entries(connection, "global catalog search", server.name)
        return tuple(str(match["dn"]) for match in matches)

    async def check(self) -> Readiness:
        def read_root(connection: ldap3.Connection, server: ServerState) -> Readiness:
            connection.search(FOREST, "(objectClass=*)", ldap3.BASE, attributes=["1.1"])
            check_result(connection, "global catalog readiness probe")
            return Readiness(server.name, "service account bound (global catalog)")

        return await self._sessions.as_service(read_root)

    async def probe(self) -> Probe:
        servers = []
        for server in self._sessions.servers.servers:
            servers.append(await asyncio.to_thread(probe_server, server, self.options))
        return Probe(tuple(servers))

    def stats(self) -> DirectoryStats:
        return self._sessions.stats()

    async def close(self) -> None:
        await self._sessions.close()
