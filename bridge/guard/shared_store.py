"""A shared store that never fails a login and never fails open.

Every call goes to the shared store (Redis) under its own short timeout, well inside
``request_deadline``. When a call fails or times out, the store is *down*: from then
on calls go to a local MemoryStore, and the guard divides every budget by the number
of instances expected to share it (``share``), so N instances falling back at once
still give the directory no more than the budget in total. A background task pings
the shared store with exponential backoff and switches back when it answers.
Requests never wait for that probe.

One log line per state change (``guard_store_down`` / ``guard_store_up``); the state is
also in ``/readyz`` (still ready: logins work) and in a metric.

What is remembered locally while the store is down is not copied back: after it
recovers, the shared counts resume where they were (their TTLs kept running).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from redis.exceptions import RedisError

from bridge.guard.redis_store import RedisStore
from bridge.guard.store import Count, MemoryStore

_log = structlog.get_logger("bridge.guard")
T = TypeVar("T")

#: Failures that mean "the shared store did not answer", not a bug of ours.
STORE_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)


class SharedStore:
    """GuardStore: the shared one while it answers, the local one while it does not."""

    def __init__(
        self,
        remote: RedisStore,
        local: MemoryStore,
        expected_instances: int,
        timeout: float = 0.25,
        backoff: tuple[float, float] = (0.5, 30.0),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.remote = remote
        self.local = local
        self.expected_instances = expected_instances
        self.timeout = timeout
        self._backoff = backoff
        self.clock = clock
        self.up = True
        self.detail = ""
        self._reconnect: asyncio.Task[None] | None = None

    @property
    def share(self) -> int:
        """While down, every instance's local guard gets 1/N of each budget."""
        return 1 if self.up else self.expected_instances * self.local.share

    def __len__(self) -> int:
        return len(self.local)

    @property
    def untracked(self) -> int:
        return self.local.untracked

    async def _call(
        self, remote: Callable[[], Awaitable[T]], local: Callable[[], Awaitable[T]]
    ) -> T:
        if not self.up:
            return await local()
        try:
            async with asyncio.timeout(self.timeout):
                return await remote()
        except STORE_ERRORS as exc:
            self._down(exc)
        return await local()

    def _down(self, exc: BaseException) -> None:
        if not self.up:
            return
        self.up = False
        self.detail = f"{type(exc).__name__}: {exc}"[:200] or "timed out"
        _log.warning(
            "guard_store_down",
            detail=self.detail,
            fallback="local memory",
            budget_share=self.share,
        )
        self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        delay, cap = self._backoff
        while not self.up:
            await asyncio.sleep(delay)
            try:
                async with asyncio.timeout(self.timeout):
                    await self.remote.ping()
            except STORE_ERRORS:
                delay = min(cap, delay * 2)
                continue
            self.up = True
            self.detail = ""
            _log.info("guard_store_up")

    # -- GuardStore -------------------------------------------------------------------
    async def count(self, key: str) -> Count | None:
        return await self._call(lambda: self.remote.count(key), lambda: self.local.count(key))

    async def hit(self, key: str, ttl: float, limit: int) -> Count | None:
        return await self._call(
            lambda: self.remote.hit(key, ttl, limit), lambda: self.local.hit(key, ttl, limit)
        )

    async def clear(self, *keys: str) -> None:
        await self.local.clear(*keys)  # both: a success must not leave a local spent budget
        await self._call(lambda: self.remote.clear(*keys), _nothing)

    async def mark(self, key: str, marker: bytes, ttl: float, keep: int) -> None:
        await self._call(
            lambda: self.remote.mark(key, marker, ttl, keep),
            lambda: self.local.mark(key, marker, ttl, keep),
        )

    async def marked(self, key: str, marker: bytes) -> bool:
        return await self._call(
            lambda: self.remote.marked(key, marker), lambda: self.local.marked(key, marker)
        )

    async def get(self, key: str) -> str | None:
        return await self._call(lambda: self.remote.get(key), lambda: self.local.get(key))

    async def put(self, key: str, value: str, ttl: float) -> None:
        await self._call(
            lambda: self.remote.put(key, value, ttl), lambda: self.local.put(key, value, ttl)
        )

    async def close(self) -> None:
        if self._reconnect is not None:
            self._reconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnect
        with contextlib.suppress(*STORE_ERRORS):
            await self.remote.close()


async def _nothing() -> Any:
    return None
