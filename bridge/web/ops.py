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
from bridge.process.directories import Examined
from bridge.process.runtime import Runtime
from bridge.web.keys import RUNTIME
from bridge.web.middlewares import error_middleware, request_id_middleware


async def healthz(request: web.Request) -> web.Response:
    """Liveness only: answering at all proves the event loop runs."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when a server of every directory answers and its service account binds
    (every global catalog too). With several directories, some answering is
    ``degraded``, still 200: logins routed to those work, and taking the instance out
    of rotation would fail them too. None answering: 503."""
    with request.app[RUNTIME].lease() as service:
        timeout = service.settings.server.request_deadline
        checked = await asyncio.gather(*(_check(m.target, timeout) for m in service.members))
        each = {m.label: state for m, state in zip(service.members, checked, strict=True)}
        ready = [state for state in checked if state["status"] == "ready"]
        if not ready:
            status, code = "unavailable", 503
        else:
            status, code = ("ready" if len(ready) == len(checked) else "degraded"), 200
        first = ready[0] if ready else checked[0]
        body: dict[str, object] = {
            "status": status,
            **{k: v for k, v in first.items() if k != "status"},
        }
        body["directories"] = each
        store = request.app[RUNTIME].guard.store
        if hasattr(store, "up"):  # a shared guard store: still ready while it is down
            body["guard_store"] = (
                "shared" if store.up else f"local fallback ({getattr(store, 'detail', '')})"
            )
        return web.json_response(body, status=code)


async def _check(target: Examined, seconds: float) -> dict[str, str]:
    """One directory's (or catalog's) readiness, as the body shows it."""
    try:
        async with asyncio.timeout(seconds):
            ready = await target.check()
    except TimeoutError:
        detail = f"no directory server answered within {seconds:g}s"
        return {"status": "unavailable", "detail": detail}
    except DirectoryUnavailable as exc:
        return {"status": "unavailable", "detail": exc.detail}
    return {"status": "ready", "server": ready.server, "detail": ready.detail}


async def metrics_endpoint(request: web.Request) -> web.Response:
    """Prometheus text format; gauges of the moment are read now, at scrape time."""
    runtime = request.app[RUNTIME]
    stats = [(m.directory, m.target.stats()) for m in runtime.service.members]
    _directory_gauges(runtime.metrics, stats)
    return web.Response(body=runtime.metrics.render(), headers={"Content-Type": CONTENT_TYPE})


def _directory_gauges(metrics: Metrics, found: list[tuple[str, DirectoryStats]]) -> None:
    """Connections in use, and whether each server answered its last operation. A server
    not asked anything yet (e.g. since a reload) keeps the value it had."""
    pairs = [(directory, server) for directory, stats in found for server in stats.servers]
    metrics.set_pool_in_use((directory, server.name, server.in_use) for directory, server in pairs)
    metrics.set_discovered((directory, server.name, server.source) for directory, server in pairs)
    metrics.forget_servers((directory, server.name) for directory, server in pairs)  # left DNS
    for directory, server in pairs:
        if server.up is not None:
            metrics.server_up.labels(directory, server.name).set(int(server.up))


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
