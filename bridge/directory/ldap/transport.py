"""Reaching LDAP servers: timeouts, pooled connections, failover.

Everything here blocks and runs in the directory executor, never on the event loop.

* An ordered list of servers: the configured URLs, or the DCs that DNS names (it may
  change at run time, see ``ServerList``). Only transport failures (refused, timeout,
  TLS error, busy/unavailable results) move on to the next one; a failing server is
  skipped for a cool-down and then probed again. Answers such as "wrong password"
  never fail over.
* Two pools per server: *search* connections bound as the service account, and *bind*
  connections used for nothing but user binds. A connection that was bound as a user
  is never used for a search.
* Connections are recycled after ``max_age`` (before AD's idle timeout drops them) and
  replaced when the server drops them.

TLS (the context, the handshake, describing its failures) is ``tls.py``; what an
answer means (entries, result codes) is ``results.py``.
"""

from __future__ import annotations

import dataclasses
import math
import queue
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Literal, TypeVar
from urllib.parse import urlsplit

import ldap3
from ldap3.core import exceptions as ldap_exc

from bridge.core.errors import DirectoryUnavailable
from bridge.core.ports import ServerStats
from bridge.directory.ldap.tls import VerifiedTls, describe_failure, needs_tls, tls_context
from bridge.directory.locator.locator import Placement

T = TypeVar("T")
#: The two pools: service-account connections for searches, connections for user binds.
Pool = Literal["search", "bind"]

#: ldap3 exceptions that mean the transport failed.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    ldap_exc.LDAPCommunicationError,
    ldap_exc.LDAPSocketOpenError,
    ldap_exc.LDAPSocketReceiveError,
    ldap_exc.LDAPSocketSendError,
    ldap_exc.LDAPSessionTerminatedByServerError,
    ldap_exc.LDAPStartTLSError,
    ldap_exc.LDAPCertificateError,
    ldap_exc.LDAPResponseTimeoutError,
    ldap_exc.LDAPSocketCloseError,
    ldap_exc.LDAPMaximumRetriesError,
    ldap_exc.LDAPBindError,
    ssl.SSLError,
    OSError,
)


class TransportFailure(Exception):
    """One server failed to answer; the caller may try the next."""


class StaleConnection(TransportFailure):
    """A pooled connection the server had closed; retry on a new one before failing over."""


TRANSPORT_ERRORS_AND_FAILURES: tuple[type[BaseException], ...] = (
    *TRANSPORT_ERRORS,
    TransportFailure,
)


@dataclass(frozen=True)
class TransportOptions:
    """Connection settings shared by every server."""

    start_tls: bool
    ca_file: str | None
    tls_server_name: str | None
    connect_timeout: float
    operation_timeout: float
    pool_size: int
    max_age: float
    cooldown: float


@dataclass
class _Pooled:
    connection: ldap3.Connection
    born: float


