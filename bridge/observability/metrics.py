"""Prometheus metrics. One registry per process, so counters survive config reloads.

Every metric name here is part of the contract with ``deploy/prometheus/alerts.yml``
and ``deploy/grafana/ringotel-bridge.json``; a test checks they agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PREFIX = "ringotel_bridge"
#: The classic text format ``generate_latest`` writes; every Prometheus 2.x and 3.x parses
#: it (prometheus-client's CONTENT_TYPE_LATEST now says version=1.0.0 for the same bytes).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

__all__ = ["CONTENT_TYPE", "CacheStats", "GroupCacheCollector", "Metrics"]


class CacheStats(Protocol):
    """What the group cache counts; ``bridge.core.groups.GroupCache`` has both."""

    @property
    def hits(self) -> int: ...

    @property
    def misses(self) -> int: ...


class GroupCacheCollector(Collector):
    """Group cache hits and misses as true counters, read at scrape time.

    The cache counts with plain ints (it lives on the event loop and knows nothing of
    Prometheus). A reload may replace it with a fresh one; the counts of the caches it
    replaced are kept, so the exported counters never go backwards.
    """

    def __init__(self) -> None:
        self._current: CacheStats | None = None
        self._retired_hits = 0
        self._retired_misses = 0

    def track(self, cache: CacheStats) -> None:
        if cache is self._current:
            return
        if self._current is not None:
            self._retired_hits += self._current.hits
            self._retired_misses += self._current.misses
        self._current = cache

    def collect(self) -> Iterator[Metric]:
        hits, misses = self._retired_hits, self._retired_misses
        if self._current is not None:
            hits += self._current.hits
            misses += self._current.misses
        yield CounterMetricFamily(f"{PREFIX}_group_cache_hits", "Group cache hits", value=hits)
        yield CounterMetricFamily(
            f"{PREFIX}_group_cache_misses", "Group cache misses (directory lookups)", value=misses
        )


class GuardStats(Protocol):
    """What the guard's memory counts (``bridge.guard.MemoryStore`` has both)."""

    def __len__(self) -> int: ...

    @property
    def untracked(self) -> int: ...


class GuardCollector(Collector):
    """The lockout guard's memory, read at scrape time: how full it is, and how many
    new logins it could not track because spent budgets filled it (never evicted)."""

    def __init__(self) -> None:
        self.store: GuardStats | None = None

    def collect(self) -> Iterator[Metric]:
        store = self.store
        yield GaugeMetricFamily(
            f"{PREFIX}_guard_entries",
            "Entries in the lockout guard's memory",
            len(store) if store is not None else 0,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_guard_untracked",
            "New logins not tracked because spent failure budgets filled the guard",
            value=store.untracked if store is not None else 0,
        )
        up = getattr(store, "up", True)  # a shared store that does not answer: 0
        yield GaugeMetricFamily(
            f"{PREFIX}_guard_store_up",
            "1 while the guard's store answers (the in-memory one always does)",
            int(bool(up)),
        )


class Children:
    """A metric's labelled children, looked up once each: prometheus-client's
    ``labels()`` takes a lock and builds a tuple on every call, several times per
    login. For label sets that are few and never removed (endpoints, statuses,
    reasons, servers' operations)."""

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *labels: str) -> Any:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._metric.labels(*labels)
        return child


