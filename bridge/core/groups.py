"""Who may use Ringotel: allow and deny lists over the user's groups, and their cache.

Group lookups are the expensive part of a login (AD: a tokenGroups read plus a SID
search), so they are cached per user DN with a TTL. The cache is touched only from
the event loop; concurrent logins of the same user share one directory query.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from cachetools import TTLCache

from bridge.core.dn import normalize_dn
from bridge.core.errors import Reason


@dataclass(frozen=True)
class GroupPolicy:
    """Allow/deny lists, already normalised. An empty allow list allows everyone."""

    allow: frozenset[str]
    deny: frozenset[str]

    @classmethod
    def from_dns(cls, allow: Iterable[str], deny: Iterable[str]) -> GroupPolicy:
        return cls(frozenset(map(normalize_dn, allow)), frozenset(map(normalize_dn, deny)))

    @property
    def needs_groups(self) -> bool:
        return bool(self.allow or self.deny)

    def decide(self, groups: frozenset[str]) -> Reason | None:
        """Deny wins over allow; ``groups`` are normalised DNs."""
        if self.deny & groups:
            return Reason.IN_DENIED_GROUP
        if self.allow and not self.allow & groups:
            return Reason.NOT_IN_ALLOWED_GROUP
        return None


class GroupCache:
    """TTL cache of user DN -> normalised group DNs, with single-flight lookups.

    One cache serves every directory: ``scope`` (the directory's name) keeps the same
    DN string in two directories apart."""

    def __init__(
        self, ttl: float, maxsize: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._cache: TTLCache[tuple[str, str], frozenset[str]] = TTLCache(maxsize, ttl, timer=clock)
        self._pending: dict[tuple[str, str], asyncio.Future[frozenset[str]]] = {}
        self.hits = 0
        self.misses = 0

    async def get(
        self, user_dn: str, lookup: Callable[[], Awaitable[frozenset[str]]], scope: str = ""
    ) -> frozenset[str]:
        key = (scope, normalize_dn(user_dn))
        cached = self._cache.get(key)
        if cached is not None:
            self.hits += 1
            return cached
        task = self._pending.get(key)
        if task is None:
            self.misses += 1
            # The lookup runs as its own task: if the request that started it is
            # cancelled (deadline, client gone), the others waiting for it still get it.
            task = asyncio.ensure_future(self._load(key, lookup))
            task.add_done_callback(_retrieve)
            self._pending[key] = task
        else:
            self.hits += 1
        return await asyncio.shield(task)

    async def _load(
        self, key: tuple[str, str], lookup: Callable[[], Awaitable[frozenset[str]]]
    ) -> frozenset[str]:
        try:
            groups = frozenset(map(normalize_dn, await lookup()))
        finally:
            self._pending.pop(key, None)
        self._cache[key] = groups
        return groups


def _retrieve(task: asyncio.Future[frozenset[str]]) -> None:
    """Mark a failed lookup's exception as seen even when every waiter has gone."""
    if not task.cancelled():
        task.exception()
