"""``server.workers = N``: N serving processes on the same listeners, one supervisor.

The supervisor (the process systemd started) reserves each listening address first,
with a bound socket that never listens (so ``:0`` resolves to one port for all and the
address stays ours across worker restarts), then starts N workers with
``python -m bridge.process.worker``. Each worker binds the same addresses with
SO_REUSEPORT, so the kernel spreads connections over them, and serves its ops app on
a unix socket of its own. The supervisor:

* sends ``READY=1`` once every worker answers ``/healthz`` (after its directory check);
* pings the watchdog only while every worker answers;
* checks a new config itself on SIGHUP and forwards the signal only when it loads, so a
  reload stays all or nothing; SIGTERM goes to every worker, which drains;
* restarts a worker that dies, with a growing pause if it keeps dying;
* serves the public ops listener: ``/healthz``, ``/readyz`` and ``/metrics`` summed
  over the workers (``metrics_merge``).

With the in-memory guard each worker gets 1/N of every budget; with a shared store
they share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import tempfile
from pathlib import Path

import aiohttp
import structlog
from aiohttp import web

from bridge.config import Config, load
from bridge.core.errors import ConfigError
from bridge.observability.metrics import Metrics
from bridge.process import systemd
from bridge.process.metrics_merge import merge
from bridge.process.server import EXIT_CANNOT_LISTEN, host_port
from bridge.web.connections import BoundedSite, ConnectionLimits

_log = structlog.get_logger("bridge.process.workers")

#: Environment a worker must not inherit: only the supervisor talks to systemd.
_SYSTEMD_ONLY = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
_RESTART_PAUSE = (1.0, 30.0)
_ASK_TIMEOUT = 5.0


def reserve(addresses: tuple[tuple[str, int], ...]) -> list[socket.socket]:
    """Bind (never listen) each address with SO_REUSEPORT: the port is resolved and kept
    for the workers, and the kernel sends no connection to a socket that does not
    listen."""
    reserved = []
    for host, port in addresses:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        reserved.append(sock)
    return reserved


class Worker:
    """One serving process, restarted when it dies."""

    def __init__(self, index: int, argv: list[str], ops_socket: Path) -> None:
        self.index = index
        self.argv = argv
        self.ops_socket = ops_socket
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in _SYSTEMD_ONLY}
        with contextlib.suppress(FileNotFoundError):
            self.ops_socket.unlink()
        self.process = await asyncio.create_subprocess_exec(*self.argv, env=env)
        _log.info("worker_started", worker=self.index, pid=self.process.pid)

    def signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    async def ask(self, path: str, limit: float = _ASK_TIMEOUT) -> tuple[int, str]:
        """GET ``path`` from the worker's ops app."""
        connector = aiohttp.UnixConnector(path=str(self.ops_socket))
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(f"http://worker{path}", timeout=aiohttp.ClientTimeout(limit)) as reply,
        ):
            return reply.status, await reply.text()

    async def alive(self) -> bool:
        try:
            status, _ = await self.ask("/healthz", 2.0)
        except (OSError, aiohttp.ClientError, TimeoutError):
            return False
        return status == 200


