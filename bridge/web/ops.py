"""The operations application: ``/healthz``, ``/readyz``, ``/metrics``.

Served on its own listener (``server.ops_listen``, loopback by default), so the
directory's health and the metrics are never exposed where ``/auth`` is.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from bridge.core.errors import DirectoryUnavailable
from bridge.core.ports import DirectoryStats
from bridge.observability.metrics import CONTENT_TYPE, Metrics
from bridge.process.runtime import Runtime
from bridge.web.keys import RUNTIME
from bridge.web.middlewares import error_middleware, request_id_middleware


async def healthz(request: web.Request) -> web.Response:
    """Liveness only: answering at all proves the event loop runs."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when a directory server answers and the service account binds."""
    with request.app[RUNTIME].lease() as service:
        timeout = service.settings.server.request_deadline
        try:
            async with asyncio.timeout(timeout):
                ready = await service.directory.check()
        except TimeoutError:
            detail = f"no directory server answered within {timeout:g}s"
            return web.json_response({"status": "unavailable", "detail": detail}, status=503)
        except DirectoryUnavailable as exc:
            return web.json_response({"status": "unavailable", "detail": exc.detail}, status=503)
        body: dict[str, object] = {
            "status": "ready",
            "server": ready.server,
            "detail": ready.detail,
        }
        store = request.app[RUNTIME].guard.store
        if hasattr(store, "up"):  # a shared guard store: still ready while it is down
            body["guard_store"] = (
                "shared" if store.up else f"local fallback ({getattr(store, 'detail', '')})"
            )
        return web.json_response(body)


async def metrics_endpoint(request: web.Request) -> web.Response:
    """Prometheus text format; gauges of the moment are read now, at scrape time."""
    runtime = request.app[RUNTIME]
    _directory_gauges(runtime.metrics, runtime.service.directory.stats())
    return web.Response(body=runtime.metrics.render(), headers={"Content-Type": CONTENT_TYPE})


def _directory_gauges(metrics: Metrics, stats: DirectoryStats) -> None:
    """Connections in use, and whether each server answered its last operation. A server
    not asked anything yet (e.g. since a reload) keeps the value it had."""
    metrics.set_pool_in_use((server.name, server.in_use) for server in stats.servers)
    metrics.set_discovered((server.name, server.source) for server in stats.servers)
    metrics.forget_servers(server.name for server in stats.servers)  # e.g. gone from DNS
    for server in stats.servers:
        if server.up is not None:
            metrics.server_up.labels(server.name).set(int(server.up))


def create_ops_app(runtime: Runtime) -> web.Application:
    """``/healthz``, ``/readyz`` and ``/metrics``, meant for a loopback listener.

    A separate app on a separate listener (``server.ops_listen``) so that the
    directory's health and the metrics are never exposed where ``/auth`` is.
    """
    app = web.Application(middlewares=[request_id_middleware, error_middleware])
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
    return app
