"""A Ringotel username is handed out only to the one directory entry that holds it.

Where users may write the username attribute on their own account (AD's ipPhone,
otherIpPhone), anyone can add a colleague's extension to himself. So every value is
looked up in the whole directory (any username attribute, two entries at most) and
kept only when the entry logging in is its sole holder. A value two entries hold is
dropped for both: the bridge cannot tell the owner from the forger, and handing the
extension to the wrong one is worse than handing it to nobody until an administrator
removes the forged copy.

The answer "this entry alone holds the value" is cached for ``ttl`` seconds, keyed by
value, and counts only for that same entry: anyone else asking for the value searches
again, so the cache can never give an attacker a colleague's extension. A search
that finds two holders evicts the entry, so the rightful owner loses the value too
from then on. ``ttl`` 0 searches on every login; the check itself cannot be switched
off. The cache lives on the event loop, like every cache here.

In direct-bind mode there is no service account: the directory searched the holders
with the user's own rights right after the bind (``UserEntry.holders``). Such a
search sees only what the user may read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from cachetools import TTLCache

from bridge.core.dn import normalize_dn
from bridge.core.ports import Directory, UserEntry
from bridge.core.usernames import Rule, username_sources

if TYPE_CHECKING:
    from bridge.core.outcomes import Trace

#: Why a value was dropped (audit log and metric label).
DUPLICATE = "duplicate"  # two or more entries hold it
OTHER_HOLDER = "held_by_another_entry"  # one entry holds it, not the one logging in
NOT_FOUND = "not_found"  # no entry holds it as stored (e.g. a replica behind)
REASONS = (DUPLICATE, OTHER_HOLDER, NOT_FOUND)


class UniqueUsernames:
    """Keeps the usernames that the entry logging in holds alone. One per loaded config."""

    def __init__(
        self,
        directory: Directory,
        rules: Sequence[Rule],
        ttl: float = 0.0,
        maxsize: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        on_drop: Callable[[str], None] | None = None,
    ) -> None:
        self.directory = directory
        self.rules = tuple(rules)
        self._holder: TTLCache[str, str] | None = (
            TTLCache(maxsize, ttl, timer=clock) if ttl > 0 else None
        )
        self._on_drop = on_drop or (lambda reason: None)

    async def keep(
        self, user: UserEntry, usernames: Sequence[str], trace: Trace
    ) -> tuple[str, ...]:
        """``usernames`` without the ones ``user`` does not hold alone; each dropped value
        and why go to ``trace`` (the audit log) and to ``on_drop`` (the metric)."""
        sources = username_sources(user.attributes, self.rules)
        kept = []
        for username in usernames:
            reason = None
            for value in sources.get(username, (username,)):
                reason = await self._refusal(user, value)
                if reason is not None:
                    break
            if reason is None:
                kept.append(username)
                continue
            trace.dropped_usernames[username] = reason
            trace.note(f"username {username} dropped: {reason}")
            self._on_drop(reason)
        return tuple(kept)

    async def _refusal(self, user: UserEntry, value: str) -> str | None:
        """None when ``user`` alone holds ``value``, else why not."""
        me = normalize_dn(user.dn)
        if user.holders is not None:  # direct bind: searched at bind time
            return _judge(me, tuple(map(normalize_dn, user.holders.get(value, ()))))
        if self._holder is not None and self._holder.get(value) == me:
            return None
        holders = tuple(map(normalize_dn, await self.directory.holders_of(value)))
        self._remember(value, holders)
        return _judge(me, holders)

    def _remember(self, value: str, holders: tuple[str, ...]) -> None:
        if self._holder is None:
            return
        if len(holders) == 1:
            self._holder[value] = holders[0]
        else:  # two holders now (or none): no earlier "held alone" may stand
            self._holder.pop(value, None)


def _judge(me: str, holders: tuple[str, ...]) -> str | None:
    if len(holders) > 1:
        return DUPLICATE
    if not holders:
        return NOT_FOUND
    return None if holders[0] == me else OTHER_HOLDER
