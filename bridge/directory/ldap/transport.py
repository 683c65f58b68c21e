"""Reaching LDAP servers: TLS, timeouts, pooled connections, failover.

Everything here blocks and runs in the directory executor, never on the event loop.

* An ordered list of servers. Only transport failures (refused, timeout, TLS error,
  busy/unavailable results) move on to the next one; a failing server is skipped for a
  cool-down and then probed again. Answers such as "wrong password" never fail over.
* Two pools per server: *search* connections bound as the service account, and *bind*
  connections used for nothing but user binds. A connection that was bound as a user
  is never used for a search.
* Connections are recycled after ``max_age`` (before AD's idle timeout drops them) and
  replaced when the server drops them.
"""

from __future__ import annotations

import dataclasses
import math
import queue
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ldap3
from ldap3.core import exceptions as ldap_exc

from bridge.core.errors import DirectoryMisconfigured, DirectoryUnavailable

T = TypeVar("T")

#: Result codes that mean "this server cannot answer now": try the next one.
TRANSIENT_RESULTS = frozenset({51, 52, 80, 81})  # busy, unavailable, other, server down
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


def describe_tls_error(exc: BaseException) -> str:
    """Say what failed in a TLS handshake, so an admin knows what to fix."""
    text = str(exc)
    lowered = text.lower()
    if "expired" in lowered:
        return f"TLS: the server certificate has expired ({text})"
    if "doesn't match" in lowered or "hostname" in lowered or "ip address mismatch" in lowered:
        return f"TLS: the certificate does not name this server; set tls_server_name ({text})"
    if (
        "unable to get local issuer" in lowered
        or "self-signed" in lowered
        or "self signed" in lowered
    ):
        return f"TLS: certificate chain not trusted; check ca_file ({text})"
    if "certificate verify failed" in lowered:
        return f"TLS: certificate verification failed ({text})"
    return text


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
    _search: queue.LifoQueue[_Pooled] = field(default_factory=queue.LifoQueue)
    _bind: queue.LifoQueue[_Pooled] = field(default_factory=queue.LifoQueue)
    in_use: int = 0
    opened: int = 0
    #: operations sent this server's way, failed ones included (shows who was skipped)
    attempts: int = 0
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
            make_server(self.url, self.options, self.tls),
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
            with self._lock:
                self.opened += 1
            if self.options.start_tls and not connection.server.ssl and not connection.start_tls():
                raise TransportFailure(f"StartTLS refused: {connection.result.get('description')}")
        except BaseException:
            close_connection(connection)  # ldap3 leaves the socket of a failed open behind
            raise
        return connection

    @contextmanager
    def lease(
        self, kind: str, factory: Callable[[], ldap3.Connection], fresh: bool = False
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
            with self._lock:
                self.in_use -= 1
            if healthy and pool.qsize() < self.options.pool_size:
                pool.put(pooled)
            else:
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

    @property
    def idle(self) -> int:
        return self._search.qsize() + self._bind.qsize()


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


class VerifiedTls(ldap3.Tls):
    """TLS done by the standard library: chain and name checked in the handshake.

    ldap3 2.9 checks the name itself with ``ssl.match_hostname`` (deprecated since
    Python 3.7, removed in 3.12, a DeprecationWarning that aborts the handshake under
    warnings-as-errors) and treats ``valid_names`` as names to accept *besides* the
    dialled host, so ``tls_server_name`` could never narrow the check. Here the
    context checks the one expected name (``tls_server_name`` or the URL's host, IP
    literals against IP SANs) and refuses anything below TLS 1.2.
    """

    def __init__(self, context: ssl.SSLContext, server_name: str) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED)
        self.context = context
        self.server_name = server_name

    def wrap_socket(self, connection: ldap3.Connection, do_handshake: bool = False) -> None:
        connection.socket = self.context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=self.server_name,
        )


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The verifying client context: built once per loaded config and shared by every
    connection, so a reload (not a restart) is what picks up a replaced CA file."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def needs_tls(url: str, options: TransportOptions) -> bool:
    return urlsplit(url).scheme == "ldaps" or options.start_tls


