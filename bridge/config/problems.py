"""pydantic's validation errors as :class:`~bridge.core.errors.Problem` s, by dotted key.

Besides spelling locations as ``directory.urls[1]``, this is where a key of another
mode or type gets its message: pydantic only knows the key is not in the model it
chose, while the administrator needs to hear that ``token_file`` belongs to
``mode = "bearer"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from bridge.config.client_auth import CLIENT_AUTH_MODES
from bridge.config.directories import NAMED_DIRECTORY_TYPES
from bridge.config.directory import DIRECTORY_TYPES
from bridge.config.section import Variants
from bridge.core.errors import Problem

#: The sections whose keys depend on one of them, by their key in the document.
VARIANT_SECTIONS: Mapping[str, Variants] = {
    "client_auth": CLIENT_AUTH_MODES,
    "directory": DIRECTORY_TYPES,
    #: an array of tables: each ``directories[N]`` is one of these
    "directories": NAMED_DIRECTORY_TYPES,
}
#: pydantic's names for the steps inside a type, which are no part of a key.
_INTERNAL = ("function-", "tagged-union", "is-instance")
_INTERNAL_NAMES = frozenset({"list[str]", "tuple[str, ...]"})


def problems_from(exc: ValidationError) -> list[Problem]:
    return [_problem(error) for error in exc.errors(include_url=False)]


def _problem(error: Any) -> Problem:
    loc = _without_tags(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = _foreign_key(loc)
    elif error["type"] == "missing":
        message = "required key is missing"
    elif error["type"] == "union_tag_invalid" and (variants := _variants_at(loc)):
        loc = (*loc, variants.key)
        message = f"expected {_either(list(variants.models))}, got {error['ctx']['tag']!r}"
    return Problem(_dotted(loc), message)


def _variants_at(loc: Sequence[int | str]) -> Variants | None:
    """The variants of the section named last in ``loc`` (``directories[0]`` too)."""
    names = [part for part in loc if isinstance(part, str)]
    return VARIANT_SECTIONS.get(names[-1]) if names else None


def _without_tags(loc: Sequence[int | str]) -> tuple[int | str, ...]:
    """Drop the variant pydantic names after a section (``client_auth.basic.x``)."""
    kept: list[int | str] = []
    for part in loc:
        section = _section_at(kept)
        if section is not None and part in VARIANT_SECTIONS[section].models:
            continue
        kept.append(part)
    return tuple(kept)


def _section_at(kept: Sequence[int | str]) -> str | None:
    """The variant section ``kept`` ends in: ``directory``, or ``directories`` and an index."""
    if kept and isinstance(kept[-1], int):
        kept = kept[:-1]
    last = kept[-1] if kept else None
    return last if isinstance(last, str) and last in VARIANT_SECTIONS else None


def _foreign_key(loc: Sequence[int | str]) -> str:
    """``only for mode "bearer"`` for a key of another variant; else unknown."""
    section = _section_at(loc[:-1])
    if section is not None and len(loc) <= 3:
        variants = VARIANT_SECTIONS[section]
        owners = variants.owners(str(loc[-1]))
        if owners:
            return f"only for {variants.key} {_either(owners)}"
    return "unknown key"


def _either(tags: Sequence[str]) -> str:
    quoted = [f'"{tag}"' for tag in tags]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _dotted(loc: Sequence[int | str]) -> str:
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        elif part.startswith(_INTERNAL) or part in _INTERNAL_NAMES:
            continue
        else:
            key += f".{part}" if key else part
    return key
