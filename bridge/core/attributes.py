"""Reading an entry's attributes the way LDAP names them: case-insensitively.

Entries keep attribute names as the server spelled them (``ipPhone``, ``IPPHONE``), so
every reader in the bridge looks them up here: one place where ``displayName`` and
``displayname`` are the same attribute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")

#: An entry's attributes: name as the server spelled it -> values.
Attributes = Mapping[str, Sequence[str]]


def values(attributes: Mapping[str, Sequence[T]], name: str) -> tuple[T, ...]:
    """The values of attribute ``name``; empty when the entry has none."""
    wanted = name.lower()
    for key, found in attributes.items():
        if key.lower() == wanted:
            return tuple(found)
    return ()


def first_value(attributes: Mapping[str, Sequence[T]], name: str) -> T | None:
    found = values(attributes, name)
    return found[0] if found else None
