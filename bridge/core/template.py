"""The body Ringotel receives on success, rendered from ``[response].template``.

The template is JSON with ``$username$`` and ``$displayname$`` placeholders, the same
convention as Ringotel's ``response_map``: a one-element array whose element uses
``$username$`` repeats that element for each username; elsewhere ``$username$`` is the
first username. Rendering works on parsed JSON, so values are always escaped right.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

USERNAME = "$username$"
DISPLAY_NAME = "$displayname$"


class TemplateError(ValueError):
    """The response template cannot produce a usable answer."""


def parse_template(text: str) -> Any:
    """Parse and check a template; raise TemplateError saying what is wrong."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"not valid JSON: {exc}") from None
    if not isinstance(document, dict | list):
        raise TemplateError("must be a JSON object or array")
    if not _mentions(document, USERNAME):
        raise TemplateError("must contain $username$ somewhere, or Ringotel gets no username")
    return document


def _mentions(node: Any, placeholder: str) -> bool:
    if isinstance(node, str):
        return placeholder in node
    if isinstance(node, list):
        return any(_mentions(item, placeholder) for item in node)
    if isinstance(node, dict):
        return any(_mentions(k, placeholder) or _mentions(v, placeholder) for k, v in node.items())
    return False


@dataclass(frozen=True)
class Identity:
    """What a template may mention about an accepted user."""

    usernames: tuple[str, ...]
    display_name: str
    login: str = ""
    dn: str = ""


def render(template: Any, identity: Identity) -> Any:
    """Fill the template for one accepted user (``identity.usernames`` is never empty)."""
    return _render(template, identity, identity.usernames[0])


def _render(node: Any, identity: Identity, username: str) -> Any:
    if isinstance(node, str):
        return _fill(node, identity, username)
    if isinstance(node, dict):
        return {
            _fill(k, identity, username): _render(v, identity, username) for k, v in node.items()
        }
    if isinstance(node, list):
        if len(node) == 1 and _mentions(node[0], USERNAME):
            return [_render(node[0], identity, name) for name in identity.usernames]
        return [_render(item, identity, username) for item in node]
    return node


_PLACEHOLDER = re.compile(r"\$(username|displayname|login|dn)\$")


def _fill(text: str, identity: Identity, username: str) -> str:
    """One pass, so a value that itself contains ``$...$`` is never expanded again."""
    values = {
        "username": username,
        "displayname": identity.display_name,
        "login": identity.login,
        "dn": identity.dn,
    }
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
