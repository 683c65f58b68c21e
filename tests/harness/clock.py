"""The one fake clock of the suite, and a sleep that ends only when a test says so.

Time-driven code (caches, budgets, token lifetimes, the watchdog) takes its clock
and its sleep as parameters; these stand in for them so that a test counts steps
instead of racing the wall clock.
"""

from __future__ import annotations

import asyncio


class FakeClock:
    """A callable clock (``time.monotonic`` / ``time.time`` shaped)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SteppedSleep:
    """An ``asyncio.sleep`` stand-in: each call parks until :meth:`wake` lets it go.

    The code under test runs as a task; the test waits with :meth:`until_asleep` for
    it to reach its next sleep, so everything the task did before that is done.
    A given clock is moved by the requested seconds when a sleep ends. A sleeper
    that never arrives fails the test after ``timeout`` seconds instead of hanging it.
    """

    def __init__(self, clock: FakeClock | None = None, timeout: float = 5.0) -> None:
        self.clock = clock
        self.timeout = timeout
        self.requested: list[float] = []
        self._parked: asyncio.Queue[asyncio.Future[None]] = asyncio.Queue()
        self._current: asyncio.Future[None] | None = None

    async def __call__(self, seconds: float) -> None:
        self.requested.append(seconds)
        release = asyncio.get_running_loop().create_future()
        self._parked.put_nowait(release)
        await release
        if self.clock is not None:
            self.clock.advance(seconds)

    async def until_asleep(self) -> None:
        """Return once the sleeper is parked in its next sleep."""
        self._current = await asyncio.wait_for(self._parked.get(), self.timeout)

    async def wake(self, times: int = 1) -> None:
        """End the current sleep ``times`` times, each time until the next sleep begins."""
        for _ in range(times):
            assert self._current is not None, "wake() before until_asleep()"
            self._current.set_result(None)
            self._current = None
            await self.until_asleep()
