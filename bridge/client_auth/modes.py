"""Ringotel proving who it is on ``/auth``: Basic, Bearer, or a token from our own
token endpoint.

Exactly the configured mode is accepted. Header parsing and the constant-time
comparison against every configured secret (rotation: several may be valid at once)
are :mod:`bridge.client_auth.credentials`'. Failures carry the ``WWW-Authenticate``
value the HTTP layer must send (RFC 7617, RFC 6750 section 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, Protocol, TypeAlias

from bridge.client_auth.credentials import (
    MalformedBasic,
    basic_user_pass,
    credentials_for,
    matches_any,
)
from bridge.client_auth.tokens import InvalidToken, Rejection

__all__ = [
    "BasicAuth",
    "BearerAuth",
    "ClientAuthFailed",
    "ClientAuthenticator",
    "FailureReason",
    "OAuth2Auth",
    "TokenVerifier",
]

REALM: Final = "ringotel-bridge"
#: Token refusals that are Ringotel's normal life (it then fetches a new token), not
#: somebody guessing.
_NOT_GUESSES: Final[frozenset[Rejection]] = frozenset({"expired", "not_yet_valid"})

#: A short label for metrics and the log.
FailureReason: TypeAlias = Literal[
    "missing", "malformed", "wrong_credentials", "wrong_token", "invalid_token"
]


class ClientAuthFailed(Exception):
    """Missing or wrong client credentials: 401 with ``www_authenticate``.

    ``detail`` is the token verifier's finer reason (oauth2 mode only), and ``guess``
    whether it counts against the source address's failure budget: credentials that
    were presented and wrong count; a missing header, or a token of ours that merely
    expired, do not.
    """

    def __init__(
        self,
        reason: FailureReason,
        www_authenticate: str,
        detail: Rejection | None = None,
        guess: bool = True,
    ) -> None:
        self.reason: FailureReason = reason
        self.www_authenticate = www_authenticate
        self.detail: Rejection | None = detail
        self.guess = guess
        super().__init__(f"{reason}: {detail}" if detail else reason)


class TokenVerifier(Protocol):
    """What OAuth2 mode needs of :class:`~bridge.client_auth.tokens.TokenService`."""

    def verify(self, token: str) -> str:
        """The client id the token was issued to, or :class:`InvalidToken`."""
        ...


@dataclass(frozen=True)
class BasicAuth:
    username: bytes
    passwords: tuple[bytes, ...]
    mode: Literal["basic"] = "basic"

    def authenticate(self, header: str | None) -> str:
        challenge = f'Basic realm="{REALM}", charset="UTF-8"'
        credentials = credentials_for(header, "Basic")
        if credentials is None:
            raise ClientAuthFailed("missing", challenge, guess=False)
        try:
            user, password = basic_user_pass(credentials)
        except MalformedBasic as exc:
            reason: FailureReason = (
                "malformed" if exc.reason == "not_base64" else "wrong_credentials"
            )
            raise ClientAuthFailed(reason, challenge) from None
        user_ok = matches_any(user, (self.username,))
        password_ok = matches_any(password, self.passwords)
        if not (user_ok and password_ok):
            raise ClientAuthFailed("wrong_credentials", challenge)
        return user.decode("utf-8", "replace")


@dataclass(frozen=True)
class BearerAuth:
    tokens: tuple[bytes, ...]
    client_id: str
    mode: Literal["bearer"] = "bearer"

    def authenticate(self, header: str | None) -> str:
        token = credentials_for(header, "Bearer")
        if not token:
            raise ClientAuthFailed("missing", f'Bearer realm="{REALM}"', guess=False)
        if not matches_any(token.encode("utf-8", "surrogateescape"), self.tokens):
            raise ClientAuthFailed("wrong_token", f'Bearer realm="{REALM}", error="invalid_token"')
        return self.client_id


@dataclass(frozen=True)
class OAuth2Auth:
    verifier: TokenVerifier
    mode: Literal["oauth2"] = "oauth2"

    def authenticate(self, header: str | None) -> str:
        token = credentials_for(header, "Bearer")
        if not token:
            raise ClientAuthFailed("missing", f'Bearer realm="{REALM}"', guess=False)
        try:
            return self.verifier.verify(token)
        except InvalidToken as exc:
            raise ClientAuthFailed(
                "invalid_token",
                f'Bearer realm="{REALM}", error="invalid_token", '
                'error_description="the access token is invalid or expired"',
                detail=exc.reason,
                guess=exc.reason not in _NOT_GUESSES,
            ) from None


ClientAuthenticator: TypeAlias = BasicAuth | BearerAuth | OAuth2Auth
