"""Every connection is bounded: a header deadline, an idle bound, per-client and total caps.

Against a real ``python -m bridge serve`` with the file directory (no LDAP server): the
bounds live in the listener, so only a real process with real sockets shows them. Sources
other than 127.0.0.1 are other loopback addresses (Linux routes all of 127/8 to lo).
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import re
import resource
import signal
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.config import ServerSettings, from_mapping
from bridge.core.errors import ConfigError
from bridge.observability.metrics import Metrics
from bridge.web.connections import ConnectionLimits, DropLog, source_of
from tests.harness.bridge_process import BridgeProcess, write_config
from tests.harness.configs import deep_merge
from tests.harness.demo_users import ALICE_NUMBERS, file_raw, login
from tests.harness.logs import log_events
from tests.harness.tls import make_ca

#: Slack on top of what a bound promises: the machine is shared with other test runs.
MARGIN = 2.0
#: Headers that never end: a trickling client never completes them by itself.
ENDLESS = b"POST /auth HTTP/1.1\r\nHost: bridge\r\n" + b"X-Slow: y\r\n" * 10_000
SMALL_REQUEST = b"GET /auth HTTP/1.1\r\nHost: bridge\r\n\r\n"  # 405, kept alive

Address = tuple[str, int]


def start_process(directory: Path, preexec: Any = None, **server: Any) -> BridgeProcess:
    directory.mkdir(parents=True, exist_ok=True)
    config = write_config(directory / "bridge.toml", file_raw(directory, **server))
    return BridgeProcess(config, preexec=preexec).start()


def numbers(body: Any) -> list[str]:
    return [value["username"] for value in body["values"]]


def metric(bridge: BridgeProcess, name: str, **labels: str) -> float:
    """One sample from the ops listener's /metrics (0 when the series does not exist yet)."""
    assert bridge.ops_address is not None
    with socket.create_connection(bridge.ops_address, timeout=5) as ops:
        ops.sendall(b"GET /metrics HTTP/1.1\r\nHost: ops\r\nConnection: close\r\n\r\n")
        text = b"".join(iter(lambda: ops.recv(65536), b"")).decode()
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and dict(re.findall(r'(\w+)="([^"]*)"', match.group(1))) == labels:
            return float(match.group(2))
    return 0.0


def dropped(bridge: BridgeProcess, reason: str, listener: str = "main") -> float:
    return metric(
        bridge, "ringotel_bridge_connections_dropped_total", listener=listener, reason=reason
    )


def dropped_lines(bridge: BridgeProcess, reason: str) -> list[tuple[str, int]]:
    """(source, dropped) of each ``connection_dropped`` line of the main listener."""
    return [
        (event["source"], event["dropped"])
        for event in bridge.events()
        if event.get("event") == "connection_dropped"
        and event["listener"] == "main"
        and event["reason"] == reason
    ]


# -- raw clients ----------------------------------------------------------------------


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP response; its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    await reader.readexactly(int(length.group(1)) if length else 0)
    return int(head.split(b" ", 2)[1])


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), within) == b""
    except ConnectionError:
        return True
    except TimeoutError:
        return False


async def trickle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    interval: float = 0.1,
    give_up: float = 20.0,
) -> float:
    """Send never-ending headers one byte per ``interval``; the seconds from the first
    byte until the server closed the connection (inf if it had not after ``give_up``)."""
    loop = asyncio.get_running_loop()
    first = loop.time()
    for byte in ENDLESS:
        if loop.time() - first > give_up:
            break
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except ConnectionError:
            return loop.time() - first
        if await closed_by_server(reader, interval):
            return loop.time() - first
    return float("inf")


async def open_and_trickle(address: Address, source: str = "127.0.0.1") -> float:
    reader, writer = await asyncio.open_connection(*address, local_addr=(source, 0))
    try:
        return await trickle(reader, writer)
    finally:
        writer.close()


class Clients:
    """Plain sockets from chosen loopback sources, all closed at the end of a test."""

    def __init__(self, address: Address) -> None:
        self.address = address
        self.sockets: list[socket.socket] = []

    def open(self, source: str) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=5, source_address=(source, 0))
        self.sockets.append(sock)
        return sock

    def close_all(self) -> None:
        for sock in self.sockets:
            sock.close()


