"""One ``/metrics`` for N worker processes: their expositions, summed.

Each worker keeps its own registry (its custom collectors, such as the group cache and
the guard, cannot live in prometheus-client's multiprocess files), and the supervisor
asks every worker and adds the samples up: counters, histogram buckets, sums and
counts, and gauges that count things (connections in use, guard entries) all sum. A
few gauges are states, not amounts: for those the highest value wins (a directory
server is up if any worker reaches it; the build info is the same everywhere).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

#: Gauges that are states: the maximum over workers, not the sum.
STATES = frozenset(
    {
        "ringotel_bridge_directory_server_up",
        "ringotel_bridge_directory_server_discovered",
        "ringotel_bridge_build_info",
    }
)


@dataclass
class _Family:
    kind: str
    documentation: str
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)


def merge(expositions: Iterable[str]) -> str:
    """The text exposition of all workers together."""
    families: dict[str, _Family] = {}
    for text in expositions:
        for parsed in text_string_to_metric_families(text):
            family = families.setdefault(parsed.name, _Family(parsed.type, parsed.documentation))
            for sample in parsed.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if parsed.name in STATES:
                    family.samples[key] = max(family.samples.get(key, sample.value), sample.value)
                else:
                    family.samples[key] = family.samples.get(key, 0.0) + sample.value
    return "".join(_render(name, family) for name, family in families.items())


def _render(name: str, family: _Family) -> str:
    lines = [f"# HELP {name} {_escape_help(family.documentation)}", f"# TYPE {name} {family.kind}"]
    for (sample, labels), value in family.samples.items():
        rendered = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels)
        lines.append(
            f"{sample}{{{rendered}}} {_number(value)}" if labels else f"{sample} {_number(value)}"
        )
    return "\n".join(lines) + "\n"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))
