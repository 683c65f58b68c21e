"""Shared fixtures: private directory servers for the session, configs, bridge clients.

The servers are real (slapd and Samba from Debian packages) and started by the suite
itself on loopback; nothing is skipped when a binary is missing: the test fails.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer

from bridge.config import Config, from_mapping
from bridge.observability.logging import configure
from bridge.process.runtime import Runtime
from bridge.web.app import create_app
from bridge.web.ops import create_ops_app
from tests.harness import ad_people
from tests.harness import openldap_people as people
from tests.harness.samba import SambaDC, default_template_cache, free_loopback_host
from tests.harness.slapd import SlapdServer

CLIENT_USER = "ringotel"
CLIENT_PASSWORD = "client-secret-for-tests-0123456789"


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdServer]:
    server = SlapdServer(tmp_path_factory.mktemp("slapd"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def samba_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaDC]:
    """One private Samba AD DC for the whole session, on its own loopback address."""
    dc = SambaDC(
        tmp_path_factory.mktemp("samba"),
        template_cache=default_template_cache(),
        host=free_loopback_host(),
    )
    dc.start()
    try:
        yield dc
    finally:
        dc.stop()


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def write_secret(directory: Path, name: str, data: str | bytes) -> str:
    """A secret file as production has it (mode 0600); returns the relative name."""
    path = directory / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(0o600)
    return name


def basic_client_auth(secret_dir: Path) -> dict[str, Any]:
    """``[client_auth]`` for Basic with the suite's client credentials."""
    return {
        "mode": "basic",
        "username": CLIENT_USER,
        "password_file": write_secret(secret_dir, "client-password", CLIENT_PASSWORD),
    }


def openldap_raw(server: SlapdServer | list[str], secret_dir: Path) -> dict[str, Any]:
    """A config document for the private slapd(s), secrets in files like production."""
    urls = [server.url] if isinstance(server, SlapdServer) else server
    return {
        "server": {"listen": ["127.0.0.1:0"], "ops_listen": "", "request_deadline": "5s"},
        "client_auth": basic_client_auth(secret_dir),
        "directory": {
            "type": "ldap",
            "flavor": "openldap",
            "urls": urls,
            "allow_plaintext": True,
            "bind_dn": people.SERVICE_DN,
            "bind_password_file": write_secret(
                secret_dir, "bind-password", people.SERVICE_PASSWORD
            ),
            "base_dn": people.BASE_DN,
            "connect_timeout": "1s",
            "operation_timeout": "2s",
            "server_cooldown": "1s",
        },
        "usernames": [{"attribute": "telephoneNumber"}],
        "response": {"display_name_attribute": "displayName"},
    }


def ad_raw(dc: SambaDC, secret_dir: Path) -> dict[str, Any]:
    """A config document for the private Samba DC over LDAPS with the test CA."""
    return {
        "server": {"listen": ["127.0.0.1:0"], "ops_listen": "", "request_deadline": "10s"},
        "client_auth": basic_client_auth(secret_dir),
        "directory": {
            "type": "ldap",
            "flavor": "active_directory",
            "urls": [dc.ldaps_url],
            "ca_file": str(dc.ca_file),
            "bind_dn": ad_people.SERVICE_ACCOUNT.dn,
            "bind_password_file": write_secret(
                secret_dir, "bind-password", ad_people.SERVICE_ACCOUNT.password
            ),
            "base_dn": ad_people.BASE_DN,
            "connect_timeout": "3s",
            "operation_timeout": "5s",
        },
        # kept below lockme's own PSO threshold of 5
        "protection": {"max_failures": ad_people.LOCKME_THRESHOLD - 2},
        "usernames": [{"attribute": "ipPhone"}, {"attribute": "otherIpPhone"}],
        "response": {"display_name_attribute": "displayName"},
    }


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Config]:
    def build(raw: dict[str, Any], **overrides: Any) -> Config:
        return from_mapping(deep_merge(raw, overrides), base_dir=tmp_path, environ={})

    return build


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Everything the bridge logs during a test, as JSON lines."""
    stream = io.StringIO()
    configure("json", "debug", stream=stream)
    yield stream
    structlog.reset_defaults()


def log_events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


@pytest.fixture
async def bridge_client() -> AsyncIterator[Callable[[Config], Any]]:
    """Start the real aiohttp app on a loopback port for a given config."""
    clients: list[TestClient[Any, Any]] = []
    runtimes: list[Runtime] = []

    async def start(config: Config, ops: bool = False) -> TestClient[Any, Any]:
        runtime = Runtime(config)
        runtimes.append(runtime)
        app = create_ops_app(runtime) if ops else create_app(runtime)
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()
    for runtime in runtimes:
        await runtime.close()
