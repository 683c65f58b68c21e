"""Shared fixtures: private directory servers for the session, configs, bridge clients.

The servers are real (slapd, 389-ds and Samba from Debian packages) and started by the suite
itself on loopback; nothing is skipped when a binary is missing: the test fails.
Only fixtures live here; what tests import is in ``tests/harness/``.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from bridge.config import Config, from_mapping
from bridge.guard import Guard, MemoryStore
from bridge.observability.logging import configure
from bridge.process.runtime import Runtime
from bridge.process.wiring import guard_limits
from tests.harness import dirsrv_root, subsidiary_people
from tests.harness.clock import FakeClock
from tests.harness.configs import deep_merge
from tests.harness.dirsrv import DirsrvServer
from tests.harness.in_process import (
    Client,
    InProcessBridges,
    Pair,
    StartBridge,
    StartBridgeFrom,
)
from tests.harness.redis import RedisServer
from tests.harness.samba import SambaDC, default_template_cache, free_loopback_host
from tests.harness.slapd import SlapdServer


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdServer]:
    server = SlapdServer(tmp_path_factory.mktemp("slapd"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One private redis-server for the session (the shared guard store)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dirsrv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DirsrvServer]:
    """One private 389 Directory Server for the whole session, on a free loopback port."""
    server = DirsrvServer(
        tmp_path_factory.mktemp("dirsrv"), template_cache=dirsrv_root.default_template_cache()
    )
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


@pytest.fixture(scope="session")
def subsidiary_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaDC]:
    """A second AD domain, ``SUBSIDIARY.TEST`` (a forest of its own), on another loopback
    address. Only the tests of several directories use it: about 15 s the first time,
    then restored from the template cache like the first DC."""
    dc = SambaDC(
        tmp_path_factory.mktemp("samba-subsidiary"),
        template_cache=default_template_cache(),
        host=free_loopback_host(),
        people=subsidiary_people,
    )
    dc.start()
    try:
        yield dc
    finally:
        dc.stop()


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


@pytest.fixture
async def in_process() -> AsyncIterator[InProcessBridges]:
    bridges = InProcessBridges()
    yield bridges
    await bridges.close()


@pytest.fixture
def bridge_client(in_process: InProcessBridges) -> Callable[..., Awaitable[Client]]:
    """Start the real aiohttp app on a loopback port for a given config."""
    return in_process.start


@pytest.fixture
def start_pair(
    make_config: Callable[..., Config], in_process: InProcessBridges
) -> Callable[..., Awaitable[Pair]]:
    """Both apps (``/auth`` and the ops endpoints) on one Runtime for a document; with a
    FakeClock, the guard's budgets run on it."""

    async def start(document: dict[str, Any], clock: FakeClock | None = None) -> Pair:
        config = make_config(document)
        guard = None
        if clock is not None:
            limits = guard_limits(config.settings)
            guard = Guard(MemoryStore(clock=clock), secrets.token_bytes(32), limits, clock)
        return await in_process.start_pair(Runtime(config, guard=guard))

    return start


@pytest.fixture
def start_bridge_from(
    make_config: Callable[..., Config], bridge_client: Callable[..., Awaitable[Client]]
) -> StartBridgeFrom:
    """The real app for a given document plus overrides (for tests whose base is not ``raw``)."""

    async def start(document: dict[str, Any], *, ops: bool = False, **overrides: Any) -> Client:
        return await bridge_client(make_config(document, **overrides), ops=ops)

    return start


@pytest.fixture
def start_bridge(raw: dict[str, Any], start_bridge_from: StartBridgeFrom) -> StartBridge:
    """The real app for the requesting module's ``raw`` document plus overrides.

    ``raw`` is the module's own fixture (which directory, which secrets), so a test
    names only what it changes: ``client = await start_bridge(groups={...})``.
    """

    async def start(*, ops: bool = False, **overrides: Any) -> Client:
        return await start_bridge_from(raw, ops=ops, **overrides)

    return start