@dataclass
class ServerState:
    """One directory server and its two connection pools."""

    url: str
    options: TransportOptions
    #: the verifying client context, shared by the servers of one config (None: no TLS)
    tls: ssl.SSLContext | None = None
    down_until: float = 0.0
    last_error: str = ""
    #: True: the last operation sent here was answered; False: it failed; None: none yet
    up: bool | None = None
    _search: queue.LifoQueue[_Pooled] = field(default_factory=queue.LifoQueue)
    _bind: queue.LifoQueue[_Pooled] = field(default_factory=queue.LifoQueue)
    in_use: int = 0
    #: operations sent this server's way, failed ones included (shows who was skipped)
    attempts: int = 0
    #: the address to dial (found in DNS); None: the URL's host, resolved when connecting
    address: str | None = None
    #: where it came from: "url" (configured), "srv_site", "srv_domain" (DNS)
    source: str = "url"
    #: out of the failover list: requests in flight finish, nothing goes back to a pool
    retired: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return self.url

    def open(self, user: str | None, password: bytes | None) -> ldap3.Connection:
        """A new connection, TLS started, to bind as ``user`` (or not bound at all).

        ``password`` is bytes so that ldap3 sends it as it is (see bridge.directory.passwords)."""
        # A fresh ldap3.Server each time: ldap3 remembers a refused address as unusable
        # and would keep failing after the server came back.
        connection = ldap3.Connection(
            make_server(self.url, self.options, self.tls, self.address),
            user=user,
            password=password,  # type: ignore[arg-type]  # the stubs say str; bytes are sent raw
            authentication=ldap3.SIMPLE if user else ldap3.ANONYMOUS,
            client_strategy=ldap3.SYNC,
            auto_bind=ldap3.AUTO_BIND_NONE,
            read_only=True,
            receive_timeout=max(1, math.ceil(self.options.operation_timeout)),  # ldap3 packs an int
            auto_referrals=False,
            raise_exceptions=False,
            return_empty_attributes=False,
        )
        try:
            connection.open(read_server_info=False)
            if self.options.start_tls and not connection.server.ssl and not connection.start_tls():
                raise TransportFailure(f"StartTLS refused: {connection.result.get('description')}")
        except BaseException:
            close_connection(connection)  # ldap3 leaves the socket of a failed open behind
            raise
        return connection

    def use(
        self,
        kind: Pool,
        factory: Callable[[ServerState], ldap3.Connection],
        work: Callable[[ldap3.Connection], T],
    ) -> T:
        """Run ``work`` on a pooled connection; if the server had dropped it while idle,
        once more on a new connection (the other idle ones are stale too: drop them)."""
        try:
            with self.lease(kind, lambda: factory(self)) as connection:
                return work(connection)
        except StaleConnection:
            self.drop_pools()
        with self.lease(kind, lambda: factory(self), fresh=True) as connection:
            return work(connection)

    @contextmanager
    def lease(
        self, kind: Pool, factory: Callable[[], ldap3.Connection], fresh: bool = False
    ) -> Iterator[ldap3.Connection]:
        """Borrow a pooled connection (a new one with ``fresh``); it goes back to the pool
        only if nothing went wrong. A transport failure on a *reused* connection raises
        StaleConnection: the server dropped it while idle, which says nothing about the
        server's health."""
        pool = self._search if kind == "search" else self._bind
        pooled = None if fresh else self._take(pool)
        reused = pooled is not None
        if pooled is None:
            pooled = _Pooled(factory(), time.monotonic())
        with self._lock:
            self.in_use += 1
        healthy = False
        try:
            yield pooled.connection
            healthy = not pooled.connection.closed
        except TRANSPORT_ERRORS_AND_FAILURES as exc:
            if reused:
                raise StaleConnection(f"pooled connection dropped: {exc}") from exc
            raise
        except Exception:
            healthy = not pooled.connection.closed  # an answer, not a broken connection
            raise
        finally:
            with self._lock:  # retire() takes it too: nothing is pooled after it
                self.in_use -= 1
                kept = healthy and not self.retired and pool.qsize() < self.options.pool_size
                if kept:
                    pool.put(pooled)
            if not kept:
                close_connection(pooled.connection)

    def _take(self, pool: queue.LifoQueue[_Pooled]) -> _Pooled | None:
        while True:
            try:
                pooled = pool.get_nowait()
            except queue.Empty:
                return None
            if (
                time.monotonic() - pooled.born < self.options.max_age
                and not pooled.connection.closed
            ):
                return pooled
            close_connection(pooled.connection)

    def retire(self) -> None:
        """Out of the failover list (gone from DNS): from now on nothing goes back into
        its pools, so connections lent out are closed when their requests finish; the
        idle ones are the caller's to close (``drop_pools``, which blocks)."""
        with self._lock:
            self.retired = True

    def drop_pools(self) -> None:
        for pool in (self._search, self._bind):
            while (pooled := self._take_any(pool)) is not None:
                close_connection(pooled.connection)

    @staticmethod
    def _take_any(pool: queue.LifoQueue[_Pooled]) -> _Pooled | None:
        try:
            return pool.get_nowait()
        except queue.Empty:
            return None

    def stats(self) -> ServerStats:
        return ServerStats(
            self.name, self.up, self.in_use, self.attempts, self.last_error, self.source
        )


def close_connection(connection: ldap3.Connection) -> None:
    """Unbind politely; whatever happens, the socket is closed afterwards."""
    # a dead socket may fail to unbind any way it likes
    with suppress(Exception):
        connection.unbind()
    sock = getattr(connection, "socket", None)
    if sock is not None:
        with suppress(OSError):
            sock.close()
    connection.closed = True


def make_server(
    url: str,
    options: TransportOptions,
    context: ssl.SSLContext | None,
    address: str | None = None,
) -> ldap3.Server:
    """The server to dial: ``address`` when DNS gave one, else the URL's host; the
    certificate is checked against ``tls_server_name`` or the URL's host."""
    parts = urlsplit(url)
    use_ssl = parts.scheme == "ldaps"
    host = parts.hostname or ""
    tls = None
    if needs_tls(url, options.start_tls):
        if context is None:
            raise TransportFailure(f"{url}: TLS is required but no TLS context was built")
        tls = VerifiedTls(context, options.tls_server_name or host)
    return ldap3.Server(
        address or host,
        port=parts.port or (636 if use_ssl else 389),
        use_ssl=use_ssl,
        tls=tls,
        get_info=ldap3.NONE,
        connect_timeout=options.connect_timeout,
    )