def make_server(
    url: str, options: TransportOptions, context: ssl.SSLContext | None
) -> ldap3.Server:
    parts = urlsplit(url)
    use_ssl = parts.scheme == "ldaps"
    host = parts.hostname or ""
    tls = None
    if needs_tls(url, options):
        if context is None:
            raise TransportFailure(f"{url}: TLS is required but no TLS context was built")
        tls = VerifiedTls(context, options.tls_server_name or host)
    return ldap3.Server(
        host,
        port=parts.port or (636 if use_ssl else 389),
        use_ssl=use_ssl,
        tls=tls,
        get_info=ldap3.NONE,
        connect_timeout=options.connect_timeout,
    )


class ServerList:
    """The configured servers in order, with cool-downs after failures."""

    def __init__(
        self,
        urls: Sequence[str],
        options: TransportOptions,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        tls = tls_context(options.ca_file) if any(needs_tls(u, options) for u in urls) else None
        self.servers = [ServerState(url, options, tls) for url in urls]
        #: cool-downs are measured on this clock; a test may swap it for a fake one
        self.clock = clock
        self.on_state: Callable[[ServerState, bool], None] = lambda server, up: None

    def outside(self, url: str) -> ServerState:
        """A server outside the failover list (e.g. AD's PDC emulator), sharing the TLS
        context; its certificate is checked against its own host name."""
        options = self.options
        if options.tls_server_name:
            options = dataclasses.replace(options, tls_server_name=None)
        tls = self.servers[0].tls if self.servers else None
        return ServerState(url, options, tls or tls_context(options.ca_file))

    def candidates(self) -> list[ServerState]:
        """Healthy servers first in configured order, then those cooling down."""
        now = self.clock()
        healthy = [s for s in self.servers if s.down_until <= now]
        cooling = [s for s in self.servers if s.down_until > now]
        return healthy + cooling

    def mark_down(self, server: ServerState, error: str) -> None:
        server.down_until = self.clock() + self.options.cooldown
        server.last_error = error
        server.drop_pools()
        self.on_state(server, False)

    def mark_up(self, server: ServerState) -> None:
        if server.down_until or server.last_error:
            server.down_until = 0.0
            server.last_error = ""
        self.on_state(server, True)

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
                detail = describe_tls_error(exc) if _is_tls(exc) else _short(exc)
                self.mark_down(server, detail)
                errors.append(f"{server.name}: {detail}")
                continue
            self.mark_up(server)
            return result
        raise DirectoryUnavailable("; ".join(errors) or "no directory server configured")


def _is_tls(exc: BaseException) -> bool:
    return isinstance(
        exc, ssl.SSLError | ldap_exc.LDAPCertificateError | ldap_exc.LDAPStartTLSError
    ) or ("certificate" in str(exc).lower() or "ssl" in type(exc).__name__.lower())


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


def entries(connection: ldap3.Connection) -> list[dict[str, Any]]:
    """The entries of the last search; referrals (searchResRef) are never followed."""
    return [r for r in connection.response or [] if r.get("type") == "searchResEntry"]


def result_text(result: Mapping[str, Any] | None) -> str:
    """``description: message``, or the description alone when the server said nothing."""
    result = result or {}
    message = str(result.get("message") or "").strip().rstrip("\x00").strip()
    description = str(result.get("description", "no result"))
    return (f"{description}: {message}" if message else description)[:200]


def check_result(connection: ldap3.Connection, what: str) -> dict[str, Any]:
    """Turn an ldap3 result into an exception when it means "server cannot answer"."""
    result: dict[str, Any] = connection.result or {}
    code = result.get("result", 0)
    if code in TRANSIENT_RESULTS:
        raise TransportFailure(f"{what}: {result.get('description')} {result.get('message', '')}")
    if code == 8:  # strongerAuthRequired
        raise DirectoryMisconfigured(
            f"{what}: the server requires transport encryption for simple binds; "
            "use an ldaps:// URL or set start_tls = true",
            str(connection.server),
        )
    return result
