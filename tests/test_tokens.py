"""RFC 9068 access tokens: round trips, key rotation, and the attacks verify must refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st

from bridge.client_auth.keys import (
    SUPPORTED_ALGORITHMS,
    KeyMaterialError,
    KeySet,
    load_signing_material,
)
from bridge.client_auth.tokens import InvalidToken, TokenService
from bridge.config import OAuth2Settings
from tests.harness.clock import FakeClock

ISSUER = "https://bridge.corp.example"
AUDIENCE = "https://bridge.corp.example/auth"
T0 = 1_700_000_000.0
TTL = 3600
LEEWAY = 30
ALGORITHMS = ["HS256", "RS256", "ES256", "EdDSA"]


def _pem(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _public_pem(key: Any) -> bytes:
    return bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _new_private_key(algorithm: str) -> Any:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


_counter = iter(range(1_000_000))


def write_key(directory: Path, algorithm: str) -> Path:
    """A fresh key file for the algorithm, as an administrator would create it."""
    path = directory / f"key-{algorithm}-{next(_counter)}"
    if algorithm == "HS256":
        path.write_bytes(base64.b64encode(hashlib.sha256(path.name.encode()).digest()) + b"\n")
    else:
        path.write_bytes(_pem(_new_private_key(algorithm)))
    return path


def _shared_keys() -> KeySet:
    """For hypothesis, which cannot use function-scoped fixtures."""
    with tempfile.TemporaryDirectory() as directory:
        return load_signing_material("HS256", write_key(Path(directory), "HS256"))


_SHARED_KEYS = _shared_keys()


def service(keys: KeySet, clock: Callable[[], float] | None = None, **kwargs: Any) -> TokenService:
    options: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "ttl": TTL}
    options.update(kwargs)
    return TokenService(keys, leeway=LEEWAY, clock=clock or FakeClock(T0), **options)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: object) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    pad = "=" * (-len(payload) % 4)
    return (
        json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))),
        json.loads(base64.urlsafe_b64decode(payload + pad)),
    )


def reason(svc: TokenService, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        svc.verify(token)
    return caught.value.reason


@pytest.fixture
def hs_key(tmp_path: Path) -> Path:
    return write_key(tmp_path, "HS256")


@pytest.fixture
def hs_keys(hs_key: Path) -> KeySet:
    return load_signing_material("HS256", hs_key)


def hs_sign(hs_key: Path, keys: KeySet, claims: dict[str, Any], **header: Any) -> str:
    """Sign arbitrary claims with the service's own HS256 secret, as only an insider could."""
    secret = hs_key.read_bytes().rstrip(b"\n")
    headers = {"typ": "at+jwt", "kid": keys.signing_kid, **header}
    return jwt.encode(claims, secret, algorithm="HS256", headers=headers)


def good_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "ringotel",
        "client_id": "ringotel",
        "iat": int(T0),
        "exp": int(T0) + TTL,
        "jti": "abc",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_issue_then_verify_round_trip(tmp_path: Path, algorithm: str) -> None:
    keys = load_signing_material(algorithm, write_key(tmp_path, algorithm))
    svc = service(keys, jti=lambda: "jti-1")

    issued = svc.issue("ringotel")

    assert svc.verify(issued.access_token) == "ringotel"
    assert issued.expires_in == TTL
    assert issued.token_type == "Bearer"
    header, claims = segments(issued.access_token)
    assert claims["jti"] == "jti-1"
    assert (claims["iat"], claims["exp"]) == (int(T0), int(T0) + TTL)
    assert header["kid"] == keys.signing_kid


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_token_carries_rfc9068_header_and_claims(tmp_path: Path, algorithm: str) -> None:
    keys = load_signing_material(algorithm, write_key(tmp_path, algorithm))
    header, payload = segments(service(keys).issue("ringotel").access_token)

    assert header == {"alg": algorithm, "typ": "at+jwt", "kid": keys.signing_kid}
    assert set(payload) == {"iss", "aud", "sub", "client_id", "iat", "exp", "jti"}
    assert payload["iss"] == ISSUER
    assert payload["aud"] == AUDIENCE
    assert payload["sub"] == payload["client_id"] == "ringotel"
    assert payload["exp"] - payload["iat"] == TTL