def refused(sock: socket.socket) -> bool:
    """Closed by the server before we sent anything (an admitted one waits for a request)."""
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def ask(sock: socket.socket) -> int:
    """One small request on a kept-alive connection; the answer's status, 0 if closed."""
    sock.settimeout(5)
    data = b""
    try:
        sock.sendall(SMALL_REQUEST)
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return 0
            data += chunk
    except ConnectionError:
        return 0
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    missing = (int(length.group(1)) if length else 0) - len(body)
    while missing > 0:
        chunk = sock.recv(missing)
        if not chunk:
            break
        missing -= len(chunk)
    return int(head.split(b" ", 2)[1])


# -- header deadline and idle bound ---------------------------------------------------

DEADLINE = 1.0
KEEPALIVE = 5.0  # longer than the kept-alive test's idle pause + DEADLINE + MARGIN


@pytest.fixture(scope="module")
def deadline_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeProcess]:
    bridge = start_process(
        tmp_path_factory.mktemp("deadline"),
        request_deadline=f"{DEADLINE}s",
        keepalive_timeout=f"{KEEPALIVE}s",
    )
    try:
        yield bridge
    finally:
        bridge.stop()


async def test_trickling_headers_are_cut_at_the_deadline_while_a_login_gets_through(
    deadline_bridge: BridgeProcess,
) -> None:
    bridge = deadline_bridge
    before = dropped(bridge, "header_deadline")
    tricklers = [asyncio.create_task(open_and_trickle(bridge.addresses[0])) for _ in range(40)]
    await asyncio.sleep(0.3)  # all 40 are connected and trickling
    status, body = await login(bridge.url())
    closed_after = sorted(await asyncio.gather(*tricklers))
    print(
        f"40 trickling connections: closed after {closed_after[0]:.2f}..{closed_after[-1]:.2f} s "
        f"(request_deadline {DEADLINE:g} s); login meanwhile: {status}"
    )
    assert (status, numbers(body)) == (200, ALICE_NUMBERS)
    assert all(seconds <= DEADLINE + MARGIN for seconds in closed_after), closed_after
    assert dropped(bridge, "header_deadline") - before == 40
    # One log line for the source, not one per connection (the next one, a minute later,
    # would sum up the rest).
    assert dropped_lines(bridge, "header_deadline") == [("127.0.0.1", 1)]


async def test_a_later_request_on_a_kept_alive_connection_has_the_same_header_deadline(
    deadline_bridge: BridgeProcess,
) -> None:
    reader, writer = await asyncio.open_connection(*deadline_bridge.addresses[0])
    try:
        writer.write(SMALL_REQUEST)
        assert await read_response(reader) == 405
        await asyncio.sleep(DEADLINE + 0.5)  # idle time is keepalive_timeout's, not the deadline's
        assert not reader.at_eof()
        writer.write(SMALL_REQUEST)
        assert await read_response(reader) == 405
        await asyncio.sleep(DEADLINE + 0.5)
        assert not reader.at_eof()
        closed_after = await trickle(reader, writer)
    finally:
        writer.close()
    print(f"kept-alive connection trickling its 3rd request: closed {closed_after:.2f} s after")
    assert closed_after <= DEADLINE + MARGIN


async def test_an_idle_keep_alive_connection_is_closed_after_keepalive_timeout(
    deadline_bridge: BridgeProcess,
) -> None:
    reader, writer = await asyncio.open_connection(*deadline_bridge.addresses[0])
    try:
        writer.write(SMALL_REQUEST)
        assert await read_response(reader) == 405
        started = time.monotonic()
        assert await closed_by_server(reader, KEEPALIVE + MARGIN)
    finally:
        writer.close()
    print(f"idle keep-alive connection closed after {time.monotonic() - started:.2f} s")


async def test_the_ops_listener_has_the_header_deadline_too(
    deadline_bridge: BridgeProcess,
) -> None:
    assert deadline_bridge.ops_address is not None
    closed_after = await open_and_trickle(deadline_bridge.ops_address)
    assert closed_after <= DEADLINE + MARGIN


# -- caps -----------------------------------------------------------------------------


