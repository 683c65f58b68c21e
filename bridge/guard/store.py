"""Where the guard keeps its state: one small async protocol, kept in memory here.

The protocol is shaped for a shared store too (a later Redis implementation keeps the
same keys with the same TTLs, each update one atomic script), so everything the guard
remembers is one of three things, each with an expiry:

* a *counter* that a failure increments and re-arms (a sliding window: it expires
  ``ttl`` after the *last* failure, as AD's observation window does);
* a small set of *markers* (HMAC fingerprints of wrong passwords);
* a *value* (a direct-bind alias: the DN a bind name turned out to be).

Memory is bounded and the eviction rule is the guard's own: a counter that has spent
its budget is never evicted to make room (junk logins must not flush a victim's spent
budget); when even those fill the store, new keys are simply not tracked, and the
caller is told so that it can count it.
"""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Count:
    """A failure counter: how many, and when it expires (the clock's seconds)."""

    value: int
    expires: float


class GuardStore(Protocol):
    """The guard's state. Every method is async so a networked store fits behind it."""

    @property
    def share(self) -> int:
        """How many guards split each budget while this store's numbers are in use: 1
        for a store every instance shares; N for per-process memory standing in for it
        (N workers, or N instances while the shared store is down)."""
        ...

    async def count(self, key: str) -> Count | None:
        """The live counter, or None when there is none (never set, or expired)."""
        ...

    async def hit(self, key: str, ttl: float, limit: int) -> Count | None:
        """Add one and re-arm the expiry to ``ttl`` from now. ``limit`` is the budget:
        a counter at or above it is spent and is never evicted. None: not tracked
        (the store is full of spent budgets)."""
        ...

    async def clear(self, *keys: str) -> None: ...

    async def mark(self, key: str, marker: bytes, ttl: float, keep: int) -> None:
        """Remember ``marker`` under ``key`` (at most ``keep`` of them, newest kept)."""
        ...

    async def marked(self, key: str, marker: bytes) -> bool: ...

    async def get(self, key: str) -> str | None: ...

    async def put(self, key: str, value: str, ttl: float) -> None: ...


@dataclass
class _Entry:
    expires: float
    count: int = 0
    limit: int = 0
    markers: tuple[bytes, ...] = ()
    value: str | None = None

    @property
    def spent(self) -> bool:
        return self.limit > 0 and self.count >= self.limit


class MemoryStore:
    """The guard's state in this process; event-loop only (no locks needed).

    Two tables of at most ``maxsize`` entries each: spent counters, which are never
    evicted, and everything else, evicted oldest first when full.
    """

    def __init__(
        self, maxsize: int = 100_000, clock: Callable[[], float] = time.time, share: int = 1
    ) -> None:
        self.maxsize = maxsize
        self.clock = clock
        self.share = share
        self._spent: OrderedDict[str, _Entry] = OrderedDict()
        self._other: OrderedDict[str, _Entry] = OrderedDict()
        #: new keys that could not be tracked because spent budgets filled the store
        self.untracked = 0

    def __len__(self) -> int:
        return len(self._spent) + len(self._other)

    def _live(self, key: str) -> _Entry | None:
        now = self.clock()
        for table in (self._spent, self._other):
            entry = table.get(key)
            if entry is not None:
                if entry.expires > now:
                    return entry
                del table[key]
        return None

    def _purge(self, table: OrderedDict[str, _Entry], budget: int = 8) -> None:
        """Drop a few expired entries from the old end (amortised clean-up)."""
        now = self.clock()
        for key in list(table)[:budget]:
            if table[key].expires <= now:
                del table[key]

    def _store(self, key: str, entry: _Entry) -> bool:
        """Put ``entry`` in the right table; False when it cannot be tracked."""
        self._spent.pop(key, None)
        self._other.pop(key, None)
        table = self._spent if entry.spent else self._other
        self._purge(table)
        if len(table) >= self.maxsize:
            if table is self._spent:
                self.untracked += 1
                return False
            table.popitem(last=False)
        table[key] = entry
        return True

    async def count(self, key: str) -> Count | None:
        entry = self._live(key)
        if entry is None or entry.count == 0:
            return None
        return Count(entry.count, entry.expires)

    async def hit(self, key: str, ttl: float, limit: int) -> Count | None:
        entry = self._live(key) or _Entry(expires=0.0)
        entry.count += 1
        entry.limit = limit
        entry.expires = self.clock() + ttl
        if not self._store(key, entry):
            return None
        return Count(entry.count, entry.expires)

    async def clear(self, *keys: str) -> None:
        for key in keys:
            self._spent.pop(key, None)
            self._other.pop(key, None)

    async def mark(self, key: str, marker: bytes, ttl: float, keep: int) -> None:
        entry = self._live(key) or _Entry(expires=0.0)
        entry.markers = (*[m for m in entry.markers if m != marker], marker)[-keep:]
        entry.expires = self.clock() + ttl
        self._store(key, entry)

    async def marked(self, key: str, marker: bytes) -> bool:
        entry = self._live(key)
        found = False
        for seen in entry.markers if entry is not None else ():
            found |= hmac.compare_digest(seen, marker)
        return found

    async def get(self, key: str) -> str | None:
        entry = self._live(key)
        return entry.value if entry is not None else None

    async def put(self, key: str, value: str, ttl: float) -> None:
        self._store(key, _Entry(expires=self.clock() + ttl, value=value))