def test_every_token_gets_a_fresh_jti(hs_keys: KeySet) -> None:
    svc = service(hs_keys)
    jtis = {segments(svc.issue("ringotel").access_token)[1]["jti"] for _ in range(20)}
    assert len(jtis) == 20


def test_issued_token_and_keyset_reprs_hide_secrets(hs_key: Path, hs_keys: KeySet) -> None:
    issued = service(hs_keys).issue("ringotel")
    secret = hs_key.read_bytes().rstrip(b"\n")
    assert issued.access_token not in repr(issued)
    assert repr(secret) not in repr(hs_keys)
    assert secret.decode() not in repr(hs_keys)


def test_invalid_token_message_does_not_contain_the_token(hs_keys: KeySet) -> None:
    token = service(hs_keys).issue("ringotel").access_token
    later = service(hs_keys, clock=FakeClock(T0 + 10 * TTL))
    with pytest.raises(InvalidToken) as caught:
        later.verify(token)
    assert caught.value.reason == "expired"
    assert token not in str(caught.value)
    assert token.split(".")[2] not in str(caught.value)


# ------------------------------------------------------------------------ kids


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_kid_is_stable_and_distinct_per_key(tmp_path: Path, algorithm: str) -> None:
    one = write_key(tmp_path, algorithm)
    other = write_key(tmp_path, algorithm)
    first = load_signing_material(algorithm, one).signing_kid
    assert load_signing_material(algorithm, one).signing_kid == first
    assert load_signing_material(algorithm, other).signing_kid != first
    assert len(first) == 16
    int(first, 16)  # hex


def test_hmac_kid_does_not_reveal_the_secret(hs_key: Path, hs_keys: KeySet) -> None:
    secret = hs_key.read_bytes().rstrip(b"\n")
    assert hs_keys.signing_kid not in secret.decode()
    assert hs_keys.signing_kid != hashlib.sha256(secret).hexdigest()[:16]


def test_hmac_secret_loses_exactly_one_trailing_newline(tmp_path: Path) -> None:
    secret = b"x" * 40
    plain, newline, crlf, two = (tmp_path / n for n in ("plain", "newline", "crlf", "two"))
    plain.write_bytes(secret)
    newline.write_bytes(secret + b"\n")
    crlf.write_bytes(secret + b"\r\n")
    two.write_bytes(secret + b"\n\n")
    kid = load_signing_material("HS256", plain).signing_kid
    assert load_signing_material("HS256", newline).signing_kid == kid
    assert load_signing_material("HS256", crlf).signing_kid == kid
    assert load_signing_material("HS256", two).signing_kid != kid


# -------------------------------------------------------------------- rotation


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_rotation_old_key_verifies_new_key_signs(tmp_path: Path, algorithm: str) -> None:
    old_file, new_file = write_key(tmp_path, algorithm), write_key(tmp_path, algorithm)
    old_keys = load_signing_material(algorithm, old_file)
    old_token = service(old_keys).issue("ringotel").access_token

    rotated = load_signing_material(algorithm, new_file, [old_file])
    svc = service(rotated)

    assert set(rotated.verification_keys) == {old_keys.signing_kid, rotated.signing_kid}
    assert svc.verify(old_token) == "ringotel"
    new_token = svc.issue("ringotel").access_token
    assert segments(new_token)[0]["kid"] == rotated.signing_kid != old_keys.signing_kid
    assert svc.verify(new_token) == "ringotel"
    # Once the old key is dropped from the config, its tokens are refused.
    assert reason(service(load_signing_material(algorithm, new_file)), old_token) == "unknown_kid"


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_rotation_accepts_a_public_key_file(tmp_path: Path, algorithm: str) -> None:
    old_private = _new_private_key(algorithm)
    old_file = tmp_path / "old.pem"
    old_file.write_bytes(_pem(old_private))
    old_public = tmp_path / "old.pub.pem"
    old_public.write_bytes(_public_pem(old_private))
    old_token = service(load_signing_material(algorithm, old_file)).issue("ringotel").access_token

    rotated = load_signing_material(algorithm, write_key(tmp_path, algorithm), [old_public])

    assert service(rotated).verify(old_token) == "ringotel"


def test_rotation_file_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match="ES256 needs a P-256 key"):
        load_signing_material("ES256", write_key(tmp_path, "ES256"), [write_key(tmp_path, "EdDSA")])