class Supervisor:
    def __init__(self, config: Config, addresses: tuple[tuple[str, int], ...], run_dir: Path):
        self.config = config
        self.stopping = False
        self.stop_event = asyncio.Event()
        count = config.settings.server.workers
        listen = [f"{host}:{port}" for host, port in addresses]
        source = str(config.source)
        self.workers = [
            Worker(
                i,
                [sys.executable, "-m", "bridge.process.worker", "--config", source,
                 "--workers", str(count), "--ops-socket", str(run_dir / f"worker-{i}.sock"),
                 *[a for address in listen for a in ("--listen", address)]],
                run_dir / f"worker-{i}.sock",
            )
            for i in range(count)
        ]  # fmt: skip

    async def start(self) -> None:
        for worker in self.workers:
            await worker.start()

    async def all_alive(self) -> bool:
        results = await asyncio.gather(*(w.alive() for w in self.workers))
        return all(results)

    async def wait_ready(self, limit: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while loop.time() < deadline and not self.stop_event.is_set():
            if await self.all_alive():
                return True
            await asyncio.sleep(0.1)
        return False

    async def keep(self, worker: Worker) -> None:
        """Restart ``worker`` whenever it exits, until the supervisor stops."""
        pause, cap = _RESTART_PAUSE
        while True:
            assert worker.process is not None
            code = await worker.process.wait()
            if self.stopping:
                return
            _log.error("worker_died", worker=worker.index, exit_code=code, restart_in=pause)
            await asyncio.sleep(pause)
            if self.stopping:
                return
            worker.restarts += 1
            await worker.start()
            pause = min(cap, pause * 2)

    def reload(self) -> None:
        """Check the new config here; only a config that loads reaches the workers."""
        systemd.reloading()
        try:
            assert self.config.source is not None
            load(self.config.source)
        except ConfigError as exc:
            _log.error("reload_failed", errors=[str(p) for p in exc.problems])
            systemd.ready("reload failed; old configuration kept")
            return
        for worker in self.workers:
            worker.signal(signal.SIGHUP)
        systemd.ready("reload sent to every worker")

    async def stop(self) -> None:
        self.stopping = True
        systemd.stopping()
        for worker in self.workers:
            worker.signal(signal.SIGTERM)
        limit = self.config.settings.server.drain_timeout + 5
        for worker in self.workers:
            if worker.process is None:
                continue
            try:
                await asyncio.wait_for(worker.process.wait(), limit)
            except TimeoutError:
                worker.signal(signal.SIGKILL)
                await worker.process.wait()


def ops_app(supervisor: Supervisor) -> web.Application:
    """The public ops listener, answered for all workers."""

    async def healthz(request: web.Request) -> web.Response:
        alive = await asyncio.gather(*(w.alive() for w in supervisor.workers))
        body = {"status": "ok" if all(alive) else "degraded", "workers": list(alive)}
        return web.json_response(body, status=200 if all(alive) else 503)

    async def readyz(request: web.Request) -> web.Response:
        answers = await asyncio.gather(
            *(w.ask("/readyz") for w in supervisor.workers), return_exceptions=True
        )
        ready = [a for a in answers if isinstance(a, tuple) and a[0] == 200]
        if ready:
            return web.Response(text=ready[0][1], content_type="application/json")
        return web.json_response(
            {"status": "unavailable", "detail": "no worker is ready"}, status=503
        )

    async def metrics(request: web.Request) -> web.Response:
        answers = await asyncio.gather(
            *(w.ask("/metrics") for w in supervisor.workers), return_exceptions=True
        )
        texts = [a[1] for a in answers if isinstance(a, tuple) and a[0] == 200]
        return web.Response(
            body=merge(texts).encode(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def supervise(config: Config) -> int:
    """Run N workers until SIGTERM; see the module docstring."""
    settings = config.settings.server
    try:
        reserved = reserve(settings.listen_addresses)
    except OSError as exc:
        _log.error("cannot_listen", detail=str(exc), listen=list(settings.listen))
        return EXIT_CANNOT_LISTEN
    addresses = tuple(
        (host, sock.getsockname()[1])
        for (host, _), sock in zip(settings.listen_addresses, reserved, strict=True)
    )
    run_dir = Path(
        os.environ.get("RUNTIME_DIRECTORY") or tempfile.mkdtemp(prefix="ringotel-bridge-")
    )
    supervisor = Supervisor(config, addresses, run_dir)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, supervisor.reload)
    loop.add_signal_handler(signal.SIGTERM, supervisor.stop_event.set)
    loop.add_signal_handler(signal.SIGINT, supervisor.stop_event.set)
    ops_runner: web.AppRunner | None = None
    try:
        await supervisor.start()
        keepers = [loop.create_task(supervisor.keep(w)) for w in supervisor.workers]
        if settings.ops_address:
            ops_runner = web.AppRunner(ops_app(supervisor), access_log=None, handle_signals=False)
            await ops_runner.setup()
            limits = ConnectionLimits(
                "ops", lambda: config.settings.server, Metrics(), capped=False
            )
            await BoundedSite(ops_runner, *settings.ops_address, limits=limits).start()
        ready = await supervisor.wait_ready(60.0)
        listening = [f"{h}:{p}" for h, p in addresses]
        count = len(supervisor.workers)
        _log.info(
            "workers_listening",
            workers=count,
            addresses=listening,
            ops_address=host_port(ops_runner.addresses[0]) if ops_runner else None,
            run_dir=str(run_dir),
            ready=ready,
        )
        systemd.ready(f"{count} workers listening on {', '.join(listening)}")
        watchdog = loop.create_task(systemd.watchdog_loop(supervisor.all_alive))
        await supervisor.stop_event.wait()
        watchdog.cancel()
        await supervisor.stop()
        for keeper in keepers:
            keeper.cancel()
    finally:
        if ops_runner is not None:
            await ops_runner.cleanup()
        for sock in reserved:
            sock.close()
    _log.info("stopped", workers=len(supervisor.workers))
    return 0