async def test_a_connection_over_the_per_client_cap_is_closed_and_others_are_served(
    tmp_path: Path,
) -> None:
    cap = 4
    bridge = start_process(tmp_path, max_connections_per_client=cap)
    clients = Clients(bridge.addresses[0])
    try:
        held = [clients.open("127.0.0.1") for _ in range(cap)]
        assert [ask(sock) for sock in held] == [405] * cap
        over = [clients.open("127.0.0.1") for _ in range(20)]
        assert [refused(sock) for sock in over] == [True] * 20
        status, body = await login(bridge.url(), source="127.0.0.2")
        assert (status, numbers(body)) == (200, ALICE_NUMBERS)
        assert dropped(bridge, "per_client_limit") == 20
        assert dropped_lines(bridge, "per_client_limit") == [("127.0.0.1", 1)]

        held[0].close()  # the slot is free again once the bridge has seen the close
        for _ in range(100):
            if ask(clients.open("127.0.0.1")) == 405:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("a closed connection's slot was never given back")
        assert metric(bridge, "ringotel_bridge_connections_open", listener="main") == cap
    finally:
        clients.close_all()
        bridge.stop()


async def test_total_cap_trusted_proxies_and_a_reload(tmp_path: Path) -> None:
    server = {"max_connections_per_client": 2, "trusted_proxies": ["127.0.0.3/32"]}
    bridge = start_process(tmp_path, max_connections=5, **server)
    clients = Clients(bridge.addresses[0])
    try:
        held = [clients.open("127.0.0.1") for _ in range(2)]
        assert refused(clients.open("127.0.0.1"))
        held += [clients.open("127.0.0.3") for _ in range(3)]  # a proxy: no per-client cap
        assert [ask(sock) for sock in held] == [405] * 5
        assert refused(clients.open("127.0.0.3"))  # but it counts toward the total
        assert refused(clients.open("127.0.0.2"))
        assert (dropped(bridge, "per_client_limit"), dropped(bridge, "max_connections")) == (1, 2)
        assert dropped_lines(bridge, "per_client_limit") == [("127.0.0.1", 1)]
        assert dropped_lines(bridge, "max_connections") == [("127.0.0.3", 1), ("127.0.0.2", 1)]

        # A reload applies to new connections; the open ones stay.
        mark = len(bridge.events())
        write_config(
            bridge.config, file_raw(tmp_path, **server | {"max_connections_per_client": 3})
        )
        bridge.send_signal(signal.SIGHUP)
        bridge.wait_for_event("reloaded", after=mark)
        held.append(clients.open("127.0.0.1"))
        assert [ask(sock) for sock in held] == [405] * 6
    finally:
        clients.close_all()
        bridge.stop()


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))


async def test_with_few_file_descriptors_one_flooding_source_cannot_lock_others_out(
    tmp_path: Path,
) -> None:
    bridge = start_process(tmp_path, preexec=_low_fd_limit, max_connections_per_client=16)
    flood: list[socket.socket] = []
    try:
        assert bridge.process is not None
        assert resource.prlimit(bridge.process.pid, resource.RLIMIT_NOFILE) == (128, 128)
        assert bridge.wait_for_event("listening")["max_connections"] == 64  # half of 128

        for _ in range(150):  # more connections than the process has file descriptors
            sock = socket.socket()
            flood.append(sock)
            sock.setblocking(False)
            sock.bind(("127.0.0.1", 0))
            sock.connect_ex(bridge.addresses[0])
        await asyncio.sleep(0.5)
        started = time.monotonic()
        status, body = await login(bridge.url(), source="127.0.0.2", timeout=20)
        took = time.monotonic() - started
        held = metric(bridge, "ringotel_bridge_connections_open", listener="main")
        refusals = dropped(bridge, "per_client_limit")
        print(
            f"fd limit 128, 150 connections from one source: login {status} in {took:.2f} s; "
            f"bridge holds {held:g} connections, refused {refusals:g}"
        )
        assert (status, numbers(body)) == (200, ALICE_NUMBERS)
        assert held <= 16 + 1  # the flood's share, and the login's if not yet closed
        assert refusals > 0
    finally:
        for sock in flood:
            sock.close()
        bridge.stop()


# -- TLS ------------------------------------------------------------------------------


