"""User binds on the event loop: the steady-state login's one LDAP operation.

A user bind needs no search and no state beyond the connection, so it does not go
through ldap3 and the thread pool (``ldap/wire.py`` says why): each server keeps a
small pool of connections used for nothing but user binds, opened with the same TLS
rules as every other connection (LDAPS or StartTLS, chain and name checked by the
shared context, TLS 1.2 at least), each operation under ``operation_timeout``.

Failover follows the rest of the directory: only a transport failure (refused, timed
out, TLS, busy/unavailable results) moves to the next server and cools this one down;
a pooled connection the server had dropped while idle is retried once on a new one
(that says nothing about the server); an answer such as "wrong password" is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from collections.abc import Sequence
from urllib.parse import urlsplit

from bridge.core.errors import DirectoryUnavailable
from bridge.directory.ldap import wire
from bridge.directory.ldap.results import TRANSIENT_RESULTS
from bridge.directory.ldap.tls import describe_tls_error
from bridge.directory.ldap.transport import ServerList, ServerState

#: Everything that means "this connection or server failed", not "the answer is no".
LINK_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    TimeoutError,
    ssl.SSLError,
    wire.WireError,
    asyncio.IncompleteReadError,
)


class LinkFailure(Exception):
    """This server did not answer properly; another one may."""


FAILOVER_ERRORS: tuple[type[BaseException], ...] = (LinkFailure, *LINK_ERRORS)


class BindLink:
    """One connection used only for user binds."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.born = time.monotonic()
        self._next_id = 0

    def _id(self) -> int:
        self._next_id = self._next_id % 2_000_000_000 + 1
        return self._next_id

    @classmethod
    async def open(cls, server: ServerState) -> BindLink:
        options = server.options
        parts = urlsplit(server.url)
        host = parts.hostname or ""
        secure = parts.scheme == "ldaps"
        port = parts.port or (636 if secure else 389)
        name = options.tls_server_name or host
        context = server.tls if secure else None
        async with asyncio.timeout(options.connect_timeout):
            reader, writer = await asyncio.open_connection(
                server.address or host, port, ssl=context, server_hostname=name if context else None
            )
        link = cls(reader, writer)
        if options.start_tls and not secure:
            try:
                await link._start_tls(server, name)
            except BaseException:
                link.close()
                raise
        return link

    async def _start_tls(self, server: ServerState, name: str) -> None:
        if server.tls is None:
            raise LinkFailure(f"{server.url}: TLS is required but no TLS context was built")
        answer = await self.exchange(wire.start_tls_request(self._id()), server)
        if answer.result != 0:
            raise LinkFailure(f"StartTLS refused: {answer.message or answer.result}")
        async with asyncio.timeout(server.options.connect_timeout):
            await self.writer.start_tls(server.tls, server_hostname=name)

    async def exchange(self, request: bytes, server: ServerState) -> wire.Response:
        """Send one request and read its answer, under the operation timeout."""
        async with asyncio.timeout(server.options.operation_timeout):
            # a bind request is a few hundred bytes: the transport takes it at once,
            # so there is no buffer to drain
            self.writer.write(request)
            return await self._read()

    async def _read(self) -> wire.Response:
        buffer = b""
        while True:
            size = wire.message_size(buffer)
            if size is not None and len(buffer) >= size:
                answer = wire.parse_response(buffer[:size])
                if answer.message_id == 0:  # notice of disconnection
                    raise EOFError(answer.message or "the server is closing the connection")
                return answer
            chunk = await self.reader.read(65536)
            if not chunk:
                raise EOFError("the server closed the connection")
            buffer += chunk

    async def bind(
        self, server: ServerState, dn: str, password: bytes, controls: Sequence[wire.Control]
    ) -> wire.Response:
        return await self.exchange(wire.bind_request(self._id(), dn, password, controls), server)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.write(wire.unbind_request(self._id()))
        self.writer.close()

    @property
    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()


class Binder:
    """Per-server pools of bind connections, with failover over a ServerList."""

    def __init__(self, servers: ServerList) -> None:
        self.servers = servers
        #: idle links by server URL; a server that left the list takes its own along
        self._idle: dict[str, deque[BindLink]] = {}

    async def bind(
        self, dn: str, password: bytes, controls: Sequence[wire.Control] = ()
    ) -> tuple[wire.Response, ServerState]:
        """The first server's answer; DirectoryUnavailable when none answered."""
        errors: list[str] = []
        for server in self.servers.candidates():
            server.attempts += 1
            try:
                answer = await self._on(server, dn, password, controls)
            except FAILOVER_ERRORS as exc:
                detail = _describe(exc)
                self.servers.mark_down(server, detail)
                self._drop(server)
                errors.append(f"{server.url}: {detail}")
                continue
            self.servers.mark_up(server)
            return answer, server
        raise DirectoryUnavailable("; ".join(errors) or "no directory server configured")

    async def _on(
        self, server: ServerState, dn: str, password: bytes, controls: Sequence[wire.Control]
    ) -> wire.Response:
        link = self._take(server)
        if link is not None:
            try:
                return await self._bind(server, link, dn, password, controls)
            except LINK_ERRORS:
                self._drop(server)  # dropped while idle: the others are stale too
        link = await BindLink.open(server)
        return await self._bind(server, link, dn, password, controls)

    async def _bind(
        self,
        server: ServerState,
        link: BindLink,
        dn: str,
        password: bytes,
        controls: Sequence[wire.Control],
    ) -> wire.Response:
        server.in_use += 1
        healthy = False
        try:
            answer = await link.bind(server, dn, password, controls)
            if answer.result in TRANSIENT_RESULTS:
                raise LinkFailure(f"user bind: result {answer.result} {answer.message}")
            healthy = True
            return answer
        finally:
            server.in_use -= 1
            self._give_back(server, link, healthy)

    def _pool(self, server: ServerState) -> deque[BindLink]:
        """The idle links of ``server``; a server out of the list has none, and what is
        put into its pool is closed at once (a new server under the same URL may
        already have links of its own)."""
        if server.retired:
            return deque()
        return self._idle.setdefault(server.url, deque())

    def _take(self, server: ServerState) -> BindLink | None:
        idle = self._pool(server)
        while idle:
            link = idle.pop()
            if link.usable and time.monotonic() - link.born < server.options.max_age:
                return link
            link.close()
        return None

    def _give_back(self, server: ServerState, link: BindLink, healthy: bool) -> None:
        idle = self._pool(server)
        if healthy and link.usable and not server.retired and len(idle) < server.options.pool_size:
            idle.append(link)
        else:
            link.close()

    def forget(self, server: ServerState) -> None:
        """``server`` left the failover list: close its idle links (a bind in flight on
        it finishes, and its link is closed then, as ``server.retired`` says)."""
        for link in self._idle.pop(server.url, ()):
            link.close()

    def _drop(self, server: ServerState) -> None:
        idle = self._pool(server)
        while idle:
            idle.pop().close()

    async def close(self) -> None:
        """Close every idle link and wait (briefly) until TLS has shut down too."""
        links = [link for idle in self._idle.values() for link in idle]
        for idle in self._idle.values():
            idle.clear()
        for link in links:
            link.close()
        for link in links:
            with contextlib.suppress(*LINK_ERRORS):
                async with asyncio.timeout(1.0):
                    await link.writer.wait_closed()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError | ssl.CertificateError) or "certificate" in str(exc).lower():
        return describe_tls_error(exc)
    if isinstance(exc, TimeoutError):
        return "TimeoutError: no answer within the timeout"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
