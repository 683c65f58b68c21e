"""OAuth2 access tokens: RFC 9068 JWTs that the bridge issues and later accepts.

The bridge is both the authorization server (``POST /oauth/token``) and the resource
server (``POST /auth``), so one :class:`TokenService` does both halves with the same
:class:`KeySet`. Nothing here touches the network; the only I/O is reading key files
once, in :func:`load_signing_material`, and the service does not even do that: it
passes the bytes that config loading read and checked (``Secrets.key_bytes``).

Verification is deliberately narrower than PyJWT's defaults (RFC 8725):

* the algorithm is pinned to the configured one, so ``alg: none`` and HS/RS key
  confusion are refused before any key is used;
* ``typ`` must be ``at+jwt`` (RFC 9068 §4), so an ID token or some other JWT signed
  with the same key cannot be replayed as an access token;
* the key is chosen by ``kid`` from our own set, never from the token;
* time claims are checked against the injected clock, not PyJWT's wall clock.

Errors: :class:`KeyMaterialError` at start-up (a configuration problem, message names
the file), :class:`InvalidToken` per request (``reason`` is a short machine string for
the audit log; the token itself is never part of it).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeAlias

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from bridge.core.errors import BridgeError

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "InvalidToken",
    "IssuedToken",
    "KeyMaterialError",
    "KeySet",
    "TokenClaims",
    "TokenService",
    "load_signing_material",
]

SUPPORTED_ALGORITHMS: Final = ("HS256", "RS256", "ES256", "EdDSA")

#: RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
MIN_HMAC_SECRET_BYTES: Final = 32
#: NIST SP 800-131A; PyJWT only warns below this, we refuse.
MIN_RSA_BITS: Final = 2048
#: Our tokens are a few hundred bytes; anything far larger is not ours and only costs CPU.
MAX_TOKEN_CHARS: Final = 8192

_TOKEN_TYPES: Final = frozenset({"at+jwt", "application/at+jwt"})
_REQUIRED_CLAIMS: Final = ("iss", "aud", "sub", "client_id", "iat", "exp", "jti")
_KID_LABEL: Final = b"ringotel-bridge/jwt-kid/v1"

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
#: An HS256 secret or an asymmetric private key.
SigningKey: TypeAlias = bytes | PrivateKey
#: An HS256 secret or an asymmetric public key.
VerificationKey: TypeAlias = bytes | PublicKey


class KeyMaterialError(BridgeError):
    """A key file is missing, unreadable, or not suitable for the configured algorithm."""


class InvalidToken(BridgeError):
    """A presented token is not one we accept; ``reason`` is for the audit log only."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invalid access token: {reason}")


@dataclass(frozen=True)
class KeySet:
    """Signing key plus every key that may still verify (rotation), indexed by ``kid``."""

    algorithm: str
    signing_kid: str
    signing_key: SigningKey = field(repr=False)
    verification_keys: Mapping[str, VerificationKey] = field(repr=False)

    @property
    def kids(self) -> frozenset[str]:
        """Key ids accepted on verification; safe to log, they reveal nothing secret."""
        return frozenset(self.verification_keys)