async def test_tls_handshake_and_headers_are_both_bounded(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "ca")
    cert, key = ca.issue_server_cert(tmp_path / "tls")
    bridge = start_process(
        tmp_path / "bridge",
        request_deadline=f"{DEADLINE}s",
        tls_cert_file=str(cert),
        tls_key_file=str(key),
    )
    client_tls = ssl.create_default_context(cafile=str(ca.cert_path))
    address = bridge.addresses[0]
    try:
        silent_reader, silent_writer = await asyncio.open_connection(*address)
        reader, writer = await asyncio.open_connection(
            *address, ssl=client_tls, server_hostname="127.0.0.1"
        )

        async def silent() -> float:  # connects, never starts the handshake
            started = time.monotonic()
            assert await closed_by_server(silent_reader, DEADLINE + MARGIN)
            return time.monotonic() - started

        silent_after, trickled_after = await asyncio.gather(silent(), trickle(reader, writer))
        writer.close()
        silent_writer.close()
        print(
            f"TLS: no handshake closed after {silent_after:.2f} s, "
            f"trickled headers closed after {trickled_after:.2f} s"
        )
        assert trickled_after <= DEADLINE + MARGIN
        status, body = await login(bridge.url("https"), ssl=client_tls)
        assert (status, numbers(body)) == (200, ALICE_NUMBERS)
    finally:
        bridge.stop()


# -- the pieces -----------------------------------------------------------------------


def test_defaults_and_bad_values_name_their_keys(tmp_path: Path) -> None:
    raw = file_raw(tmp_path)
    settings = from_mapping(raw, base_dir=tmp_path, environ={}).settings.server
    assert (settings.keepalive_timeout, settings.max_connections_per_client) == (60.0, 64)
    assert settings.max_connections == 0
    bad = deep_merge(
        raw,
        {"server": {"keepalive_timeout": "0s", "max_connections_per_client": 0,
                    "max_connections": -1}},
    )  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        from_mapping(bad, base_dir=tmp_path, environ={})
    assert {p.key for p in caught.value.problems} == {
        "server.keepalive_timeout",
        "server.max_connections_per_client",
        "server.max_connections",
    }


def test_a_source_is_an_ipv4_address_or_an_ipv6_64_and_trusted_proxies_have_none() -> None:
    proxies = (ipaddress.ip_network("192.0.2.0/24"),)
    assert source_of(("198.51.100.7", 1234), proxies) == ipaddress.ip_address("198.51.100.7")
    assert source_of(("::ffff:198.51.100.7", 1, 0, 0), proxies) == ipaddress.ip_address(
        "198.51.100.7"
    )
    one = source_of(("2001:db8:1:2::1", 1, 0, 0), proxies)
    other = source_of(("2001:db8:1:2:ffff::9", 1, 0, 0), proxies)
    assert one == other == ipaddress.ip_network("2001:db8:1:2::/64")
    assert source_of(("192.0.2.10", 1), proxies) is None
    assert source_of("/run/bridge.sock", proxies) is None


async def test_caps_count_per_source_and_in_total_and_release() -> None:
    server = ServerSettings(max_connections_per_client=2, max_connections=3)
    limits = ConnectionLimits("main", lambda: server, Metrics(), capped=True, fd_limit=1024)
    a1, a2 = limits.admit(("10.0.0.1", 1)), limits.admit(("10.0.0.1", 2))
    assert a1 is not None
    assert a2 is not None
    assert limits.admit(("10.0.0.1", 3)) is None
    b1 = limits.admit(("10.0.0.2", 1))
    assert b1 is not None
    assert limits.admit(("10.0.0.3", 1)) is None  # the total
    limits.release(a1)
    assert limits.admit(("10.0.0.1", 4)) is not None
    auto = ConnectionLimits("main", ServerSettings, Metrics(), capped=True, fd_limit=1024)
    assert auto.max_connections(ServerSettings()) == 512


async def test_the_drop_log_writes_one_line_per_source_and_interval(
    log_stream: io.StringIO,
) -> None:
    log = DropLog(interval=0.2, sources=2)
    for _ in range(5):
        log.note("main", "10.0.0.1", "per_client_limit")
    log.note("main", "10.0.0.2", "per_client_limit")
    log.note("main", "10.0.0.3", "per_client_limit")  # over ``sources``: summed as "other"
    log.note("main", "10.0.0.4", "per_client_limit")
    await asyncio.sleep(0.5)  # one interval to sum up, and one in which nothing happened
    lines = [
        (e["source"], e["dropped"])
        for e in log_events(log_stream)
        if e["event"] == "connection_dropped"
    ]
    assert lines == [("10.0.0.1", 1), ("10.0.0.2", 1), ("other", 1), ("10.0.0.1", 4), ("other", 1)]
