"""The failover list kept fresh from DNS: first answer, re-resolution, the last good list.

A hard-coded list of DCs rots as DCs are replaced, added to sites and decommissioned;
with ``[directory] domain`` the list is what DNS says (``bridge.directory.locator``),
resolved on first use and again in the background when the records expire: their
TTL held between ``dns_min_ttl`` and ``dns_max_ttl``. A failed re-resolution keeps
the last good list (an outage of DNS is not an outage of the DCs) and is retried
after ``RETRY_AFTER_FAILURE`` seconds as SSSD does; until DNS has answered once, the
configured ``urls`` are the list. A DC that left DNS leaves the failover list: its
idle connections are closed at once, those of requests in flight when they finish.

Everything here runs on the event loop, one re-resolution at a time; the list itself
is swapped in one assignment (``ServerList.replace``), which is what makes the swap
safe for the failover loops in the directory threads and the event-loop binder.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from bridge.directory.ldap.binder import Binder
from bridge.directory.ldap.transport import ServerList, ServerState
from bridge.directory.locator.locator import (
    SOURCE_WORDS,
    Located,
    Locator,
    LocatorFailed,
    LocatorSettings,
)

_log = structlog.get_logger("bridge.directory")

#: Seconds before a failed lookup is tried again (SSSD waits 15 s too), unless
#: ``dns_max_ttl`` is shorter.
RETRY_AFTER_FAILURE = 15.0


@dataclass(frozen=True)
class DiscoverySettings:
    """``[directory] domain`` and its companions, resolved."""

    locator: LocatorSettings
    #: the records' TTL is held between these (seconds)
    min_ttl: float
    max_ttl: float


class Discovery:
    """Owns the refresh task of one directory's failover list."""

    def __init__(
        self,
        settings: DiscoverySettings,
        servers: ServerList,
        binder: Binder,
        locator: Locator | None = None,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.servers = servers
        self.binder = binder
        self.locator = locator or Locator(settings.locator)
        #: the last good answer (None: DNS has not answered yet)
        self.located: Located | None = None
        #: why the last resolution failed (None: it did not)
        self.error: str | None = None
        self._on_failure = on_failure or (lambda: None)
        self._task: asyncio.Task[None] | None = None
        self._answered: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None

    # -- first use ------------------------------------------------------------------
    async def ready(self, seconds: float) -> None:
        """Start the refresh task on first use and wait up to ``seconds`` for its first
        answer; past that, requests go on with the list there is (the configured urls)."""
        if self._task is None:
            self._answered = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())
        assert self._answered is not None
        if not self._answered.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._answered.wait()

    async def _run(self) -> None:
        while True:
            try:
                delay = await self.refresh()
            except Exception:  # noqa: BLE001 - a bug here must not end discovery for good
                _log.exception("directory_discovery_crashed")
                delay = self._retry_delay
            finally:
                if self._answered is not None:
                    self._answered.set()
            await asyncio.sleep(delay)

    # -- one re-resolution -------------------------------------------------------------
    async def refresh(self) -> float:
        """Resolve once and apply the answer; seconds until the next resolution."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                located = await self.locator.locate()
            except LocatorFailed as exc:
                self._failed(str(exc))
                return self._retry_delay
            self.error = None
            await self._apply(located)
            return min(max(located.ttl, self.settings.min_ttl), self.settings.max_ttl)

    @property
    def _retry_delay(self) -> float:
        return min(RETRY_AFTER_FAILURE, self.settings.max_ttl)

    def _failed(self, error: str) -> None:
        self.error = error
        self._on_failure()
        kept = [server.name for server in self.servers.servers]
        _log.warning(
            "directory_discovery_failed",
            domain=self.settings.locator.domain,
            error=error,
            kept=kept,
            retry_in=self._retry_delay,
        )

    async def _apply(self, located: Located) -> None:
        before = self._described(self.servers.servers), self.located and self.located.site
        retired = self.servers.replace(located.servers)
        self.located = located
        for server in retired:  # first: nothing in flight may pool a link or connection
            server.retire()
            self.binder.forget(server)
        if retired:
            await asyncio.to_thread(_close_pools, retired)
        now = self._described(self.servers.servers), located.site
        if now != before:
            _log.info(
                "directory_servers_found",
                domain=self.settings.locator.domain,
                site=located.site,
                site_from=located.site_source,
                servers=list(now[0]),
                dropped=[server.name for server in retired],
                notes=list(located.notes),
            )

    @staticmethod
    def _described(servers: Sequence[ServerState]) -> tuple[str, ...]:
        return tuple(f"{s.name} ({SOURCE_WORDS.get(s.source, s.source)})" for s in servers)

    # -- for the administrator ----------------------------------------------------------
    def report(self) -> tuple[list[str], list[str]]:
        """(lines, failures) for check-config: the site, each server and its source."""
        domain = self.settings.locator.domain
        lines = [f"domain: {domain}"]
        failures: list[str] = []
        located = self.located
        if located is None:
            failures.append(
                f"no answer from DNS ({self.error or 'not resolved yet'}); "
                + ("using the configured urls" if self.servers.servers else "no server to use")
            )
        else:
            lines.append(f"site: {located.site or 'none'} ({located.site_source})")
            lines += [f"note: {note}" for note in located.notes]
            if self.error:
                lines.append(f"last re-resolution failed ({self.error}); last good list kept")
        for server in self.servers.servers:
            lines.append(f"server: {server.name} <- {_source_text(server, located)}")
        return lines, failures

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _source_text(server: ServerState, located: Located | None) -> str:
    words = SOURCE_WORDS.get(server.source, server.source)
    placement = next((p for p in (located.servers if located else ()) if p.url == server.url), None)
    if placement is not None and placement.record:
        words += f" {placement.record}"
    if server.address:
        words += f", dialled at {server.address}"
    return words


def _close_pools(servers: Sequence[ServerState]) -> None:
    for server in servers:
        server.drop_pools()
