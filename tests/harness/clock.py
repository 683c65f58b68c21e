"""The one fake clock of the suite: time moves only when a test says so."""

from __future__ import annotations


class FakeClock:
    """A callable clock (``time.monotonic`` / ``time.time`` shaped)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
