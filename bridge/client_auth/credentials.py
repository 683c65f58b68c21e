"""Credentials in an ``Authorization`` header, and checking them against known secrets.

Pure: no aiohttp, no I/O. The ``/auth`` header modes (:mod:`bridge.client_auth.modes`)
and the token endpoint (:mod:`bridge.client_auth.token_endpoint`) read headers and
compare secrets through these functions; each words a failure its own way (a 401 with
its challenge for ``/auth``, RFC 6749 §5.2 ``invalid_client`` for the token endpoint).

Secrets are compared as SHA-256 digests, every known one every time, so the time taken
reveals neither a prefix, nor a length, nor which of several secrets matched (several
are valid at once while one is being rotated).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable
from typing import Literal

__all__ = ["MalformedBasic", "basic_user_pass", "credentials_for", "matches_any"]


class MalformedBasic(Exception):
    """Basic credentials that are not ``base64(user-id ":" password)`` (RFC 7617 §2).

    ``reason`` tells the two cases apart because ``/auth`` counts them differently in
    its metrics: undecodable base64 is ``malformed``, a missing colon a wrong guess.
    """

    def __init__(self, reason: Literal["not_base64", "no_colon"]) -> None:
        self.reason: Literal["not_base64", "no_colon"] = reason
        super().__init__(reason)


def credentials_for(header: str | None, scheme: str) -> str | None:
    """What follows ``scheme`` in the header (compared case-insensitively, RFC 9110
    §11.1), stripped; None when the header is absent or names another scheme."""
    if not header:
        return None
    name, _, value = header.strip().partition(" ")
    if name.lower() != scheme.lower():
        return None
    return value.strip()


def basic_user_pass(credentials: str) -> tuple[bytes, bytes]:
    """The user-id and password of Basic ``credentials``, as the bytes that were sent.

    Bytes, not text: ``/auth`` compares them with the configured bytes as they are,
    while the token endpoint decodes them further (RFC 6749 §2.3.1).
    """
    try:
        decoded = base64.b64decode(credentials, validate=True)
    except (binascii.Error, ValueError):  # ValueError: a non-ASCII character
        raise MalformedBasic("not_base64") from None
    user, colon, password = decoded.partition(b":")
    if not colon:
        raise MalformedBasic("no_colon")
    return user, password


def matches_any(candidate: bytes, known: Iterable[bytes]) -> bool:
    """True if ``candidate`` equals any of ``known``; every one is compared, always."""
    presented = hashlib.sha256(candidate).digest()
    matched = False
    for secret in known:
        matched |= hmac.compare_digest(presented, hashlib.sha256(secret).digest())
    return matched