class Metrics:
    """The bridge's metrics, registered on a private registry."""

    def __init__(self, version: str = "0") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.logins = Counter(
            f"{PREFIX}_logins",
            "Login attempts by outcome, reason and directory (empty: refused before routing)",
            ["outcome", "reason", "directory"],
            registry=r,
        )
        self.request_latency = Histogram(
            f"{PREFIX}_request_duration_seconds",
            "HTTP request latency",
            ["endpoint"],
            buckets=_LATENCY,
            registry=r,
        )
        self.responses = Counter(
            f"{PREFIX}_http_responses",
            "HTTP responses by endpoint and status",
            ["endpoint", "status"],
            registry=r,
        )
        self.directory_latency = Histogram(
            f"{PREFIX}_directory_operation_duration_seconds",
            "Directory operation latency",
            ["directory", "server", "operation", "result"],
            buckets=_LATENCY,
            registry=r,
        )
        self.server_up = Gauge(
            f"{PREFIX}_directory_server_up",
            "1 when the directory server last answered",
            ["directory", "server"],
            registry=r,
        )
        self.server_discovered = Gauge(
            f"{PREFIX}_directory_server_discovered",
            "Directory servers in the failover list, by where each came from "
            "(srv_site, srv_domain: DNS; url: configured)",
            ["directory", "server", "source"],
            registry=r,
        )
        self.discovery_failures = Counter(
            f"{PREFIX}_directory_discovery_failures",
            "DNS re-resolutions of the domain controllers that failed (the last good list "
            "was kept)",
            ["directory"],
            registry=r,
        )
        self.group_cache = GroupCacheCollector()
        r.register(self.group_cache)
        self.guard = GuardCollector()
        r.register(self.guard)
        self.pool_in_use = Gauge(
            f"{PREFIX}_directory_connections_in_use",
            "Directory connections lent out",
            ["directory", "server"],
            registry=r,
        )
        self.throttled = Counter(
            f"{PREFIX}_throttled_logins",
            "Logins refused without asking the directory",
            ["reason"],
            registry=r,
        )
        self.usernames_dropped = Counter(
            f"{PREFIX}_usernames_dropped",
            "Usernames withheld because the entry logging in does not hold them alone",
            ["reason"],
            registry=r,
        )
        self.password_expiring = Counter(
            f"{PREFIX}_password_expiring_logins",
            "Accepted logins whose password expires within [directory] password_expiry_warning",
            registry=r,
        )
        self.tokens = Counter(
            f"{PREFIX}_token_requests", "OAuth2 token requests by outcome", ["outcome"], registry=r
        )
        self.client_auth_failures = Counter(
            f"{PREFIX}_client_auth_failures",
            "Requests refused for Ringotel's own credentials",
            ["mode", "reason"],
            registry=r,
        )
        self.connections_open = Gauge(
            f"{PREFIX}_connections_open",
            "HTTP connections open, by listener (main: Ringotel-facing, ops)",
            ["listener"],
            registry=r,
        )
        self.connections_dropped = Counter(
            f"{PREFIX}_connections_dropped",
            "Connections the bridge closed to bound them: refused over a cap when accepted "
            "(per_client_limit, max_connections) or headers not in by the deadline",
            ["listener", "reason"],
            registry=r,
        )
        self.reloads = Counter(
            f"{PREFIX}_config_reloads", "Configuration reloads by result", ["result"], registry=r
        )
        self.info = Gauge(f"{PREFIX}_build_info", "Build information", ["version"], registry=r)
        # the per-request series, looked up once per label set
        self.logins_of = Children(self.logins)
        self.responses_of = Children(self.responses)
        self.request_latency_of = Children(self.request_latency)
        self.directory_latency_of = Children(self.directory_latency)
        self.info.labels(version=version).set(1)

    def forget_servers(self, keep: Iterable[tuple[str, str]]) -> None:
        """Drop the series of (directory, server) pairs a reload removed from the config."""
        wanted = set(keep)
        for gauge in (self.server_up, self.pool_in_use):
            for labels in _label_sets(gauge, ("directory", "server")):
                if labels not in wanted:
                    gauge.remove(*labels)

    def set_discovered(self, servers: Iterable[tuple[str, str, str]]) -> None:
        """The failover lists of the moment as (directory, server, source); set at
        scrape time, so a DC that left DNS leaves the series too."""
        self.server_discovered.clear()
        for directory, server, source in servers:
            self.server_discovered.labels(directory, server, source).set(1)

    def set_pool_in_use(self, in_use: Iterable[tuple[str, str, int]]) -> None:
        """Connections lent out right now, per directory and server; set at scrape time."""
        self.pool_in_use.clear()
        for directory, server, count in in_use:
            self.pool_in_use.labels(directory, server).set(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _label_sets(gauge: Gauge, labels: tuple[str, str]) -> set[tuple[str, str]]:
    return {
        (sample.labels[labels[0]], sample.labels[labels[1]])
        for family in gauge.collect()
        for sample in family.samples
        if all(label in sample.labels for label in labels)
    }
