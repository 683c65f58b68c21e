"""The shipped Prometheus rules and Grafana dashboard only use metrics the bridge exports.

A renamed metric silently turns an alert into one that never fires and a panel into
"No data"; this catches it at test time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from bridge.observability.metrics import Metrics

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "ringotel-bridge.json"

#: Series Prometheus itself makes for every target; not ours to export.
PROMETHEUS_BUILTINS = frozenset({"up"})

#: The suffixes a sample may carry, and the metric types that carry them.
SUFFIXES = {
    "_bucket": {"histogram"},
    "_sum": {"histogram", "summary"},
    "_count": {"histogram", "summary"},
    "_total": {"counter"},
}

PROMQL_WORDS = frozenset(
    [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "and",
        "or",
        "unless",
        "bool",
        "inf",
        "nan",
    ]
)


def metric_names(expr: str) -> set[str]:
    """Identifiers that are series selectors: not functions, keywords, labels or strings."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors and [$__rate_interval]
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\boffset\s+\w+", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w$.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        name, call = match.groups()
        if call or name.lower() in PROMQL_WORDS:
            continue
        names.add(name)
    return names


def test_metric_name_extraction() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, server) (rate(x_seconds_bucket{a="b(c)"}[5m])))'
        " > 3 * sum without (instance) (y_total offset 1d) and on (instance) up == 0"
    )
    assert metric_names(expr) == {"x_seconds_bucket", "y_total", "up"}


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_exprs() -> Iterator[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield target["expr"]
    for variable in dashboard["templating"]["list"]:
        yield variable["definition"].removeprefix("label_values(").split(",")[0]


# -- what the bridge exports -------------------------------------------------------------
def exported_families() -> dict[str, str]:
    """Family name -> type, with every labelled metric touched once so it is listed."""
    metrics = Metrics()
    for metric in vars(metrics).values():
        if isinstance(metric, MetricWrapperBase) and metric._labelnames:
            metric.labels(*["probe"] * len(metric._labelnames))
    return {family.name: family.type for family in metrics.registry.collect()}


def family_of(name: str, families: dict[str, str]) -> str | None:
    """The exported family a sample name belongs to, with its suffix checked."""
    if name in families and families[name] in ("gauge", "unknown"):
        return name
    for suffix, types in SUFFIXES.items():
        base = name.removesuffix(suffix)
        if base != name and families.get(base) in types:
            return base
    return None


def test_family_of_strips_suffixes_by_type() -> None:
    families = {"h_seconds": "histogram", "c": "counter", "g": "gauge"}
    assert family_of("h_seconds_bucket", families) == "h_seconds"
    assert family_of("h_seconds_count", families) == "h_seconds"
    assert family_of("c_total", families) == "c"
    assert family_of("g", families) == "g"
    assert family_of("c", families) is None  # a counter is exposed only as c_total
    assert family_of("g_total", families) is None
    assert family_of("c_bucket", families) is None


def test_alerts_file_has_the_prometheus_rule_file_structure() -> None:
    document = yaml.safe_load(ALERTS.read_text())
    assert set(document) == {"groups"}
    names = set()
    for group in document["groups"]:
        assert set(group) <= {"name", "interval", "limit", "rules"}
        assert group["name"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
            assert rule["alert"] not in names
            names.add(rule["alert"])
            assert isinstance(rule["expr"], str)
            assert rule["expr"].strip()
            assert rule["expr"].count("(") == rule["expr"].count(")")
            assert rule.get("for") is None or re.fullmatch(r"\d+[smhd]", rule["for"])
            assert rule["labels"]["severity"] in {"critical", "warning", "info"}
            assert rule["annotations"]["summary"]
    wanted = {
        "directory down": "RingotelBridgeDirectoryDown",
        "denial-rate spike": "RingotelBridgeDenialRateSpike",
        "throttling": "RingotelBridgeThrottling",
        "token failures": "RingotelBridgeTokenFailures",
        "readiness": "RingotelBridgeDown",
    }
    assert set(wanted.values()) <= names


def test_dashboard_is_an_importable_grafana_dashboard() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"
    assert dashboard["title"]
    assert dashboard["uid"]
    assert dashboard["schemaVersion"] >= 30
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    titles = " | ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("outcome", "denial", "p50", "p99", "directory latency", "servers up"):
        assert topic in titles
    for topic in ("cache hit ratio", "throttled", "token"):
        assert topic in titles


@pytest.mark.parametrize(
    "source", ["alerts", "dashboard"], ids=["prometheus-alerts", "grafana-dashboard"]
)
def test_every_referenced_metric_is_exported(source: str) -> None:
    exprs = [rule["expr"] for rule in alert_rules()] if source == "alerts" else dashboard_exprs()
    referenced = set().union(*(metric_names(expr) for expr in exprs))
    assert referenced, "no metric names found: the extraction is broken"
    families = exported_families()
    unknown = {
        name for name in referenced - PROMETHEUS_BUILTINS if family_of(name, families) is None
    }
    assert not unknown, f"{source} uses metrics the bridge does not export: {sorted(unknown)}"


def test_assets_cover_every_operator_facing_metric() -> None:
    """The reverse direction: a metric nobody charts or alerts on is probably forgotten."""
    exprs = [rule["expr"] for rule in alert_rules()] + list(dashboard_exprs())
    families = exported_families()
    used = {family_of(name, families) for expr in exprs for name in metric_names(expr)}
    not_shown = set(families) - used - {"ringotel_bridge_http_responses"}
    assert not not_shown, f"exported but in no alert or panel: {sorted(not_shown)}"
