"""What Ringotel presents to the bridge in tests: Basic user and password, the OAuth2
client secret, a bearer token, signing keys.

Values only; the ``[client_auth]`` sections that carry them into a config document
are built in :mod:`tests.harness.configs`.
"""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

CLIENT_USER = "ringotel"
CLIENT_PASSWORD = "client-secret-for-tests-0123456789"
CLIENT_SECRET = "oauth-client-secret: test only, 0123456789!"
BEARER_TOKEN = "static-bearer-token-for-tests-0123456789"


def private_key_pem(algorithm: str) -> bytes:
    """A fresh private key for an asymmetric algorithm, as unencrypted PKCS#8 PEM."""
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if algorithm == "RS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def key_material(algorithm: str) -> bytes:
    if algorithm == "HS256":
        return secrets.token_urlsafe(48).encode()
    return private_key_pem(algorithm)
