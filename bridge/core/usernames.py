"""Directory attributes become Ringotel usernames.

Values keep the directory's own spelling (never the typed login's), go through the
configured transforms, and come out de-duplicated in a stable order: rule order
first, then the order the directory returned the values in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bridge.core.attributes import values as attribute_values

TRANSFORMS: Mapping[str, Callable[[str], str]] = {
    "lowercase": str.lower,
    "uppercase": str.upper,
    "strip": str.strip,
    "strip_domain": lambda v: v.rpartition("\\")[2].partition("@")[0],
    "digits_only": lambda v: "".join(c for c in v if c in "0123456789"),
}


@dataclass(frozen=True)
class Rule:
    """One attribute and what to do with its values."""

    attribute: str
    transforms: tuple[str, ...] = ()
    multi_valued: bool = True


def build_usernames(
    attributes: Mapping[str, Sequence[str]], rules: Sequence[Rule]
) -> tuple[str, ...]:
    """Collect usernames; attribute names compare case-insensitively, as in LDAP."""
    return tuple(username_sources(attributes, rules))


def username_sources(
    attributes: Mapping[str, Sequence[str]], rules: Sequence[Rule]
) -> dict[str, tuple[str, ...]]:
    """Each username (in order) with the directory values it was made from.

    The duplicate check searches the directory for those values as stored: a
    transformed username (``digits_only``, ``strip_domain``) is not what any entry holds.
    """
    found: dict[str, dict[str, None]] = {}
    for rule in rules:
        values = attribute_values(attributes, rule.attribute)
        if not rule.multi_valued:
            values = values[:1]
        for raw in values:
            value = raw
            for transform in rule.transforms:
                value = TRANSFORMS[transform](value)
            value = value.strip()
            if value:
                found.setdefault(value, {})[raw] = None
    return {value: tuple(raws) for value, raws in found.items()}