# --------------------------------------------------------------------- attacks


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_alg_none_is_refused(tmp_path: Path, algorithm: str, alg: str) -> None:
    keys = load_signing_material(algorithm, write_key(tmp_path, algorithm))
    header = {"alg": alg, "typ": "at+jwt", "kid": keys.signing_kid}
    token = f"{b64url_json(header)}.{b64url_json(good_claims())}."
    assert reason(service(keys), token) == "wrong_alg"


def test_hs256_signed_with_the_rsa_public_key_is_refused(tmp_path: Path) -> None:
    """The classic key confusion: the public PEM used as an HMAC secret."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "rsa.pem"
    key_file.write_bytes(_pem(private))
    keys = load_signing_material("RS256", key_file)
    svc = service(keys)
    public_pem = _public_pem(private)

    for alg in ("HS256", "RS256"):  # the header lies or tells the truth: both fail
        header = {"alg": alg, "typ": "at+jwt", "kid": keys.signing_kid}
        signing_input = f"{b64url_json(header)}.{b64url_json(good_claims())}"
        mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{b64url(mac)}"
        assert reason(svc, token) == ("wrong_alg" if alg == "HS256" else "bad_signature")


def test_token_from_another_algorithm_is_refused(tmp_path: Path) -> None:
    es_token = service(load_signing_material("ES256", write_key(tmp_path, "ES256"))).issue("x")
    rs = service(load_signing_material("RS256", write_key(tmp_path, "RS256")))
    assert reason(rs, es_token.access_token) == "wrong_alg"


def test_expired_token_is_refused(hs_keys: KeySet) -> None:
    token = service(hs_keys).issue("ringotel").access_token
    clock = FakeClock(T0 + TTL + LEEWAY)
    assert reason(service(hs_keys, clock=clock), token) == "expired"
    clock.now += 10_000
    assert reason(service(hs_keys, clock=clock), token) == "expired"


def test_expiry_leeway_is_honoured(hs_keys: KeySet) -> None:
    token = service(hs_keys).issue("ringotel").access_token
    just_inside = service(hs_keys, clock=FakeClock(T0 + TTL + LEEWAY - 1))
    assert just_inside.verify(token) == "ringotel"


def test_token_from_the_future_is_refused(hs_keys: KeySet) -> None:
    token = service(hs_keys, clock=FakeClock(T0 + LEEWAY + 1)).issue("ringotel").access_token
    assert reason(service(hs_keys), token) == "not_yet_valid"


def test_small_clock_skew_is_within_leeway(hs_keys: KeySet) -> None:
    token = service(hs_keys, clock=FakeClock(T0 + LEEWAY)).issue("ringotel").access_token
    assert service(hs_keys).verify(token) == "ringotel"


def test_nbf_in_the_future_is_refused(hs_key: Path, hs_keys: KeySet) -> None:
    svc = service(hs_keys)
    early = hs_sign(hs_key, hs_keys, good_claims(nbf=int(T0) + LEEWAY + 5))
    assert reason(svc, early) == "not_yet_valid"
    fine = hs_sign(hs_key, hs_keys, good_claims(nbf=int(T0) + LEEWAY - 5))
    assert svc.verify(fine) == "ringotel"


def test_wrong_audience_is_refused(hs_keys: KeySet) -> None:
    token = service(hs_keys, audience="https://other.example").issue("ringotel").access_token
    assert reason(service(hs_keys), token) == "wrong_audience"


def test_wrong_issuer_is_refused(hs_keys: KeySet) -> None:
    token = service(hs_keys, issuer="https://evil.example").issue("ringotel").access_token
    assert reason(service(hs_keys), token) == "wrong_issuer"


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+JWT+x", "", None, 7])
def test_wrong_typ_is_refused(hs_key: Path, hs_keys: KeySet, typ: object) -> None:
    """An ID token or any other JWT signed by the same key is not an access token."""
    token = hs_sign(hs_key, hs_keys, good_claims(), typ=typ)
    if typ is None:  # PyJWT leaves typ out when it is None
        assert "typ" not in segments(token)[0]
    assert reason(service(hs_keys), token) == "wrong_typ"


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"])
def test_typ_variants_are_accepted(hs_key: Path, hs_keys: KeySet, typ: str) -> None:
    token = hs_sign(hs_key, hs_keys, good_claims(), typ=typ)
    assert service(hs_keys).verify(token) == "ringotel"


def test_missing_kid_is_refused(hs_key: Path, hs_keys: KeySet) -> None:
    secret = hs_key.read_bytes().rstrip(b"\n")
    token = jwt.encode(good_claims(), secret, algorithm="HS256", headers={"typ": "at+jwt"})
    assert reason(service(hs_keys), token) == "missing_kid"


def test_unknown_kid_is_refused(hs_key: Path, hs_keys: KeySet) -> None:
    token = hs_sign(hs_key, hs_keys, good_claims(), kid="0123456789abcdef")
    assert reason(service(hs_keys), token) == "unknown_kid"


def test_non_string_kid_is_refused(hs_key: Path, hs_keys: KeySet) -> None:
    header = {"alg": "HS256", "typ": "at+jwt", "kid": ["x"]}
    token = f"{b64url_json(header)}.{b64url_json(good_claims())}.c2ln"
    assert reason(service(hs_keys), token) == "malformed"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tampered_payload_is_refused(tmp_path: Path, algorithm: str) -> None:
    keys = load_signing_material(algorithm, write_key(tmp_path, algorithm))
    svc = service(keys)
    header, _, signature = svc.issue("ringotel").access_token.split(".")
    forged = f"{header}.{b64url_json(good_claims(sub='admin', client_id='admin'))}.{signature}"
    assert reason(svc, forged) == "bad_signature"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tampered_signature_is_refused(tmp_path: Path, algorithm: str) -> None:
    keys = load_signing_material(algorithm, write_key(tmp_path, algorithm))
    svc = service(keys)
    header, payload, signature = svc.issue("ringotel").access_token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    assert reason(svc, f"{header}.{payload}.{b64url(bytes(raw))}") == "bad_signature"


def test_token_signed_by_a_stranger_with_our_kid_is_refused(tmp_path: Path) -> None:
    ours = load_signing_material("ES256", write_key(tmp_path, "ES256"))
    theirs_file = write_key(tmp_path, "ES256")
    stranger = service(load_signing_material("ES256", theirs_file))
    _header, payload, signature = stranger.issue("ringotel").access_token.split(".")
    relabelled = {"alg": "ES256", "typ": "at+jwt", "kid": ours.signing_kid}
    assert reason(service(ours), f"{b64url_json(relabelled)}.{payload}.{signature}") == (
        "bad_signature"
    )


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c",
        "...",
        "a.b.c.d.e",
        "ey.ey.ey",
        "Bearer abc",
        "\x00",
        "é.é.é",
        "x" * 10_000,
        f"{b64url(b'[1,2]')}.{b64url_json({})}.",
        f"{b64url(b'not json')}.{b64url_json({})}.",
        f"{b64url_json({'alg': 'HS256', 'typ': 'at+jwt'})}!.e30.",
    ],
)
def test_garbage_is_malformed(hs_keys: KeySet, token: str) -> None:
    assert reason(service(hs_keys), token) == "malformed"


@given(
    st.one_of(
        st.text(max_size=300),
        st.builds(
            lambda parts: ".".join(parts),
            st.lists(st.text("abcxyzABCXYZ0189-_=", max_size=40), min_size=2, max_size=4),
        ),
    )
)
def test_verify_raises_only_invalid_token(token: str) -> None:
    with pytest.raises(InvalidToken):
        service(_SHARED_KEYS).verify(token)


@pytest.mark.parametrize("missing", ["iss", "aud", "sub", "client_id", "iat", "exp", "jti"])
def test_missing_required_claim_is_refused(hs_key: Path, hs_keys: KeySet, missing: str) -> None:
    claims = good_claims()
    del claims[missing]
    assert reason(service(hs_keys), hs_sign(hs_key, hs_keys, claims)) == "missing_claim"


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": "tomorrow"},
        {"exp": True},
        {"iat": [1]},
        {"nbf": "soon"},
        {"sub": "someone-else"},
        {"client_id": 5},
        {"jti": 5},
        {"sub": ""},
    ],
)
def test_ill_typed_claims_are_refused(
    hs_key: Path, hs_keys: KeySet, overrides: dict[str, Any]
) -> None:
    token = hs_sign(hs_key, hs_keys, good_claims(**overrides))
    assert reason(service(hs_keys), token) == "invalid_claim"


def test_infinite_expiry_is_refused(hs_key: Path, hs_keys: KeySet) -> None:
    header = b64url_json({"alg": "HS256", "typ": "at+jwt", "kid": hs_keys.signing_kid})
    payload = json.dumps(good_claims()).replace(str(int(T0) + TTL), "Infinity")
    signing_input = f"{header}.{b64url(payload.encode())}"
    secret = hs_key.read_bytes().rstrip(b"\n")
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    assert reason(service(hs_keys), f"{signing_input}.{b64url(mac)}") == "invalid_claim"


def test_audience_list_containing_ours_is_accepted(hs_key: Path, hs_keys: KeySet) -> None:
    """RFC 7519 §4.1.3: aud may be an array; one of its values must be ours."""
    token = hs_sign(hs_key, hs_keys, good_claims(aud=["https://x.example", AUDIENCE]))
    assert service(hs_keys).verify(token) == "ringotel"
    other = hs_sign(hs_key, hs_keys, good_claims(aud=["https://x.example"]))
    assert reason(service(hs_keys), other) == "wrong_audience"


# ---------------------------------------------------------------- key material


def test_short_hmac_secret_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "short"
    path.write_bytes(b"s3cret-but-only-31-bytes-long!!\n")
    with pytest.raises(KeyMaterialError, match="31 bytes, needs at least 32") as caught:
        load_signing_material("HS256", path)
    assert "s3cret" not in str(caught.value)


def test_exactly_32_byte_secret_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "ok"
    path.write_bytes(b"k" * 32)
    keys = load_signing_material("HS256", path)
    assert service(keys).verify(service(keys).issue("c").access_token) == "c"


def test_pem_as_hmac_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match="not an HS256 secret"):
        load_signing_material("HS256", write_key(tmp_path, "RS256"))


@pytest.mark.parametrize(
    ("algorithm", "wrong", "message"),
    [
        ("ES256", "RS256", "ES256 needs a P-256 key, got an RSA-2048 key"),
        ("RS256", "ES256", "RS256 needs an RSA key, got an EC key on secp256r1"),
        ("RS256", "EdDSA", "RS256 needs an RSA key"),
        ("EdDSA", "ES256", "EdDSA needs an Ed25519 key"),
        ("ES256", "HS256", "not an unencrypted PEM private key"),
    ],
)
def test_key_of_the_wrong_type_is_refused(
    tmp_path: Path, algorithm: str, wrong: str, message: str
) -> None:
    with pytest.raises(KeyMaterialError, match=message):
        load_signing_material(algorithm, write_key(tmp_path, wrong))


def test_p384_key_for_es256_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p384.pem"
    path.write_bytes(_pem(ec.generate_private_key(ec.SECP384R1())))
    with pytest.raises(KeyMaterialError, match="P-256"):
        load_signing_material("ES256", path)


def test_small_rsa_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rsa1024.pem"
    path.write_bytes(_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)))
    with pytest.raises(KeyMaterialError, match="1024 bits"):
        load_signing_material("RS256", path)


def test_encrypted_private_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "enc.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    with pytest.raises(KeyMaterialError, match="unencrypted PEM private key"):
        load_signing_material("ES256", path)


def test_public_key_cannot_sign(tmp_path: Path) -> None:
    path = tmp_path / "pub.pem"
    path.write_bytes(_public_pem(ed25519.Ed25519PrivateKey.generate()))
    with pytest.raises(KeyMaterialError, match="private key"):
        load_signing_material("EdDSA", path)


def test_missing_key_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope"
    with pytest.raises(KeyMaterialError, match="nope: cannot read key file"):
        load_signing_material("HS256", path)


@pytest.mark.parametrize("algorithm", ["none", "HS512", "RS512", "hs256", ""])
def test_unsupported_algorithm_is_refused(hs_key: Path, algorithm: str) -> None:
    with pytest.raises(KeyMaterialError, match="unsupported JWT algorithm"):
        load_signing_material(algorithm, hs_key)


def test_the_config_offers_exactly_the_supported_algorithms() -> None:
    """One list: the config's type is the one the key loader checks against."""
    field = OAuth2Settings.model_fields["signing_algorithm"]
    assert get_args(field.annotation) == SUPPORTED_ALGORITHMS == tuple(ALGORITHMS)


def test_service_refuses_nonsense_settings(hs_keys: KeySet) -> None:
    with pytest.raises(ValueError, match="ttl"):
        service(hs_keys, ttl=0)
    with pytest.raises(ValueError, match="issuer"):
        service(hs_keys, issuer="")
