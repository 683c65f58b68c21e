"""Reading a request body, for ``/auth`` and the token endpoint alike.

The media type is judged from the header before a byte is read; the body is read up to
a size limit (a declared Content-Length is checked first, a chunked body piece by
piece) and within the request deadline (a client trickling its body must not hold a
slot forever); then it is parsed as JSON or as a form into ordered pairs, as text
that must be UTF-8.

Both endpoints refuse a body for the same reasons, :class:`UnreadableBody` with a
``fault``, and word the answer their own way: ``/auth`` as ``{"error","detail"}``,
the token endpoint as RFC 6749 §5.2. What each accepts differs on purpose, and is
spelled out in its :class:`BodyFormat`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias
from urllib.parse import parse_qsl

from aiohttp import web

__all__ = [
    "FORM",
    "JSON",
    "BodyFormat",
    "Fault",
    "Pairs",
    "UnreadableBody",
]

JSON: Final = "application/json"
FORM: Final = "application/x-www-form-urlencoded"

Fault: TypeAlias = Literal[
    "media_type",
    "too_large",
    "too_slow",
    "not_utf8",
    "not_json",
    "not_object",
    "not_form",
    "repeated_key",
]
#: Every key of the body in order, repeats included; JSON values as parsed (a nested
#: object is a list of pairs too).
Pairs: TypeAlias = list[tuple[str, object]]

_STATUS: Final[Mapping[Fault, int]] = {"media_type": 415, "too_large": 413, "too_slow": 408}


class UnreadableBody(Exception):
    """A body that cannot be read; ``detail`` is safe to send (it never echoes input)."""

    def __init__(self, fault: Fault, detail: str) -> None:
        self.fault: Fault = fault
        self.detail = detail
        super().__init__(f"{fault}: {detail}")

    @property
    def status(self) -> int:
        """The HTTP status for the fault: 415, 413, 408, else 400."""
        return _STATUS.get(self.fault, 400)


@dataclass(frozen=True)
class BodyFormat:
    """What one endpoint accepts.

    ``json_suffix``: also read ``application/*+json`` as JSON. ``strict_form``: refuse a
    form with an empty field or one without ``=`` (``a&&b``, ``=x``, ``a``), instead of
    skipping or keeping it. ``max_form_fields``: refuse a form with more fields.
    ``unique_keys``: refuse a key given twice, at any depth of a JSON document, instead
    of handing every pair on for the endpoint to judge.
    """

    json_suffix: bool
    strict_form: bool
    max_form_fields: int | None
    unique_keys: bool

    async def read(self, request: web.Request, max_size: int, deadline: float) -> bytes:
        """The whole body, once its media type is known to be acceptable (nothing is
        read for a body we would refuse), at most ``max_size`` bytes, within
        ``deadline`` seconds; for :meth:`parse`."""
        self._is_json(request.headers.get("Content-Type"))
        if request.content.is_eof():  # all of it arrived with the headers: nothing to wait for
            return _take_buffered(request, max_size)
        try:
            async with asyncio.timeout(deadline):
                return await _read_limited(request, max_size)
        except TimeoutError:
            raise UnreadableBody("too_slow", "the body did not arrive in time") from None

    def parse(self, content_type: str | None, body: bytes) -> Pairs:
        """The body's pairs, or :class:`UnreadableBody`."""
        return self._pairs(self._is_json(content_type), body)

    def _is_json(self, content_type: str | None) -> bool:
        """Media type parameters (``charset``) are ignored: bodies are always UTF-8."""
        media_type = (content_type or "").split(";", 1)[0].strip().lower()
        if media_type == JSON or (self.json_suffix and media_type.endswith("+json")):
            return True
        if media_type == FORM:
            return False
        raise UnreadableBody("media_type", f"the body must be {JSON} or {FORM}")

    def _pairs(self, is_json: bool, body: bytes) -> Pairs:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise UnreadableBody("not_utf8", "the body is not valid UTF-8") from None
        return self._json_pairs(text) if is_json else self._form_pairs(text)

    def _json_pairs(self, text: str) -> Pairs:
        try:
            document = json.loads(text, object_pairs_hook=self._object)
        except (ValueError, RecursionError):
            raise UnreadableBody("not_json", "the body is not valid JSON") from None
        if not isinstance(document, _Object):
            raise UnreadableBody("not_object", "the JSON body must be an object")
        return list(document)

    def _object(self, pairs: list[tuple[str, Any]]) -> _Object:
        self._check_unique(pairs)
        return _Object(pairs)

    def _form_pairs(self, text: str) -> Pairs:
        try:
            pairs = parse_qsl(
                text,
                keep_blank_values=True,
                strict_parsing=self.strict_form and bool(text),
                encoding="utf-8",
                errors="strict",
                max_num_fields=self.max_form_fields,
            )
        except ValueError:  # also a bad %-escape (UnicodeDecodeError), too many fields
            raise UnreadableBody("not_form", "the body is not a valid form") from None
        self._check_unique(pairs)
        return list(pairs)

    def _check_unique(self, pairs: Sequence[tuple[str, object]]) -> None:
        if self.unique_keys and len({key for key, _ in pairs}) != len(pairs):
            raise UnreadableBody("repeated_key", "a key is given twice")


class _Object(list[tuple[str, Any]]):
    """A JSON object as its pairs, so a repeated key is seen rather than lost."""


async def _read_limited(request: web.Request, max_size: int) -> bytes:
    if request.content_length is not None and request.content_length > max_size:
        raise _too_large(max_size)
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(max_size + 1 - size):
        # one read(n) may return less than was sent (chunked bodies): read to EOF
        chunks.append(chunk)
        size += len(chunk)
        if size > max_size:
            raise _too_large(max_size)
    return b"".join(chunks)


def _take_buffered(request: web.Request, max_size: int) -> bytes:
    """The body a small request carried in its first packets, already buffered."""
    if request.content_length is not None and request.content_length > max_size:
        raise _too_large(max_size)
    body = request.content.read_nowait(max_size + 1)
    if len(body) > max_size:
        raise _too_large(max_size)
    return body


def _too_large(max_size: int) -> UnreadableBody:
    return UnreadableBody("too_large", f"the body is larger than {max_size} bytes")
