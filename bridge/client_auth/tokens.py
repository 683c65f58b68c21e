"""OAuth2 access tokens: RFC 9068 JWTs that the bridge issues and later accepts.

The bridge is both the authorization server (``POST /oauth/token``) and the resource
server (``POST /auth``), so one :class:`TokenService` does both halves with the same
:class:`~bridge.client_auth.keys.KeySet`. Nothing here touches the network or a file:
the keys were read and vetted at start-up (:mod:`bridge.client_auth.keys`).

Verification is deliberately narrower than PyJWT's defaults (RFC 8725):

* the algorithm is pinned to the configured one, so ``alg: none`` and HS/RS key
  confusion are refused before any key is used;
* ``typ`` must be ``at+jwt`` (RFC 9068 §4), so an ID token or some other JWT signed
  with the same key cannot be replayed as an access token;
* the key is chosen by ``kid`` from our own set, never from the token;
* time claims are checked against the injected clock, not PyJWT's wall clock.

A token we do not accept is :class:`InvalidToken`; its ``reason`` is for the audit log
and never contains the token.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

import jwt

from bridge.client_auth.keys import KeySet, VerificationKey
from bridge.core.errors import BridgeError

__all__ = ["InvalidToken", "IssuedToken", "Rejection", "TokenService"]

#: Our tokens are a few hundred bytes; anything far larger is not ours and only costs CPU.
MAX_TOKEN_CHARS: Final = 8192

_TOKEN_TYPES: Final = frozenset({"at+jwt", "application/at+jwt"})
_REQUIRED_CLAIMS: Final = ("iss", "aud", "sub", "client_id", "iat", "exp", "jti")

#: Why a token was refused, for the audit log and metrics.
Rejection: TypeAlias = Literal[
    "malformed",
    "wrong_typ",
    "wrong_alg",
    "missing_kid",
    "unknown_kid",
    "bad_signature",
    "missing_claim",
    "wrong_audience",
    "wrong_issuer",
    "invalid_claim",
    "expired",
    "not_yet_valid",
]


class InvalidToken(BridgeError):
    """A presented token is not one we accept; ``reason`` is for the audit log only."""

    def __init__(self, reason: Rejection) -> None:
        self.reason: Rejection = reason
        super().__init__(f"invalid access token: {reason}")


@dataclass(frozen=True)
class IssuedToken:
    """The token endpoint's success body (RFC 6749 §5.1), minus the HTTP."""

    access_token: str = field(repr=False)
    expires_in: int
    token_type: str = "Bearer"


# ------------------------------------------------------------------------- tokens


def _random_jti() -> str:
    return secrets.token_urlsafe(16)


class TokenService:
    """Issues and verifies our access tokens; clock and jti source are injectable for tests."""

    def __init__(
        self,
        keys: KeySet,
        issuer: str,
        audience: str,
        ttl: float,
        leeway: float = 30,
        clock: Callable[[], float] = time.time,
        jti: Callable[[], str] = _random_jti,
    ) -> None:
        if not issuer or not audience:
            raise ValueError("issuer and audience must be non-empty")
        if ttl < 1:
            raise ValueError("ttl must be at least one second")
        if leeway < 0:
            raise ValueError("leeway must not be negative")
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._ttl = int(ttl)
        self._leeway = leeway
        self._clock = clock
        self._jti = jti

    def issue(self, client_id: str) -> IssuedToken:
        """Sign a token for an already authenticated client (RFC 9068 §2.2 claims)."""
        iat = int(self._clock())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": client_id,
            "client_id": client_id,
            "iat": iat,
            "exp": iat + self._ttl,
            "jti": self._jti(),
        }
        token = jwt.encode(
            claims,
            self._keys.signing_key,
            algorithm=self._keys.algorithm,
            headers={"typ": "at+jwt", "kid": self._keys.signing_kid},
        )
        return IssuedToken(access_token=token, expires_in=self._ttl)

    def verify(self, token: str) -> str:
        """The client id of a token we signed, for this audience, that is current."""
        header = self._check_header(token)
        payload = self._decode(token, self._keys.verification_keys[header["kid"]])
        self._check_claims(payload)
        client_id: str = payload["client_id"]
        return client_id

    def _check_header(self, token: str) -> dict[str, Any]:
        """Header checks come first so nothing unexpected reaches a key operation."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("malformed")
        if not token.isascii():
            raise InvalidToken("malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed") from None
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in _TOKEN_TYPES:
            raise InvalidToken("wrong_typ")
        if header.get("alg") != self._keys.algorithm:
            raise InvalidToken("wrong_alg")
        kid = header.get("kid")
        if kid is None:
            raise InvalidToken("missing_kid")
        if kid not in self._keys.verification_keys:
            raise InvalidToken("unknown_kid")
        return header

    def _decode(self, token: str, key: VerificationKey) -> dict[str, Any]:
        """Signature, iss and aud via PyJWT; its wall-clock checks are off (see below)."""
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[self._keys.algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": list(_REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(_reason(exc)) from None
        return payload

    def _check_claims(self, payload: Mapping[str, Any]) -> None:
        """Types and time windows, against our clock so tests and skewed hosts behave."""
        for name in ("sub", "client_id", "jti"):
            if not isinstance(payload[name], str) or not payload[name]:
                raise InvalidToken("invalid_claim")
        if payload["sub"] != payload["client_id"]:
            raise InvalidToken("invalid_claim")
        starts = [payload["iat"]]
        if "nbf" in payload:
            starts.append(payload["nbf"])
        if not all(_is_numeric_date(value) for value in [*starts, payload["exp"]]):
            raise InvalidToken("invalid_claim")
        now = self._clock()
        if payload["exp"] <= now - self._leeway:
            raise InvalidToken("expired")
        if max(starts) > now + self._leeway:
            raise InvalidToken("not_yet_valid")


def _is_numeric_date(value: object) -> bool:
    """RFC 7519 NumericDate: a finite JSON number (Python's json also reads NaN/Infinity,
    and bool is an int in Python but not in JSON)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def _reason(exc: jwt.PyJWTError) -> Rejection:
    """Map PyJWT's exception classes to audit reasons; most specific first."""
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad_signature"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "wrong_alg"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return "missing_claim"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "wrong_audience"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "wrong_issuer"
    if isinstance(exc, jwt.DecodeError):
        return "malformed"
    return "invalid_claim"
