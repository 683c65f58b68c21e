"""Signing keys for our access tokens: loaded and vetted once, at start-up.

The key file signs and verifies; verification-only files keep an old key valid during
a rotation until every token it signed has expired. Each key is checked against the
configured algorithm before it can sign anything (RFC 8725 §3.1: no algorithm/key
confusion), and gets a ``kid`` derived from the key itself, so a token names the key
that verifies it without revealing anything about a secret.

:class:`KeyMaterialError` is a configuration problem; its message names the file.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, TypeAlias, TypeGuard, get_args

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from bridge.core.errors import BridgeError

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "Algorithm",
    "KeyMaterialError",
    "KeySet",
    "load_signing_material",
]

#: The JWT algorithms we sign with; the config's ``client_auth.signing_algorithm`` is
#: this type, so the two cannot drift apart.
Algorithm: TypeAlias = Literal["HS256", "RS256", "ES256", "EdDSA"]
SUPPORTED_ALGORITHMS: Final[tuple[Algorithm, ...]] = get_args(Algorithm)

#: RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
MIN_HMAC_SECRET_BYTES: Final = 32
#: NIST SP 800-131A; PyJWT only warns below this, we refuse.
MIN_RSA_BITS: Final = 2048

_KID_LABEL: Final = b"ringotel-bridge/jwt-kid/v1"

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
#: An HS256 secret or an asymmetric private key.
SigningKey: TypeAlias = bytes | PrivateKey
#: An HS256 secret or an asymmetric public key.
VerificationKey: TypeAlias = bytes | PublicKey


class KeyMaterialError(BridgeError):
    """A key file is missing, unreadable, or not suitable for the configured algorithm."""


@dataclass(frozen=True)
class KeySet:
    """Signing key plus every key that may still verify (rotation), indexed by ``kid``."""

    algorithm: Algorithm
    signing_kid: str
    signing_key: SigningKey = field(repr=False)
    verification_keys: Mapping[str, VerificationKey] = field(repr=False)


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
    if not _supported(algorithm):  # typed, but the caller's value is checked all the same
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


def _supported(algorithm: str) -> TypeGuard[Algorithm]:
    return algorithm in SUPPORTED_ALGORITHMS


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