class ServerList:
    """The servers in failover order, with cool-downs after failures.

    The list is the configured URLs, or what DNS discovery last found
    (``bridge.directory.ldap.discovery``), and ``replace`` may change it while
    requests run: the list is a tuple swapped in one assignment, so a request that
    took ``candidates()`` goes on with the servers it took, in its own thread or on
    the event loop, and a server that left the list is retired (its pools closed,
    nothing pooled after) rather than torn down under a request that uses it.
    """

    def __init__(
        self,
        urls: Sequence[str],
        options: TransportOptions,
        clock: Callable[[], float] = time.monotonic,
        *,
        discovering: bool = False,
    ) -> None:
        self.options = options
        #: the verifying context of every server of this config (discovered DCs: always TLS)
        self.tls: ssl.SSLContext | None = None
        if discovering or any(needs_tls(url, options.start_tls) for url in urls):
            self.tls = tls_context(options.ca_file)
        self._servers = tuple(ServerState(url, options, self.tls) for url in urls)
        #: cool-downs are measured on this clock; a test may swap it for a fake one
        self.clock = clock

    @property
    def servers(self) -> tuple[ServerState, ...]:
        """The failover list of the moment."""
        return self._servers

    def replace(self, wanted: Sequence[Placement]) -> list[ServerState]:
        """Make ``wanted`` the failover list, keeping the state (pools, cool-down) of
        servers already in it; returns those that left, to be retired by the caller.
        Call it from one place only (the event loop's discovery task)."""
        current = {(s.url, s.address): s for s in self._servers}
        servers = []
        for placement in wanted:
            server = current.pop(placement.key, None)
            if server is None:
                server = self._new(placement)
            server.source = placement.source
            servers.append(server)
        self._servers = tuple(servers)
        return list(current.values())

    def _new(self, placement: Placement) -> ServerState:
        """A discovered DC's certificate must name the SRV target: ``tls_server_name``
        is for the configured URLs."""
        options = self.options
        if placement.source != "url" and options.tls_server_name:
            options = dataclasses.replace(options, tls_server_name=None)
        return ServerState(placement.url, options, self.tls, address=placement.address)

    def outside(self, url: str) -> ServerState:
        """A server outside the failover list (e.g. AD's PDC emulator), sharing the TLS
        context; its certificate is checked against its own host name, and it is
        dialled at the address DNS gave a listed server of the same host, if any."""
        options = self.options
        if options.tls_server_name:
            options = dataclasses.replace(options, tls_server_name=None)
        host = urlsplit(url).hostname
        address = next((s.address for s in self._servers if urlsplit(s.url).hostname == host), None)
        tls = self.tls or tls_context(options.ca_file)
        return ServerState(url, options, tls, address=address)

    def candidates(self) -> list[ServerState]:
        """Healthy servers first in failover order, then those cooling down."""
        now = self.clock()
        servers = self._servers
        healthy = [s for s in servers if s.down_until <= now]
        cooling = [s for s in servers if s.down_until > now]
        return healthy + cooling

    def mark_down(self, server: ServerState, error: str) -> None:
        server.down_until = self.clock() + self.options.cooldown
        server.last_error = error
        server.up = False
        server.drop_pools()

    def mark_up(self, server: ServerState) -> None:
        server.down_until = 0.0
        server.last_error = ""
        server.up = True

    def run(self, operation: Callable[[ServerState], T], deadline: float) -> T:
        """Run ``operation`` on the first server that answers, before ``deadline``.

        ``DirectoryMisconfigured`` does not fail over: every server would say the same.
        """
        errors: list[str] = []
        for server in self.candidates():
            if time.monotonic() >= deadline:  # deadlines are real time, cool-downs are not
                errors.append("request deadline reached")
                break
            server.attempts += 1
            try:
                result = operation(server)
            except TransportFailure as exc:
                self.mark_down(server, str(exc))
                errors.append(f"{server.name}: {exc}")
                continue
            except TRANSPORT_ERRORS as exc:
                detail = describe_failure(exc)
                self.mark_down(server, detail)
                errors.append(f"{server.name}: {detail}")
                continue
            self.mark_up(server)
            return result
        raise DirectoryUnavailable("; ".join(errors) or "no directory server configured")
