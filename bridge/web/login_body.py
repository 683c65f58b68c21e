"""Ringotel's login body: JSON by default, form-encoded also accepted.

The body is read by :mod:`bridge.web.reading` under this endpoint's rules
(:data:`LOGIN_BODY`); every refusal is an :class:`InvalidRequest`, answered as
``{"error","detail"}`` by the error middleware.

Every string that leaves here is valid Unicode: JSON may spell a lone surrogate
(``"\\ud800"``) that no keyboard can type and no UTF-8 encoder can send on, so such a
body is malformed (400) before any lookup, never a 500 further down. Apart from NUL,
the characters of a password are not judged: it goes to the directory as typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web

from bridge.config import Settings
from bridge.core.errors import InvalidRequest
from bridge.web.reading import BodyFormat, Fault, UnreadableBody

__all__ = ["LOGIN_BODY", "LoginFields", "parse_fields", "read_fields"]

#: Stricter than the token endpoint's: a login body is exactly what Ringotel's
#: descriptor says, so anything ambiguous (a key given twice anywhere, a form field
#: without ``=``) is malformed rather than guessed at; ``+json`` types are JSON too.
LOGIN_BODY: Final = BodyFormat(
    json_suffix=True, strict_form=True, max_form_fields=None, unique_keys=True
)

_ERRORS: Final[Mapping[Fault, str]] = {
    "media_type": "unsupported_media_type",
    "too_large": "body_too_large",
    "too_slow": "request_timeout",
}


@dataclass(frozen=True)
class LoginFields:
    username: str
    password: str = field(repr=False)  # nothing may log it, not even by accident


async def read_fields(request: web.Request, settings: Settings) -> LoginFields:
    """The login fields of the request, within the server's size and time limits."""
    server = settings.server
    try:
        body = await LOGIN_BODY.read(request, server.max_body_size, server.request_deadline)
    except UnreadableBody as exc:
        raise _invalid(exc) from None
    return parse_fields(
        request.headers.get("Content-Type"),
        body,
        settings.request.username_field,
        settings.request.password_field,
        server.max_field_length,
    )


def parse_fields(
    content_type: str | None,
    body: bytes,
    username_field: str,
    password_field: str,
    max_length: int,
) -> LoginFields:
    """The two fields of a body already read; :class:`InvalidRequest` for anything else."""
    try:
        pairs = LOGIN_BODY.parse(content_type, body)
    except UnreadableBody as exc:
        raise _invalid(exc) from None
    document = dict(pairs)  # keys are unique: LOGIN_BODY refuses repeats
    return LoginFields(
        username=_field(document, username_field, max_length),
        password=_field(document, password_field, max_length),
    )


def _invalid(exc: UnreadableBody) -> InvalidRequest:
    return InvalidRequest(exc.status, _ERRORS.get(exc.fault, "malformed_body"), exc.detail)


def _field(document: Mapping[str, object], name: str, max_length: int) -> str:
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