@dataclass(frozen=True)
class IssuedToken:
    """The token endpoint's success body (RFC 6749 §5.1), minus the HTTP."""

    access_token: str = field(repr=False)
    expires_in: int
    token_type: str = "Bearer"


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token tells the resource server; enough for the audit log."""

    client_id: str
    subject: str
    jti: str
    issued_at: float
    expires_at: float
    kid: str


# --------------------------------------------------------------------------- keys


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyMaterialError(f"{path}: cannot read key file: {exc.strerror or exc}") from exc


def load_signing_material(
    algorithm: str,
    key_file: Path,
    verification_key_files: Sequence[Path] = (),
    read: Callable[[Path], bytes] = _read,
) -> KeySet:
    """Vet the keys once at start-up, so a bad key fails the config check.

    ``key_file`` signs and verifies. ``verification_key_files`` only verify: during a
    rotation the old key stays here until every token it signed has expired. For the
    asymmetric algorithms those files may hold a public or a private key. ``read``
    gives a file's bytes: the service passes the bytes config loading already read and
    checked (bridge.config.secret_files), so no file is opened a second time.
    """
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise KeyMaterialError(
            f"unsupported JWT algorithm {algorithm!r}; use one of {', '.join(SUPPORTED_ALGORITHMS)}"
        )
    signing_key, verification_key = _load_signing_key(algorithm, key_file, read(key_file))
    signing_kid = _kid(verification_key)
    keys: dict[str, VerificationKey] = {signing_kid: verification_key}
    for path in verification_key_files:
        extra = _load_verification_key(algorithm, path, read(path))
        keys.setdefault(_kid(extra), extra)
    return KeySet(algorithm, signing_kid, signing_key, keys)


def _load_signing_key(
    algorithm: str, path: Path, data: bytes
) -> tuple[SigningKey, VerificationKey]:
    if algorithm == "HS256":
        secret = _hmac_secret(path, data)
        return secret, secret
    private = _private_key(algorithm, path, data)
    return private, private.public_key()


def _load_verification_key(algorithm: str, path: Path, data: bytes) -> VerificationKey:
    if algorithm == "HS256":
        return _hmac_secret(path, data)
    if b"PRIVATE KEY-----" in data:
        return _private_key(algorithm, path, data).public_key()
    return _public_key(algorithm, path, data)


def _hmac_secret(path: Path, secret: bytes) -> bytes:
    """The file's bytes minus one trailing newline, which editors and ``echo`` add."""
    if secret.endswith(b"\r\n"):
        secret = secret[:-2]
    elif secret.endswith(b"\n"):
        secret = secret[:-1]
    if len(secret) < MIN_HMAC_SECRET_BYTES:
        raise KeyMaterialError(
            f"{path}: HS256 secret is {len(secret)} bytes, needs at least "
            f"{MIN_HMAC_SECRET_BYTES} (e.g. `openssl rand -base64 48 > {path.name}`)"
        )
    if b"-----BEGIN" in secret or secret.startswith(b"ssh-"):
        # PyJWT refuses these as HMAC keys too; an asymmetric key here is a mix-up.
        raise KeyMaterialError(f"{path}: looks like a PEM/SSH key, not an HS256 secret")
    return secret


def _private_key(algorithm: str, path: Path, data: bytes) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyMaterialError(
            f"{path}: not an unencrypted PEM private key usable for {algorithm}"
        ) from exc
    if not isinstance(key, PrivateKey):
        raise KeyMaterialError(f"{path}: {_describe(key)} cannot sign {algorithm}")
    _check_key_type(algorithm, path, key.public_key())
    return key


def _public_key(algorithm: str, path: Path, data: bytes) -> PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyMaterialError(f"{path}: not a PEM public or private key") from exc
    if not isinstance(key, PublicKey):
        raise KeyMaterialError(f"{path}: {_describe(key)} cannot verify {algorithm}")
    _check_key_type(algorithm, path, key)
    return key


def _check_key_type(algorithm: str, path: Path, key: PublicKey) -> None:
    """Refuse a key that does not belong to the algorithm, before it can sign anything."""
    if algorithm == "RS256":
        if not isinstance(key, rsa.RSAPublicKey):
            raise KeyMaterialError(f"{path}: RS256 needs an RSA key, got {_describe(key)}")
        if key.key_size < MIN_RSA_BITS:
            raise KeyMaterialError(
                f"{path}: RSA key has {key.key_size} bits, RS256 needs at least {MIN_RSA_BITS}"
            )
    elif algorithm == "ES256":
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise KeyMaterialError(f"{path}: ES256 needs a P-256 key, got {_describe(key)}")
    elif not isinstance(key, ed25519.Ed25519PublicKey):
        raise KeyMaterialError(f"{path}: EdDSA needs an Ed25519 key, got {_describe(key)}")


def _describe(key: object) -> str:
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return f"an RSA-{key.key_size} key"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return f"an EC key on {key.curve.name}"
    return f"a {type(key).__name__.removeprefix('_')}"


def _kid(key: VerificationKey) -> str:
    """A stable id for a key that says nothing about a secret.

    Public keys: SHA-256 of the DER SubjectPublicKeyInfo. HMAC secrets: an HMAC of a
    fixed label under the secret, so the kid is a one-way function keyed by the secret.
    """
    if isinstance(key, bytes):
        digest = hmac.new(key, _KID_LABEL, hashlib.sha256).hexdigest()
    else:
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        digest = hashlib.sha256(der).hexdigest()
    return digest[:16]


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

    def verify(self, token: str) -> TokenClaims:
        """Accept a token only if we signed it, for this audience, and it is current."""
        header = self._check_header(token)
        kid: str = header["kid"]
        payload = self._decode(token, self._keys.verification_keys[kid])
        self._check_claims(payload)
        return TokenClaims(
            client_id=payload["client_id"],
            subject=payload["sub"],
            jti=payload["jti"],
            issued_at=payload["iat"],
            expires_at=payload["exp"],
            kid=kid,
        )

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


def _reason(exc: jwt.PyJWTError) -> str:
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
