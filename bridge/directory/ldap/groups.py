"""A user's groups, by the configured strategy, on whatever connection may read them.

* ``member_of``: the entry's own ``memberOf`` values, read with the user (no search).
* ``in_chain``: AD's matching rule ``1.2.840.113556.1.4.1941``, nested groups in one
  search.
* ``token_groups``: AD's ``tokenGroups`` (every nested group's SID, from one base
  read), the SIDs resolved to DNs in batches and cached, so a second user of the
  same groups costs one read.
* ``member_search``: breadth-first over ``member``/``uniqueMember`` (OpenLDAP without
  memberof), with a seen-set so cycles end.

Searches are paged, so AD's MaxPageSize never truncates an answer silently. The
connection is the service account's, or in direct-bind mode the user's own.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import ldap3
from cachetools import TTLCache

from bridge.core.attributes import values
from bridge.core.ports import UserEntry
from bridge.directory.ldap import filters
from bridge.directory.ldap.options import LdapOptions
from bridge.directory.ldap.results import check_result, entries, explain_search_failure
from bridge.directory.ldap.sessions import OpCounter

_PAGED_RESULTS = "1.2.840.113556.1.4.319"
#: SIDs per resolving search: keeps the filter well under AD's MaxQueryDuration limits.
_SID_BATCH = 200
_UNKNOWN: Any = object()


class GroupReader:
    """Group lookups of one directory; owns the SID -> DN cache (thread-safe: the
    lookups run in the directory's pool)."""

    def __init__(self, options: LdapOptions, ops: OpCounter) -> None:
        self.options = options
        self._ops = ops
        self._sids: TTLCache[bytes, str | None] = TTLCache(50_000, 3600)
        self._sid_lock = threading.Lock()

    @property
    def needs_connection(self) -> bool:
        """False when the groups come with the entry (``memberOf``)."""
        return self.options.group_strategy != "member_of"

    @property
    def entry_attributes(self) -> tuple[str, ...]:
        """What the user entry must be read with for this strategy."""
        return () if self.needs_connection else ("memberOf",)

    def lookup(self, connection: ldap3.Connection | None, user: UserEntry) -> frozenset[str]:
        """The user's groups; ``connection`` may be None for ``member_of``."""
        strategy = self.options.group_strategy
        if strategy == "member_of":
            return frozenset(values(user.attributes, "memberOf"))
        assert connection is not None
        self._ops.add("group_lookups")
        if strategy == "in_chain":
            return frozenset(self._paged_dns(connection, filters.nested_groups_of(user.dn)))
        if strategy == "token_groups":
            return self._token_groups(connection, user)
        return self._member_walk(connection, user.dn)

    def _paged_search(
        self, connection: ldap3.Connection, search_filter: str, attributes: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Every matching entry, page by page.

        Referrals in the answer (AD's DomainDnsZones, Configuration) are dropped, never
        chased: group objects of this domain live in this naming context.
        """
        found: list[dict[str, Any]] = []
        cookie: Any = None
        while True:
            connection.search(
                self.options.base_dn,
                search_filter,
                ldap3.SUBTREE,
                attributes=list(attributes),
                paged_size=self.options.page_size,
                paged_cookie=cookie,
            )
            self._ops.add("searches", "group_searches")
            result = check_result(connection, "group search")
            if result.get("result") != 0:
                explain_search_failure(result, str(connection.server.name))
            found += entries(connection)
            controls = result.get("controls", {}) or {}
            cookie = controls.get(_PAGED_RESULTS, {}).get("value", {}).get("cookie")
            if not cookie:
                return found

    def _paged_dns(self, connection: ldap3.Connection, search_filter: str) -> list[str]:
        return [r["dn"] for r in self._paged_search(connection, search_filter, ["1.1"])]

    def _token_groups(self, connection: ldap3.Connection, user: UserEntry) -> frozenset[str]:
        """All nested groups from one base read; SIDs not seen before resolved in batches."""
        connection.search(user.dn, "(objectClass=*)", ldap3.BASE, attributes=["tokenGroups"])
        self._ops.add("searches", "group_searches")
        check_result(connection, "tokenGroups read")
        matches = entries(connection)
        if not matches:
            return frozenset()
        sids: list[bytes] = list(matches[0].get("raw_attributes", {}).get("tokenGroups", []))
        known: dict[bytes, str | None] = {}
        with self._sid_lock:  # cachetools caches are not thread-safe; we run in the pool
            for sid in sids:
                dn = self._sids.get(sid, _UNKNOWN)
                if dn is not _UNKNOWN:
                    known[sid] = dn
        unknown = [sid for sid in dict.fromkeys(sids) if sid not in known]
        for start in range(0, len(unknown), _SID_BATCH):
            known.update(self._resolve_sids(connection, unknown[start : start + _SID_BATCH]))
        return frozenset(dn for dn in known.values() if dn)

    def _resolve_sids(
        self, connection: ldap3.Connection, batch: Sequence[bytes]
    ) -> dict[bytes, str | None]:
        """One search for a batch of SIDs; a SID with no entry here is cached as None."""
        resolved: dict[bytes, str | None] = dict.fromkeys(batch)
        for entry in self._paged_search(connection, filters.sids(batch), ["objectSid"]):
            for raw in entry.get("raw_attributes", {}).get("objectSid", []):
                resolved[raw] = entry["dn"]
        with self._sid_lock:
            self._sids.update(resolved)
        return resolved

    def _member_walk(self, connection: ldap3.Connection, user_dn: str) -> frozenset[str]:
        """Breadth-first over ``member`` with a seen-set, so cycles end."""
        seen: set[str] = set()
        groups: list[str] = []
        frontier = [user_dn]
        while frontier:
            found = self._paged_dns(connection, filters.groups_with_member(frontier))
            frontier = [dn for dn in found if dn.lower() not in seen]
            seen.update(dn.lower() for dn in frontier)
            groups += frontier
        return frozenset(groups)
