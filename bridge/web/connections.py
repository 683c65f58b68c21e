"""Bound every connection: a header deadline, an idle bound, per-client and total caps.

Why: aiohttp closes a connection only through its keep-alive timer (3630 s by default),
and that timer also covers a request whose headers never finish. A client sending its
headers one line at a time held a socket for an hour; a few hundred of them used up the
file descriptors and a real login could no longer be accepted. The body already has a
deadline (408 from the handlers); this module bounds the rest of a connection's life:

* Headers: a request line and its headers must be complete within
  ``server.request_deadline`` of the connection being accepted (the first request) or of
  the first byte of a later request on a kept-alive connection. Otherwise the connection
  is closed without an answer: there is no request to answer yet.
* Idle: a kept-alive connection with nothing in progress is closed after
  ``server.keepalive_timeout`` (aiohttp's own timer, given the current value for every new
  connection).
* Caps, on the Ringotel-facing listeners only: ``server.max_connections_per_client`` open
  connections per source (an IPv4 address, or an IPv6 /64, which one host usually owns)
  and ``server.max_connections`` in all. A connection over a cap is closed the moment it
  is accepted, before anything is read from it. Addresses in ``server.trusted_proxies``
  count only toward the total: a reverse proxy carries many clients.

The hook. ``web.Server`` is the protocol factory aiohttp's ``TCPSite`` hands to
``loop.create_server``; it makes one ``web.RequestHandler`` per connection.
:class:`BoundedSite` is a ``web.BaseSite`` (the extension point TCPSite and SockSite
use) that hands over its own factory instead: a :class:`BoundedRequestHandler` bound to
the same runner's Server, so routing, middlewares and graceful shutdown are aiohttp's.
The subclass adds three small overrides:

* ``connection_made`` asks :class:`ConnectionLimits` to admit the peer (or aborts the
  transport) and arms the header timer, so it runs from the moment of ``accept()``.
* ``data_received`` lets aiohttp's parser run, then looks at ``_request_count``, the
  number of requests aiohttp has parsed on this connection (a private attribute, read
  only): when it grew, a request line and all its headers are in and the timer is
  disarmed. When it did not and the connection is between requests (every parsed request
  answered), the bytes are the start of a new request and the timer is armed.
* ``finish_response`` counts answers, which is how "between requests" is known.

A middleware cannot do this: it runs only once the headers are complete, so it never sees
the connection that matters, the one whose headers never complete. A timer that fired
regardless of state would cut slow but legitimate logins; armed only between requests it
never can, because any parsed request disarms it.

Known limits, each still bounded:

* TLS: ``connection_made`` follows the handshake, so a client that stalls the handshake
  is bounded by ``ssl_handshake_timeout`` (set to ``request_deadline`` here; asyncio's
  default is 60 s) and is not counted toward the caps until its handshake completes.
* Header bytes of a pipelined request that arrive while an earlier one is still being
  answered are not timed; once the connection goes idle, ``keepalive_timeout`` closes it.
* asyncio accepts a burst of up to ``backlog`` sockets before any protocol runs; with a
  tiny open-file limit that burst can still hit EMFILE, and asyncio then stops accepting
  for a second (logging it) while the refused sockets are closed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import resource
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog
from aiohttp import web

from bridge.config import Network, ServerSettings
from bridge.observability.metrics import Metrics

_log = structlog.get_logger("bridge.connections")

#: At most one ``connection_dropped`` line per listener, source and reason per interval.
LOG_INTERVAL = 60.0
#: Sources with a pending log summary at most; more are summed under "other".
LOG_SOURCES = 1024

#: What a connection counts under: an IPv4 address or an IPv6 /64.
Source = ipaddress.IPv4Address | ipaddress.IPv6Network


def source_of(peername: object, trusted: Sequence[Network]) -> Source | None:
    """The key a connection is capped under; None for a trusted proxy or a non-IP peer."""
    if not isinstance(peername, tuple) or not peername:
        return None
    try:
        address = ipaddress.ip_address(peername[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if any(address in network for network in trusted):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        return ipaddress.IPv6Network((address, 64), strict=False)
    return address


def _host(peername: object) -> str:
    return str(peername[0]) if isinstance(peername, tuple) and peername else str(peername)


def open_file_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


class DropLog:
    """One log line per listener, source and reason per interval, however many drops.

    A flood must not become a log flood. The first drop is logged at once; the drops of
    the following interval are summed into one more line when it ends (``dropped`` is
    how many connections the line stands for). The metric counts every one.
    """

    def __init__(self, interval: float = LOG_INTERVAL, sources: int = LOG_SOURCES) -> None:
        self._interval = interval
        self._sources = sources
        self._pending: dict[tuple[str, str, str], int] = {}

    def note(self, listener: str, source: str, reason: str) -> None:
        key = (listener, source, reason)
        if key not in self._pending and len(self._pending) >= self._sources:
            key = (listener, "other", reason)
        if key in self._pending:
            self._pending[key] += 1
            return
        self._emit(key, 1)

    def _emit(self, key: tuple[str, str, str], dropped: int) -> None:
        listener, source, reason = key
        _log.warning(
            "connection_dropped", listener=listener, source=source, reason=reason, dropped=dropped
        )
        self._pending[key] = 0
        asyncio.get_running_loop().call_later(self._interval, self._flush, key)

    def _flush(self, key: tuple[str, str, str]) -> None:
        dropped = self._pending.pop(key, 0)
        if dropped:
            self._emit(key, dropped)


@dataclass(frozen=True, slots=True)
class Admission:
    """An admitted connection; handed back to :meth:`ConnectionLimits.release`."""

    source: Source | None


class ConnectionLimits:
    """The open connections of one group of listeners, per source and in total.

    Settings are read from the current config at every ``accept()``, so a reload changes
    the caps for new connections; connections already open are never cut by a reload.
    """

    def __init__(
        self,
        listener: str,
        settings: Callable[[], ServerSettings],
        metrics: Metrics,
        *,
        capped: bool,
        fd_limit: int | None = None,
        log: DropLog | None = None,
    ) -> None:
        self.listener = listener
        self._settings = settings
        self._capped = capped
        self._fd_limit = fd_limit if fd_limit is not None else open_file_limit()
        self._open = metrics.connections_open.labels(listener)
        self._dropped = metrics.connections_dropped
        self._log = log or DropLog()
        self._by_source: dict[Source, int] = {}
        self.total = 0

    @property
    def settings(self) -> ServerSettings:
        return self._settings()

    def max_connections(self, settings: ServerSettings) -> int:
        """The configured total, or half the open-file limit: the other half stays free
        for directory connections, the listeners and the process itself."""
        return settings.max_connections or max(self._fd_limit // 2, 1)

    def admit(self, peername: object) -> Admission | None:
        settings = self._settings()
        source = source_of(peername, settings.trusted_proxies)
        if self._capped:
            if (
                source is not None
                and self._by_source.get(source, 0) >= settings.max_connections_per_client
            ):
                self.drop(peername, "per_client_limit", source)
                return None
            if self.total >= self.max_connections(settings):
                self.drop(peername, "max_connections", source)
                return None
        self.total += 1
        if source is not None:
            self._by_source[source] = self._by_source.get(source, 0) + 1
        self._open.inc()
        return Admission(source)

    def release(self, admission: Admission) -> None:
        self.total -= 1
        if admission.source is not None:
            left = self._by_source[admission.source] - 1
            if left:
                self._by_source[admission.source] = left
            else:
                del self._by_source[admission.source]
        self._open.dec()

    def drop(self, peername: object, reason: str, source: Source | None = None) -> None:
        self._dropped.labels(self.listener, reason).inc()
        self._log.note(self.listener, str(source) if source else _host(peername), reason)


class BoundedRequestHandler(web.RequestHandler):
    """aiohttp's per-connection protocol, plus admission and the header deadline."""

    def __init__(
        self, manager: web.Server, *, loop: asyncio.AbstractEventLoop, limits: ConnectionLimits
    ) -> None:
        settings = limits.settings
        super().__init__(
            manager,
            loop=loop,
            keepalive_timeout=settings.keepalive_timeout,
            access_log=None,  # type: ignore[arg-type]  # None: no access log (audit logs logins)
        )
        self._limits = limits
        self._header_deadline = settings.request_deadline
        self._admission: Admission | None = None
        self._peer: object = None
        self._headers_due: asyncio.TimerHandle | None = None
        self._answered = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._peer = transport.get_extra_info("peername")
        self._admission = self._limits.admit(self._peer)
        if self._admission is None:
            assert isinstance(transport, asyncio.Transport)
            transport.abort()
            return
        super().connection_made(transport)
        self._expect_headers()

    def data_received(self, data: bytes) -> None:
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed:
            self._headers_in()
        elif data and self._headers_due is None and self._answered == self._request_count:
            self._expect_headers()

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        try:
            return await super().finish_response(request, resp, start_time)
        finally:
            self._answered += 1

    def connection_lost(self, exc: BaseException | None) -> None:
        admission, self._admission = self._admission, None
        if admission is None:
            return  # refused in connection_made: aiohttp never saw this connection
        self._headers_in()
        self._limits.release(admission)
        super().connection_lost(exc)

    def _expect_headers(self) -> None:
        if self.transport is not None:
            self._headers_due = self._loop.call_later(self._header_deadline, self._headers_late)

    def _headers_in(self) -> None:
        if self._headers_due is not None:
            self._headers_due.cancel()
            self._headers_due = None

    def _headers_late(self) -> None:
        self._headers_due = None
        source = self._admission.source if self._admission else None
        self._limits.drop(self._peer, "header_deadline", source)
        self.force_close()


class BoundedSite(web.BaseSite):
    """A TCP listener whose connections are :class:`BoundedRequestHandler` instances."""

    __slots__ = ("_host", "_limits", "_port", "_reuse_port")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        limits: ConnectionLimits,
        ssl_context: ssl.SSLContext | None = None,
        reuse_port: bool = False,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._host = host
        self._port = port
        self._limits = limits
        #: several worker processes listen on the same address (SO_REUSEPORT)
        self._reuse_port = reuse_port

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{scheme}://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        limits = self._limits
        # The handshake precedes connection_made, so it needs its own bound.
        handshake = limits.settings.request_deadline if self._ssl_context else None

        def connection() -> BoundedRequestHandler:
            return BoundedRequestHandler(server, loop=loop, limits=limits)

        self._server = await loop.create_server(
            connection,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=True,
            reuse_port=self._reuse_port or None,
            ssl_handshake_timeout=handshake,
            ssl_shutdown_timeout=handshake,
        )
