"""What every settings section shares: frozen, unknown keys refused, problems by key.

A section's own checks that concern one key raise through :func:`refuse`, which lets
pydantic put the section's path in front, so ``login_attributes`` in ``[directory]``
comes out as ``directory.login_attributes`` with every other problem of the document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError
from pydantic_core import InitErrorDetails


class Section(BaseModel):
    """A TOML table: typed, frozen once validated, and no key it does not know."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


def refuse(
    section: object,
    keys: Mapping[str, str] | Mapping[tuple[int | str, ...], str],
    whole: Sequence[str] = (),
) -> None:
    """Raise the problems found in one section: ``keys`` by the key they name (a path
    such as ``(1, "name")`` for a table in an array), ``whole`` (joined, as before) on
    the section itself. Nothing found: return."""
    found: list[tuple[tuple[int | str, ...], str]] = [
        (key if isinstance(key, tuple) else (key,), text) for key, text in keys.items()
    ]
    if whole:
        found.append(((), "; ".join(whole)))
    if found:
        errors = [
            InitErrorDetails(
                type="value_error", loc=loc, input=section, ctx={"error": ValueError(text)}
            )
            for loc, text in found
        ]
        raise ValidationError.from_exception_data(type(section).__name__, errors)


def check_url_path(path: str) -> str:
    if not path.startswith("/") or any(c in path for c in "?# "):
        raise ValueError(f"expected an absolute URL path such as /auth, got {path!r}")
    return path


_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.;-]*$")


def _check_attribute_name(name: str) -> str:
    """The name goes into a search filter: no filter syntax may ride along."""
    if not _ATTRIBUTE_NAME.match(name):
        raise ValueError(f"expected an attribute name such as ipPhone, got {name!r}")
    return name


#: An LDAP attribute name (or OID), checked before it is put into any filter.
AttributeName = Annotated[str, AfterValidator(_check_attribute_name)]


@dataclass(frozen=True)
class Variants:
    """A table whose keys depend on one of them (``client_auth.mode``, ``directory.type``):
    one section model per value. Lets a key of another variant be refused by name, with
    the variant it belongs to (``bridge.config.problems``)."""

    key: str
    default: str
    models: Mapping[str, type[Section]]

    def tag(self, value: object) -> str:
        """Which model validates ``value``: its ``key``, or the default when absent."""
        if isinstance(value, Mapping):
            found = value.get(self.key, self.default)
        else:
            found = getattr(value, self.key, self.default)
        return found if isinstance(found, str) else repr(found)

    def owners(self, key: str) -> list[str]:
        """The variants that have ``key``."""
        return [tag for tag, model in self.models.items() if key in model.model_fields]
