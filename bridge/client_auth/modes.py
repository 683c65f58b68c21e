"""Ringotel proving who it is: Basic, Bearer, or a token from our own token endpoint.

Exactly the configured mode is accepted. Secrets are compared in constant time, and
every configured secret is compared (rotation: several may be valid at once) so the
time taken does not say which one matched. Failures carry the ``WWW-Authenticate``
value the HTTP layer must send (RFC 7617, RFC 6750 section 3).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

REALM = "ringotel-bridge"
#: Token failures that are Ringotel's normal life, not somebody guessing.
NOT_GUESSES = frozenset({"expired", "not_yet_valid"})


class ClientAuthFailed(Exception):
    """Missing or wrong client credentials: 401 with ``www_authenticate``.

    ``reason`` is a short label (metrics, log), ``detail`` the token verifier's finer
    reason, and ``guess`` whether it counts against the source address's failure
    budget: credentials that were presented and wrong count; a missing header, or a
    token of ours that merely expired (Ringotel then fetches a new one), do not.
    """

    def __init__(
        self, reason: str, www_authenticate: str, detail: str = "", guess: bool = True
    ) -> None:
        self.reason = reason
        self.www_authenticate = www_authenticate
        self.detail = detail
        self.guess = guess
        super().__init__(f"{reason}: {detail}" if detail else reason)


class TokenVerifier(Protocol):
    def verify_client(self, token: str) -> str:
        """Return the client id the token was issued to, or raise ValueError(reason)."""
        ...


def constant_time_in(candidate: bytes, secrets: Sequence[bytes]) -> bool:
    """True if ``candidate`` equals any secret; compares against all of them."""
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(candidate, secret)
    return matched


def _scheme(header: str | None, expected: str) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != expected.lower():
        return None
    return value.strip()


@dataclass(frozen=True)
class BasicAuth:
    username: bytes
    passwords: tuple[bytes, ...]
    mode: str = "basic"

    def authenticate(self, header: str | None) -> str:
        challenge = f'Basic realm="{REALM}", charset="UTF-8"'
        value = _scheme(header, "Basic")
        if value is None:
            raise ClientAuthFailed("missing", challenge, guess=False)
        try:
            user, sep, password = base64.b64decode(value, validate=True).partition(b":")
        except (binascii.Error, ValueError):
            raise ClientAuthFailed("malformed", challenge) from None
        user_ok = hmac.compare_digest(user, self.username)
        password_ok = constant_time_in(password, self.passwords)
        if not (sep and user_ok and password_ok):
            raise ClientAuthFailed("wrong_credentials", challenge)
        return user.decode("utf-8", "replace")


@dataclass(frozen=True)
class BearerAuth:
    tokens: tuple[bytes, ...]
    client_id: str
    mode: str = "bearer"

    def authenticate(self, header: str | None) -> str:
        value = _scheme(header, "Bearer")
        if not value:
            raise ClientAuthFailed("missing", f'Bearer realm="{REALM}"', guess=False)
        if not constant_time_in(value.encode("utf-8", "surrogateescape"), self.tokens):
            raise ClientAuthFailed("wrong_token", f'Bearer realm="{REALM}", error="invalid_token"')
        return self.client_id


@dataclass(frozen=True)
class OAuth2Auth:
    verifier: TokenVerifier
    mode: str = "oauth2"

    def authenticate(self, header: str | None) -> str:
        value = _scheme(header, "Bearer")
        if not value:
            raise ClientAuthFailed("missing", f'Bearer realm="{REALM}"', guess=False)
        try:
            return self.verifier.verify_client(value)
        except ValueError as exc:
            raise ClientAuthFailed(
                "invalid_token",
                f'Bearer realm="{REALM}", error="invalid_token", '
                'error_description="the access token is invalid or expired"',
                detail=str(exc),
                guess=str(exc) not in NOT_GUESSES,
            ) from None


ClientAuthenticator = BasicAuth | BearerAuth | OAuth2Auth
