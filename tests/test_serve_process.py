"""``serve`` as a real process against the private slapd: reload, drain, TLS, allow-lists,
systemd readiness. Signals and listeners only exist in a real process, so nothing here
runs in-process.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509

from tests.harness import openldap_people as people
from tests.harness.bridge_process import BridgeProcess, write_config
from tests.harness.client_credentials import CLIENT_PASSWORD, CLIENT_USER
from tests.harness.configs import deep_merge, openldap_raw
from tests.harness.slapd import SlapdServer
from tests.harness.tls import make_ca

pytestmark = pytest.mark.openldap

AUTH = "Basic " + base64.b64encode(f"{CLIENT_USER}:{CLIENT_PASSWORD}".encode()).decode()
JANE = people.PEOPLE["jdoe"]
TLS1_1, TLS1_2 = ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_2


@pytest.fixture
def raw(slapd: SlapdServer, tmp_path: Path) -> dict[str, Any]:
    document = openldap_raw(slapd, tmp_path)
    # a paused slapd must outlast the signal handling of a loaded machine: 8 s, not 2
    return deep_merge(
        document,
        {
            "server": {"ops_listen": "127.0.0.1:0", "drain_timeout": "10s"},
            "directory": {"operation_timeout": "8s"},
        },
    )


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return tmp_path / "bridge.toml"


@pytest.fixture
def bridge(raw: dict[str, Any], config_path: Path) -> Iterator[BridgeProcess]:
    write_config(config_path, raw)
    with BridgeProcess(config_path) as process:
        yield process


async def login(
    session: aiohttp.ClientSession, url: str, password: str = JANE.password, **kwargs: Any
) -> tuple[int, Any]:
    headers = {"Authorization": AUTH, **kwargs.pop("headers", {})}
    body = kwargs.pop("json", {"username": "jdoe", "password": password})
    async with session.post(url + "/auth", json=body, headers=headers, **kwargs) as answer:
        return answer.status, await answer.json()


def usernames(body: Any) -> list[str]:
    return [value["username"] for value in body["values"]]


async def test_sighup_during_a_stream_swaps_config_without_failing_a_request(
    bridge: BridgeProcess, raw: dict[str, Any], config_path: Path
) -> None:
    answers: list[tuple[int, tuple[str, ...]]] = []
    stop, progress = asyncio.Event(), asyncio.Event()

    async def client(session: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            status, body = await login(session, bridge.url())
            answers.append((status, tuple(usernames(body)) if status == 200 else ()))
            progress.set()

    async def answered(count: int) -> None:
        while len(answers) < count:
            progress.clear()
            await progress.wait()

    async with aiohttp.ClientSession() as session:
        clients = [asyncio.create_task(client(session)) for _ in range(4)]
        await answered(50)
        mark = len(bridge.events())
        write_config(config_path, deep_merge(raw, {"usernames": [{"attribute": "uid"}]}))
        bridge.send_signal(signal.SIGHUP)
        await asyncio.to_thread(bridge.wait_for_event, "reloaded", after=mark)
        await answered(len(answers) + 100)
        stop.set()
        await asyncio.gather(*clients)

        statuses = Counter(status for status, _ in answers)
        kinds = Counter(names for _, names in answers)
        print(f"SIGHUP run: {len(answers)} requests, statuses {dict(statuses)}, answers {kinds}")
        assert statuses == {200: len(answers)}
        assert set(kinds) == {tuple(JANE.phones), ("jdoe",)}
        assert answers[-1][1] == ("jdoe",)

        mark = len(bridge.events())
        broken = copy.deepcopy(raw)
        broken["server"]["listen_backlog_typo"] = 5
        write_config(config_path, broken)
        bridge.send_signal(signal.SIGHUP)
        failed = await asyncio.to_thread(bridge.wait_for_event, "reload_failed", after=mark)
        print("reload_failed event:", failed)
        assert any("server.listen_backlog_typo" in error for error in failed["errors"])
        status, body = await login(session, bridge.url())
        assert (status, usernames(body)) == (200, ["jdoe"])


async def test_sigterm_drains_in_flight_requests_then_exits_zero(
    bridge: BridgeProcess, slapd: SlapdServer
) -> None:
    async with aiohttp.ClientSession() as session:
        slapd.pause()
        try:
            requests = [asyncio.create_task(login(session, bridge.url())) for _ in range(3)]
            await wait_until_directory_busy(session, bridge)
            bridge.send_signal(signal.SIGTERM)
            await asyncio.to_thread(bridge.wait_for_event, "stopping")
            await asyncio.to_thread(wait_until_refused, bridge.addresses[0])
        finally:
            slapd.resume()
        answers = await asyncio.gather(*requests)
    assert [status for status, _ in answers] == [200, 200, 200]
    assert bridge.wait() == 0
    stopped = bridge.wait_for_event("stopped")
    assert stopped["drained"] is True


async def wait_until_directory_busy(session: aiohttp.ClientSession, bridge: BridgeProcess) -> None:
    """In flight means: a request holds a directory connection (slapd is paused)."""
    for _ in range(200):
        async with session.get(bridge.ops_url + "/metrics") as answer:
            text = await answer.text()
        busy = [
            line
            for line in text.splitlines()
            if line.startswith("ringotel_bridge_directory_connections_in_use{")
            and not line.endswith(" 0.0")
        ]
        if busy:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("no request reached the directory")


def wait_until_refused(address: tuple[str, int]) -> None:
    for _ in range(200):
        try:
            socket.create_connection(address, timeout=1).close()
        except ConnectionRefusedError:
            return
        time.sleep(0.02)
    raise AssertionError(f"{address} still accepts connections while draining")


def peer_serial(address: tuple[str, int], context: ssl.SSLContext) -> int:
    with (
        socket.create_connection(address, timeout=5) as raw_socket,
        context.wrap_socket(raw_socket, server_hostname=address[0]) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def pinned_client(ca_file: Path, version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that offers exactly one version (its own OpenSSL allowing old ones)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(ca_file)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated is the point
        context.minimum_version = context.maximum_version = version
    return context


async def test_https_verifies_refuses_tls11_and_reloads_certificate_on_sighup(
    raw: dict[str, Any], config_path: Path, tmp_path: Path
) -> None:
    ca = make_ca(tmp_path / "ca")
    cert, key = ca.issue_server_cert(tmp_path / "tls")
    write_config(
        config_path,
        deep_merge(raw, {"server": {"tls_cert_file": str(cert), "tls_key_file": str(key)}}),
    )
    client_tls = ssl.create_default_context(cafile=str(ca.cert_path))
    with BridgeProcess(config_path) as bridge:
        async with aiohttp.ClientSession() as session:
            status, body = await login(session, bridge.url("https"), ssl=client_tls)
        assert (status, usernames(body)) == (200, list(JANE.phones))

        # The same client pinned to 1.2 gets through, so it is the version refused.
        assert peer_serial(bridge.addresses[0], pinned_client(ca.cert_path, TLS1_2))
        with pytest.raises(ssl.SSLError):
            peer_serial(bridge.addresses[0], pinned_client(ca.cert_path, TLS1_1))

        first = peer_serial(bridge.addresses[0], client_tls)
        new_cert, new_key = ca.issue_server_cert(tmp_path / "tls-new")
        shutil.copyfile(new_key, key)
        shutil.copyfile(new_cert, cert)
        mark = len(bridge.events())
        bridge.send_signal(signal.SIGHUP)
        bridge.wait_for_event("reloaded", after=mark)
        second = peer_serial(bridge.addresses[0], client_tls)
    assert first != second
    assert second == x509.load_pem_x509_certificate(new_cert.read_bytes()).serial_number


async def test_allow_list_refuses_before_reading_and_trusts_forwarded_only_from_proxies(
    raw: dict[str, Any], config_path: Path
) -> None:
    guarded = deep_merge(raw, {"server": {"allowed_clients": ["10.0.0.0/8"]}})
    write_config(config_path, guarded)
    with BridgeProcess(config_path) as bridge:
        async with aiohttp.ClientSession() as session:
            not_json = b"{" * 20_000  # malformed and over the body limit: never read
            async with session.post(
                bridge.url() + "/auth", data=not_json, headers={"Content-Type": "application/json"}
            ) as answer:
                assert (answer.status, await answer.json()) == (403, {"error": "access_denied"})
            forged = {"X-Forwarded-For": "10.1.2.3"}
            assert (await login(session, bridge.url(), headers=forged))[0] == 403

            proxied = deep_merge(guarded, {"server": {"trusted_proxies": ["127.0.0.1/32"]}})
            mark = len(bridge.events())
            write_config(config_path, proxied)
            bridge.send_signal(signal.SIGHUP)
            bridge.wait_for_event("reloaded", after=mark)
            assert (await login(session, bridge.url(), headers=forged))[0] == 200
            outsider = {"X-Forwarded-For": "192.0.2.7"}
            assert (await login(session, bridge.url(), headers=outsider))[0] == 403
            assert (await login(session, bridge.url()))[0] == 403


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, Path]]:
    path = tmp_path / "notify"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.settimeout(15)
    try:
        yield listener, path
    finally:
        listener.close()


def next_message(listener: socket.socket) -> dict[str, str]:
    data = listener.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.splitlines())


def test_systemd_notifications_follow_the_life_cycle(
    raw: dict[str, Any], config_path: Path, notify_socket: tuple[socket.socket, Path]
) -> None:
    listener, path = notify_socket
    write_config(config_path, raw)
    with BridgeProcess(config_path, env={"NOTIFY_SOCKET": str(path)}) as bridge:
        ready = next_message(listener)
        assert ready["READY"] == "1"
        socket.create_connection(bridge.addresses[0], timeout=1).close()  # it answers now
        assert bridge.wait_for_event("directory_check_ok")
        assert bridge.url().removeprefix("http://") in ready["STATUS"]

        bridge.send_signal(signal.SIGHUP)
        assert "RELOADING" in next_message(listener)
        assert next_message(listener) == {"READY": "1", "STATUS": "reloaded"}
        assert bridge.stop() == 0
        assert next_message(listener) == {"STOPPING": "1"}


def test_a_port_in_use_is_a_clear_error_not_a_traceback(
    raw: dict[str, Any], config_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        write_config(config_path, deep_merge(raw, {"server": {"listen": [f"127.0.0.1:{port}"]}}))
        result = subprocess.run(
            [sys.executable, "-m", "bridge", "--config", str(config_path), "serve"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert '"event": "cannot_listen"' in result.stdout
    assert "address already in use" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
