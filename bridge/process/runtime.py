"""The running process: the current Service, swapped atomically on reload.

Requests read ``runtime.service`` once when they start, so a reload never changes the
objects under a request in flight; the old Service is closed once the requests that
hold it have finished.

A reload is all or nothing: the file is parsed, every ``checks`` hook (e.g. "the new
TLS certificate loads") runs and the new Service is built before anything is swapped.

The guard (failure budgets, remembered wrong passwords, client limits per source) is
the Runtime's, not a Service's: every Service is built around the same one and a
reload only changes its numbers. Otherwise every SIGHUP would hand a password guesser
a fresh budget and an app retrying a stale password a fresh path to lockout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog

from bridge import __version__
from bridge.config import Config, load
from bridge.core.errors import ConfigError
from bridge.guard import Guard, MemoryStore
from bridge.guard.shared_store import SharedStore
from bridge.observability.metrics import Metrics
from bridge.process.wiring import Service, build_service, guard_limits, load_guard

_log = structlog.get_logger("bridge.process.runtime")


class Runtime:
    """Owns the metrics (they outlive reloads) and the current Service."""

    def __init__(
        self,
        config: Config,
        metrics: Metrics | None = None,
        builder: Callable[[Config, Metrics, Guard], Service] = build_service,
        guard: Guard | None = None,
        workers: int = 1,
    ) -> None:
        self.metrics = metrics or Metrics(version=__version__)
        self._builder = builder
        self.guard = guard or load_guard(config, workers)
        self.service = builder(config, self.metrics, self.guard)
        self._holders: dict[int, int] = {}
        self._retired: list[Service] = []
        self.inflight = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.reload_listeners: list[Callable[[Service], None]] = []
        self.checks: list[Callable[[Config], None]] = []
        self._reloading = asyncio.Lock()
        self.metrics.group_cache.track(self.service.login.group_cache)
        if isinstance(self.guard.store, MemoryStore | SharedStore):
            self.metrics.guard.store = self.guard.store

    @property
    def config(self) -> Config:
        return self.service.config

    def acquire(self) -> Service:
        """The Service for one request; pair with ``release``."""
        service = self.service
        self._holders[id(service)] = self._holders.get(id(service), 0) + 1
        self.inflight += 1
        self.idle.clear()
        return service

    @contextmanager
    def lease(self) -> Iterator[Service]:
        """The current Service for the length of one request."""
        service = self.acquire()
        try:
            yield service
        finally:
            self.release(service)

    def release(self, service: Service) -> None:
        self._holders[id(service)] -= 1
        self.inflight -= 1
        if self.inflight == 0:
            self.idle.set()
        self._close_retired()

    def _close_retired(self) -> None:
        for old in list(self._retired):
            if self._holders.get(id(old), 0) == 0:
                self._retired.remove(old)
                self._holders.pop(id(old), None)
                asyncio.get_running_loop().create_task(old.close())

    async def reload(self, path: Path | None = None) -> bool:
        """Load the config again; keep the old one when the new one is invalid."""
        async with self._reloading:  # two quick SIGHUPs must not interleave
            return await self._reload(path)

    async def _reload(self, path: Path | None) -> bool:
        source = path or self.config.source
        if source is None:
            _log.error("reload_failed", errors=["no config file to reload"])
            return False
        try:
            config = await asyncio.to_thread(self._prepare, source)
            service = self._builder(config, self.metrics, self.guard)
        except ConfigError as exc:
            self.metrics.reloads.labels("failed").inc()
            _log.error("reload_failed", config=str(source), errors=[str(p) for p in exc.problems])
            return False
        for warning in config.warnings:
            _log.warning("config_warning", warning=warning)
        self._swap(service)
        self.metrics.reloads.labels("ok").inc()
        _log.info("reloaded", config=str(source))
        return True

    def _prepare(self, source: Path) -> Config:
        config = load(source)
        for check in self.checks:
            check(config)
        return config

    def _swap(self, service: Service) -> None:
        old, self.service = self.service, service
        self.guard.update(guard_limits(service.settings))
        for key in ("protection.key_file", "protection.store"):
            if _setting(service.config, key) != _setting(old.config, key):
                _log.warning("restart_needed", key=key, reason=f"{key} changed; restart to apply")
        self.metrics.group_cache.track(service.login.group_cache)
        self.metrics.forget_servers(
            (member.directory, server.name)
            for member in service.members
            for server in member.target.stats().servers
        )
        self._retired.append(old)
        self._close_retired()
        for listener in self.reload_listeners:
            listener(service)

    async def drain(self, limit: float) -> bool:
        """Wait for in-flight requests; True when all finished in time."""
        try:
            await asyncio.wait_for(self.idle.wait(), limit)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        for service in [*self._retired, self.service]:
            await service.close()
        self._retired.clear()
        if isinstance(self.guard.store, SharedStore):
            await self.guard.store.close()


def _setting(config: Config, key: str) -> object:
    """A setting that only a restart applies: the key file, or where the guard's store is."""
    if key == "protection.key_file":
        return config.files[key]
    return config.settings.protection.store
