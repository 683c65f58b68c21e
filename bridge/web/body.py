"""Reading Ringotel's login body: JSON by default, form-encoded also accepted.

Anything else is refused with a short JSON error; nothing here ever raises anything
but InvalidRequest for a bad body.

Every string that leaves here is valid Unicode: JSON may spell a lone surrogate
(``"\\ud800"``) that no keyboard can type and no UTF-8 encoder can send on, so such a
body is malformed (400) before any lookup, never a 500 further down. Apart from NUL,
the characters of a password are not judged: it goes to the directory as typed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from bridge.core.errors import InvalidRequest

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class LoginFields:
    username: str
    password: str


async def read_body(request: web.Request, max_size: int) -> tuple[str, bytes]:
    """The media type and the raw body, refusing oversized bodies before reading them."""
    media_type = request.content_type.lower()
    if media_type not in (JSON, FORM) and not media_type.endswith("+json"):
        raise InvalidRequest(415, "unsupported_media_type", f"send {JSON} or {FORM}")
    if request.content_length is not None and request.content_length > max_size:
        raise InvalidRequest(413, "body_too_large", f"at most {max_size} bytes")
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(max_size + 1 - size):
        # one read(n) may return less than was sent (chunked bodies): read to EOF
        chunks.append(chunk)
        size += len(chunk)
        if size > max_size:
            raise InvalidRequest(413, "body_too_large", f"at most {max_size} bytes")
    return media_type, b"".join(chunks)


def parse_fields(
    media_type: str, body: bytes, username_field: str, password_field: str, max_length: int
) -> LoginFields:
    document = _parse(media_type, body)
    return LoginFields(
        username=_field(document, username_field, max_length),
        password=_field(document, password_field, max_length),
    )


def _parse(media_type: str, body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(400, "malformed_body", "the body is not UTF-8") from None
    if media_type == FORM:
        try:
            pairs = parse_qsl(
                text, keep_blank_values=True, strict_parsing=bool(text), errors="strict"
            )
        except (ValueError, UnicodeDecodeError):
            raise InvalidRequest(400, "malformed_body", "not a valid form body") from None
        document: dict[str, Any] = {}
        for key, value in pairs:
            if key in document:
                raise InvalidRequest(400, "malformed_body", f"field {key!r} given twice")
            document[key] = value
        return document
    try:
        parsed = json.loads(text, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError):
        raise InvalidRequest(400, "malformed_body", "not valid JSON") from None
    if not isinstance(parsed, dict):
        raise InvalidRequest(400, "malformed_body", "expected a JSON object")
    return parsed


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"duplicate key {key!r}")
        document[key] = value
    return document


def _field(document: dict[str, Any], name: str, max_length: int) -> str:
    if name not in document:
        raise InvalidRequest(400, "missing_field", f"{name!r} is required")
    value = document[name]
    if not isinstance(value, str):
        raise InvalidRequest(400, "invalid_field", f"{name!r} must be a string")
    if "\x00" in value:
        raise InvalidRequest(400, "invalid_field", f"{name!r} contains a NUL byte")
    if not _is_unicode(value):
        raise InvalidRequest(400, "invalid_field", f"{name!r} is not valid Unicode")
    if len(value) > max_length:
        raise InvalidRequest(413, "field_too_long", f"{name!r} is longer than {max_length}")
    return value


def _is_unicode(value: str) -> bool:
    """False for a string holding a lone surrogate: it has no UTF-8 form to send on."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
