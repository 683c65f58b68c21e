"""``ringotel-bridge serve``: listeners, signals, readiness, reload and drain.

Readiness is reported to systemd only after every listener is bound and each directory
has been checked once. SIGHUP reloads the config and TLS certificates; SIGTERM stops
accepting, drains in-flight requests up to ``server.drain_timeout``, then exits 0.
Every connection is bounded (``bridge.web.connections``): a header deadline and an idle
bound on both listeners, per-client and total caps on the Ringotel-facing ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import structlog
import uvloop
from aiohttp import web

from bridge.config import Config, ServerSettings
from bridge.core.errors import DirectoryUnavailable
from bridge.process import systemd
from bridge.process.directories import Examined
from bridge.process.runtime import Runtime
from bridge.process.tls import check_tls, checked_tls_context, load_certificates
from bridge.process.wiring import Service, check_lockout_budget, check_username_attributes
from bridge.web.app import create_app
from bridge.web.connections import BoundedSite, ConnectionLimits
from bridge.web.ops import create_ops_app

_log = structlog.get_logger("bridge.process.server")

#: Exit status when a listener cannot be bound (systemd's Restart=on-failure retries).
EXIT_CANNOT_LISTEN = 1
#: What aiohttp's own shutdown waits after our drain: the drain already waited up to
#: ``drain_timeout``, so a second full wait would only double the stop time.
CLOSE_GRACE = 1.0


@dataclass(frozen=True)
class Role:
    """How this process serves: alone, talking to systemd itself, or as one of
    ``workers`` processes under a supervisor (``bridge.process.workers``), which owns
    systemd's notify socket and the public ops listener."""

    #: the supervisor resolved these (port 0 included); None: server.listen
    listen: tuple[tuple[str, int], ...] | None = None
    #: the ops app on this unix socket (a worker's, read by the supervisor)
    ops_socket: str | None = None
    workers: int = 1

    @property
    def is_worker(self) -> bool:
        return self.ops_socket is not None


def run_loop(main: Coroutine[Any, Any, int]) -> int:
    """Run the service on uvloop: the same asyncio API with the event loop and its
    transports in C; measured with bench/run.py, a steady-state login costs about a
    fifth less CPU than on the standard loop."""
    return uvloop.run(main)


def host_port(sockname: object) -> str:
    host, port = sockname[:2] if isinstance(sockname, tuple) else (str(sockname), 0)
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


