"""``ringotel-bridge serve``: listeners, signals, readiness, reload and drain.

Readiness is reported to systemd only after every listener is bound and one directory
check has run. SIGHUP reloads the config and TLS certificates; SIGTERM stops
accepting, drains in-flight requests up to ``server.drain_timeout``, then exits 0.
"""

from __future__ import annotations

import asyncio
import signal
import ssl
from pathlib import Path

import structlog
from aiohttp import web

from bridge import systemd
from bridge.config import Config, ServerSettings
from bridge.errors import DirectoryUnavailable
from bridge.runtime import Runtime
from bridge.service import Service
from bridge.web.app import create_app, create_ops_app

_log = structlog.get_logger("bridge.server")

MODERN_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20"


def tls_context(settings: ServerSettings, files: dict[str, Path]) -> ssl.SSLContext | None:
    if settings.tls_cert_file is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(MODERN_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    load_certificates(context, files)
    return context


def load_certificates(context: ssl.SSLContext, files: dict[str, Path]) -> None:
    """(Re)load the chain into an existing context; new handshakes use it at once."""
    context.load_cert_chain(files["server.tls_cert_file"], files["server.tls_key_file"])


class Server:
    """The bound listeners of one process."""

    def __init__(self, config: Config) -> None:
        self.runtime = Runtime(config)
        self.stop_event = asyncio.Event()
        self._runners: list[web.AppRunner] = []
        self._sites: list[web.TCPSite] = []
        self._tls = tls_context(config.settings.server, dict(config.files))
        self._listen = config.settings.server.listen
        self.runtime.reload_listeners.append(self._on_reload)

    def _on_reload(self, service: Service) -> None:
        if self._tls is not None and service.settings.server.tls_cert_file is not None:
            load_certificates(self._tls, dict(service.config.files))
        if service.config.settings.server.listen != self._listen:
            _log.warning("restart_needed", reason="server.listen changed; restart to apply")

    async def start(self) -> None:
        settings = self.runtime.config.settings
        main = web.AppRunner(
            create_app(self.runtime),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=settings.server.drain_timeout,
        )
        await main.setup()
        self._runners.append(main)
        for host, port in settings.server.listen_addresses:
            site = web.TCPSite(main, host, port, ssl_context=self._tls, reuse_address=True)
            await site.start()
            self._sites.append(site)
        if settings.server.ops_address:
            ops = web.AppRunner(create_ops_app(self.runtime), access_log=None, handle_signals=False)
            await ops.setup()
            self._runners.append(ops)
            host, port = settings.server.ops_address
            site = web.TCPSite(ops, host, port, reuse_address=True)
            await site.start()
            self._sites.append(site)
        _log.info(
            "listening",
            listen=list(settings.server.listen),
            tls=self._tls is not None,
            ops=settings.server.ops_listen,
        )

    @property
    def addresses(self) -> list[str]:
        return [site.name for site in self._sites]

    async def directory_check(self) -> bool:
        try:
            ready = await asyncio.wait_for(self.runtime.service.directory.check(), 15)
        except (DirectoryUnavailable, TimeoutError) as exc:
            _log.error("directory_check_failed", detail=str(exc) or "timed out")
            return False
        _log.info("directory_check_ok", server=ready.server, detail=ready.detail)
        return True

    async def reload(self) -> None:
        systemd.reloading()
        ok = await self.runtime.reload()
        systemd.ready("reloaded" if ok else "reload failed; old configuration kept")

    async def stop(self) -> None:
        systemd.stopping()
        drain = self.runtime.config.settings.server.drain_timeout
        for site in self._sites:
            await site.stop()
        drained = await self.runtime.drain(drain)
        _log.info("stopped", drained=drained, inflight=self.runtime.inflight)
        for runner in self._runners:
            await runner.cleanup()
        await self.runtime.close()


async def serve(config: Config) -> int:
    server = Server(config)
    await server.start()
    await server.directory_check()
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    def on_hup() -> None:
        task = loop.create_task(server.reload())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    loop.add_signal_handler(signal.SIGTERM, server.stop_event.set)
    loop.add_signal_handler(signal.SIGINT, server.stop_event.set)
    systemd.ready(f"listening on {', '.join(server.addresses)}")
    watchdog = loop.create_task(systemd.watchdog_loop(lambda: not server.stop_event.is_set()))
    await server.stop_event.wait()
    _log.info("stopping", inflight=server.runtime.inflight)
    watchdog.cancel()
    await server.stop()
    return 0
