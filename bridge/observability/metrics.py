"""Prometheus metrics. One registry per process, so counters survive config reloads.

Every metric name here is part of the contract with ``deploy/prometheus/alerts.yml``
and ``deploy/grafana/ringotel-bridge.json``; a test checks they agree.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

PREFIX = "ringotel_bridge"
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

__all__ = ["CONTENT_TYPE", "Metrics"]


class Metrics:
    """The bridge's metrics, registered on a private registry."""

    def __init__(self, version: str = "0") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.logins = Counter(
            f"{PREFIX}_logins",
            "Login attempts by outcome and reason",
            ["outcome", "reason"],
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
            ["server", "operation", "result"],
            buckets=_LATENCY,
            registry=r,
        )
        self.server_up = Gauge(
            f"{PREFIX}_directory_server_up",
            "1 when the directory server last answered",
            ["server"],
            registry=r,
        )
        self.group_cache = Counter(
            f"{PREFIX}_group_cache_requests", "Group cache lookups", ["result"], registry=r
        )
        self.pool_in_use = Gauge(
            f"{PREFIX}_directory_connections_in_use",
            "Directory connections lent out",
            ["server"],
            registry=r,
        )
        self.throttled = Counter(
            f"{PREFIX}_throttled_logins",
            "Logins refused without asking the directory",
            ["reason"],
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
        self.reloads = Counter(
            f"{PREFIX}_config_reloads", "Configuration reloads by result", ["result"], registry=r
        )
        self.info = Gauge(f"{PREFIX}_build_info", "Build information", ["version"], registry=r)
        self.info.labels(version=version).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