class Server:
    """The bound listeners of one process."""

    def __init__(self, config: Config, role: Role | None = None) -> None:
        self.role = role or Role()
        self.runtime = Runtime(config, workers=self.role.workers)
        self.stop_event = asyncio.Event()
        self._main: web.AppRunner | None = None
        self._ops: web.AppRunner | None = None
        self._sites: list[BoundedSite] = []
        self._tls = checked_tls_context(config)
        self._listen = config.settings.server.listen
        self._ops_listen = config.settings.server.ops_listen
        metrics = self.runtime.metrics
        self._limits = ConnectionLimits("main", self._settings, metrics, capped=True)
        self._ops_limits = ConnectionLimits("ops", self._settings, metrics, capped=False)
        self.runtime.checks.append(check_tls)
        self.runtime.reload_listeners.append(self._on_reload)

    def _settings(self) -> ServerSettings:
        """The current ``[server]``: the connection limits read it at every accept()."""
        return self.runtime.config.settings.server

    def _on_reload(self, service: Service) -> None:
        server = service.settings.server
        if self._tls is not None and server.tls_cert_file is not None:
            load_certificates(self._tls, service.config)
            _log.info("tls_reloaded", cert=str(service.config.files["server.tls_cert_file"]))
        changed = [
            key
            for key, differs in (
                ("server.listen", server.listen != self._listen),
                ("server.ops_listen", server.ops_listen != self._ops_listen),
                ("server.tls_cert_file", (server.tls_cert_file is None) != (self._tls is None)),
            )
            if differs
        ]
        for key in changed:
            _log.warning("restart_needed", key=key, reason=f"{key} changed; restart to apply")

    async def start(self) -> None:
        settings = self.runtime.config.settings.server
        self._main = web.AppRunner(
            create_app(self.runtime),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=CLOSE_GRACE,
        )
        await self._main.setup()
        for host, port in self.role.listen or settings.listen_addresses:
            await self._site(self._main, host, port, self._limits, self._tls)
        if settings.ops_address or self.role.ops_socket:
            self._ops = web.AppRunner(
                create_ops_app(self.runtime), access_log=None, handle_signals=False
            )
            await self._ops.setup()
            if self.role.ops_socket:
                await web.UnixSite(self._ops, self.role.ops_socket).start()
            elif settings.ops_address:
                await self._site(self._ops, *settings.ops_address, self._ops_limits, None)
        _log.info(
            "listening",
            addresses=self.addresses,
            tls=self._tls is not None,
            ops_address=self.ops_addresses[0] if self.ops_addresses else None,
            max_connections=self._limits.max_connections(settings),
            max_connections_per_client=settings.max_connections_per_client,
        )

    async def _site(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        limits: ConnectionLimits,
        tls: ssl.SSLContext | None,
    ) -> None:
        site = BoundedSite(
            runner, host, port, limits=limits, ssl_context=tls, reuse_port=self.role.is_worker
        )
        await site.start()
        self._sites.append(site)

    @property
    def addresses(self) -> list[str]:
        """Where the Ringotel-facing app really listens (port 0 resolved)."""
        return [host_port(a) for a in self._main.addresses] if self._main else []

    @property
    def ops_addresses(self) -> list[str]:
        return [host_port(a) for a in self._ops.addresses] if self._ops else []

    async def directory_check(self) -> bool:
        """Every directory (and global catalog) answers, each said in the log; the
        lockout and username checks follow when all of them do."""
        results = await asyncio.gather(
            *(self._check_one(m.label, m.target) for m in self.runtime.service.members)
        )
        if not all(results):
            return False
        try:
            await asyncio.wait_for(check_lockout_budget(self.runtime.service), 15)
        except (DirectoryUnavailable, TimeoutError) as exc:
            _log.warning("lockout_threshold_unreadable", detail=str(exc) or "timed out")
        try:
            await asyncio.wait_for(check_username_attributes(self.runtime.service), 15)
        except (DirectoryUnavailable, TimeoutError) as exc:
            _log.warning("username_attributes_unchecked", detail=str(exc) or "timed out")
        return True

    async def _check_one(self, label: str, target: Examined) -> bool:
        try:
            ready = await asyncio.wait_for(target.check(), 15)
        except (DirectoryUnavailable, TimeoutError) as exc:
            _log.error("directory_check_failed", directory=label, detail=str(exc) or "timed out")
            return False
        _log.info("directory_check_ok", directory=label, server=ready.server, detail=ready.detail)
        return True

    async def reload(self) -> None:
        if not self.role.is_worker:
            systemd.reloading()
        ok = await self.runtime.reload()
        if not self.role.is_worker:
            systemd.ready("reloaded" if ok else "reload failed; old configuration kept")

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (bounded), then close."""
        if not self.role.is_worker:
            systemd.stopping()
        drain = self.runtime.config.settings.server.drain_timeout
        for site in self._sites:
            await site.stop()
        drained = await self.runtime.drain(drain)
        _log.info("stopped", drained=drained, inflight=self.runtime.inflight)
        for runner in (self._main, self._ops):
            if runner is not None:
                await runner.cleanup()
        await self.runtime.close()


async def serve(config: Config, role: Role | None = None) -> int:
    """Run until SIGTERM/SIGINT. Signals are handled from the very start: a SIGHUP that
    arrives while the listeners come up is applied once they are up, never fatal.

    With ``server.workers`` above 1 this process supervises that many workers instead
    (``bridge.process.workers``), each of which runs this function with its Role."""
    if role is None and config.settings.server.workers > 1:
        from bridge.process.workers import supervise

        return await supervise(config)
    server = Server(config, role)
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    started = False
    pending_reload = False

    def reload_now() -> None:
        task = loop.create_task(server.reload())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def on_hup() -> None:
        nonlocal pending_reload
        if started:
            reload_now()
        else:
            pending_reload = True

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    loop.add_signal_handler(signal.SIGTERM, server.stop_event.set)
    loop.add_signal_handler(signal.SIGINT, server.stop_event.set)
    try:
        await server.start()
    except OSError as exc:  # port taken, address not on this host, no permission
        _log.error("cannot_listen", detail=str(exc), listen=list(config.settings.server.listen))
        await server.stop()
        return EXIT_CANNOT_LISTEN
    # A SIGTERM during the start-up checks (a directory that hangs can hold them for
    # their whole timeout) must stop the service now, not after them.
    checks = loop.create_task(server.directory_check())
    stop = loop.create_task(server.stop_event.wait())
    await asyncio.wait({checks, stop}, return_when=asyncio.FIRST_COMPLETED)
    if not checks.done():
        checks.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await checks
    watchdog: asyncio.Task[None] | None = None
    if not server.role.is_worker and not server.stop_event.is_set():
        systemd.ready(f"listening on {', '.join(server.addresses)}")
        live = loop.create_task(systemd.watchdog_loop(lambda: not server.stop_event.is_set()))
        watchdog = live
    started = True
    if pending_reload:
        reload_now()
    await stop
    _log.info("stopping", inflight=server.runtime.inflight)
    if watchdog is not None:
        watchdog.cancel()
    await server.stop()
    return 0
