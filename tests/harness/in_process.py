"""The real aiohttp app served in-process on loopback, as most tests drive the bridge.

No subprocess (that is :mod:`tests.harness.bridge_process`): the app, its runtime and
the directory adapters run on the test's own event loop, so a test can reach into
the runtime (caches, counters) while talking HTTP to it.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from bridge.config import Config
from bridge.process.runtime import Runtime
from bridge.web.app import create_app
from bridge.web.ops import create_ops_app

Client = TestClient[Any, Any]


class StartBridge(Protocol):
    """The ``start_bridge`` fixture: the module's ``raw`` document plus overrides, served.

    Keyword arguments are top-level config sections, deep-merged into ``raw``;
    ``ops=True`` serves the ops app (``/healthz``, ``/readyz``, ``/metrics``) instead.
    """

    async def __call__(self, *, ops: bool = False, **overrides: Any) -> Client: ...


class StartBridgeFrom(Protocol):
    """The ``start_bridge_from`` fixture: the same for a document the test names.

    For modules whose tests run against more than one directory (a Samba test in a
    slapd module must not start slapd through ``raw``) or that build the document
    in the test itself.
    """

    async def __call__(
        self, document: dict[str, Any], *, ops: bool = False, **overrides: Any
    ) -> Client: ...


#: Prometheus samples by (name, labels).
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Pair:
    """The Ringotel-facing app and the ops app on one Runtime, as ``serve`` runs them."""

    def __init__(self, runtime: Runtime, main: Client, ops: Client) -> None:
        self.runtime, self.main, self.ops = runtime, main, ops

    async def samples(self) -> Samples:
        text = await (await self.ops.get("/metrics")).text()
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


class InProcessBridges:
    """Every app a test started, closed in order at its end (clients, then runtimes)."""

    def __init__(self) -> None:
        self._clients: list[Client] = []
        self._runtimes: list[Runtime] = []

    async def start(self, config: Config, ops: bool = False) -> Client:
        runtime = Runtime(config)
        self._runtimes.append(runtime)
        app = create_ops_app(runtime) if ops else create_app(runtime)
        client: Client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        self._clients.append(client)
        return client

    async def start_pair(self, runtime: Runtime) -> Pair:
        """Both apps on ``runtime`` (which the caller built, e.g. with its own guard)."""
        self._runtimes.append(runtime)
        clients = []
        for app in (create_app(runtime), create_ops_app(runtime)):
            client: Client = TestClient(TestServer(app, host="127.0.0.1"))
            await client.start_server()
            self._clients.append(client)
            clients.append(client)
        return Pair(runtime, *clients)

    async def close(self) -> None:
        for client in self._clients:
            await client.close()
        for runtime in self._runtimes:
            await runtime.close()
