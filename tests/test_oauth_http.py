"""OAuth2 over real HTTP: the token endpoint (RFC 6749 §4.4) and tokens on ``/auth``.

The bridge runs on loopback against the private slapd. Hostile tokens are made with the
same key material the bridge was configured with (or deliberately not), by PyJWT or by
hand where PyJWT refuses to make the attack (``alg: none``, HS/RS key confusion).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest

from bridge.client_auth.keys import KeySet, load_signing_material
from bridge.client_auth.tokens import TokenService
from bridge.config import Config
from bridge.web.keys import RUNTIME
from tests.harness import openldap_people as people
from tests.harness.client_credentials import CLIENT_SECRET, key_material
from tests.harness.clock import FakeClock
from tests.harness.configs import oauth2_section, openldap_raw, write_secret
from tests.harness.in_process import StartBridge
from tests.harness.logs import log_events
from tests.harness.slapd import SlapdServer

pytestmark = pytest.mark.openldap

TOKEN = "/oauth/token"
CLIENT_ID = "ringotel"
JANE = people.PEOPLE["jdoe"]
GRANT = {"grant_type": "client_credentials"}
BODY_CREDENTIALS = {**GRANT, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
ISSUER = AUDIENCE = "ringotel-bridge"  # the config defaults


def basic(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: form-encode id and secret, then RFC 7617 Basic."""
    pair = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


@pytest.fixture
def raw(slapd: SlapdServer, tmp_path: Path) -> dict[str, Any]:
    return openldap_raw(slapd, tmp_path)


@pytest.fixture
def hs256(raw: dict[str, Any], tmp_path: Path, make_config: Callable[..., Config]) -> Config:
    # the attack tests send dozens of bad tokens from one address: not what they test
    return make_config(
        raw,
        client_auth=oauth2_section(tmp_path, "HS256"),
        protection={"client_max_failures": 1000},
    )


@pytest.fixture
async def client(hs256: Config, bridge_client: Any) -> Any:
    return await bridge_client(hs256)


def keys_of(config: Config) -> KeySet:
    auth = config.settings.client_auth
    secrets = config.secrets
    assert secrets.signing_key_file is not None
    return load_signing_material(
        auth.signing_algorithm, secrets.signing_key_file, secrets.verification_key_files
    )


def minted(keys: KeySet, **overrides: Any) -> str:
    """A token from our own TokenService with the bridge's keys, skewed as asked."""
    options: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "ttl": 300}
    options.update(overrides)
    return TokenService(keys, **options).issue(CLIENT_ID).access_token


async def post_token(client: Any, **kwargs: Any) -> tuple[int, dict[str, Any], Any]:
    response = await client.post(TOKEN, **kwargs)
    assert response.headers["Cache-Control"] == "no-store"
    return response.status, await response.json(), response.headers


async def auth_with(client: Any, token: str | None, password: str = JANE.password) -> Any:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return await client.post(
        "/auth", json={"username": "jdoe", "password": password}, headers=headers
    )


# ------------------------------------------------------------------ token endpoint


@pytest.mark.parametrize(
    "request_kwargs",
    [
        pytest.param({"json": BODY_CREDENTIALS}, id="json-body"),
        pytest.param({"data": BODY_CREDENTIALS}, id="form-body"),
        pytest.param(
            {
                "data": json.dumps(BODY_CREDENTIALS),
                "headers": {"Content-Type": "application/json; charset=utf-8"},
            },
            id="json-with-charset",
        ),
        pytest.param(
            {"data": GRANT, "headers": {"Authorization": basic(CLIENT_ID, CLIENT_SECRET)}},
            id="basic-url-encoded-secret",
        ),
    ],
)
async def test_token_is_issued_and_opens_auth(
    client: Any, hs256: Config, request_kwargs: dict[str, Any]
) -> None:
    status, body, _ = await post_token(client, **request_kwargs)
    assert status == 200, body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    header = jwt.get_unverified_header(body["access_token"])
    assert (header["typ"], header["alg"], header["kid"]) == (
        "at+jwt",
        "HS256",
        keys_of(hs256).signing_kid,
    )
    assert (await auth_with(client, body["access_token"])).status == 200


def test_the_test_secret_needs_url_encoding() -> None:
    """Otherwise the Basic case above would not prove §2.3.1 decoding."""
    assert urllib.parse.quote_plus(CLIENT_SECRET) != CLIENT_SECRET


@pytest.mark.parametrize(
    ("request_kwargs", "status", "error"),
    [
        pytest.param(
            {"data": BODY_CREDENTIALS, "headers": {"Authorization": basic(CLIENT_ID, "x")}},
            400,
            "invalid_request",
            id="basic-and-body-secret",
        ),
        pytest.param(
            {"data": GRANT, "params": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}},
            400,
            "invalid_request",
            id="credentials-in-query",
        ),
        pytest.param(
            {"json": {**BODY_CREDENTIALS, "grant_type": "password"}},
            400,
            "unsupported_grant_type",
            id="password-grant",
        ),
        pytest.param(
            {"json": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}},
            400,
            "invalid_request",
            id="no-grant-type",
        ),
        pytest.param({"json": GRANT}, 401, "invalid_client", id="no-credentials"),
        pytest.param(
            {"json": {**GRANT, "client_id": CLIENT_ID}}, 401, "invalid_client", id="no-secret"
        ),
        pytest.param(
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
            400,
            "invalid_request",
            id="broken-json",
        ),
        pytest.param(
            {"data": b"grant_type=client_credentials", "headers": {"Content-Type": "text/plain"}},
            400,
            "invalid_request",
            id="wrong-content-type",
        ),
        pytest.param(
            {"json": {**BODY_CREDENTIALS, "client_secret": 12345}},
            400,
            "invalid_request",
            id="secret-not-a-string",
        ),
        pytest.param(
            {"json": {**BODY_CREDENTIALS, "junk": "x" * 9000}},
            413,
            "invalid_request",
            id="huge-body",
        ),
    ],
)
async def test_bad_token_requests_get_the_rfc_error_and_no_token(
    client: Any, request_kwargs: dict[str, Any], status: int, error: str
) -> None:
    got_status, body, headers = await post_token(client, **request_kwargs)
    assert (got_status, body["error"]) == (status, error)
    assert "access_token" not in body
    if status == 401:
        assert headers["WWW-Authenticate"].startswith("Basic realm=")


async def test_huge_chunked_body_is_refused_without_content_length(client: Any) -> None:
    async def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 1024

    status, body, _ = await post_token(
        client, data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert (status, body["error"]) == (413, "invalid_request")


@pytest.mark.parametrize(
    "request_kwargs",
    [
        pytest.param({"json": {**BODY_CREDENTIALS, "client_secret": "wrong"}}, id="body"),
        pytest.param(
            {"data": GRANT, "headers": {"Authorization": basic(CLIENT_ID, "wrong")}}, id="basic"
        ),
        pytest.param({"json": {**BODY_CREDENTIALS, "client_id": "someone"}}, id="unknown-id"),
    ],
)
async def test_wrong_client_credentials_are_401_with_a_challenge(
    client: Any, request_kwargs: dict[str, Any]
) -> None:
    status, body, headers = await post_token(client, **request_kwargs)
    assert (status, body["error"]) == (401, "invalid_client")
    assert headers["WWW-Authenticate"] == 'Basic realm="ringotel-bridge"'


async def test_get_on_token_path_is_405(client: Any) -> None:
    response = await client.get(TOKEN)
    assert response.status == 405
    assert response.headers["Allow"] == "POST"


async def test_a_guessing_address_is_refused_while_ringotel_is_not(
    tmp_path: Path, start_bridge: StartBridge
) -> None:
    """Failures are counted per source address (after trusted_proxies), never per the
    client_id the caller sends: ten wrong secrets under Ringotel's id from elsewhere
    must not lock Ringotel out."""
    client = await start_bridge(
        client_auth=oauth2_section(tmp_path, "HS256"),
        server={"trusted_proxies": ["127.0.0.1/32"]},
        protection={"client_max_failures": 3, "client_failure_window": "60s"},
    )
    clock = FakeClock()
    runtime = client.server.app[RUNTIME]
    runtime.guard.clock = clock
    runtime.guard.store.clock = clock
    attacker = {"X-Forwarded-For": "203.0.113.9"}
    ringotel = {"X-Forwarded-For": "198.51.100.7"}
    wrong = {**BODY_CREDENTIALS, "client_secret": "guess"}
    for _ in range(3):
        status, body, _ = await post_token(client, json=wrong, headers=attacker)
        assert (status, body["error_description"]) == (401, "client authentication failed")
    status, body, headers = await post_token(client, json=BODY_CREDENTIALS, headers=attacker)
    assert (status, body["error"]) == (429, "too_many_attempts")
    assert headers["Retry-After"] == "60"
    status, _, _ = await post_token(client, json=BODY_CREDENTIALS, headers=ringotel)
    assert status == 200
    clock.advance(61)
    status, _, _ = await post_token(client, json=BODY_CREDENTIALS, headers=attacker)
    assert status == 200
    metrics = runtime.metrics.tokens
    assert metrics.labels("invalid_client")._value.get() == 3
    assert metrics.labels("too_many_attempts")._value.get() == 1
    assert metrics.labels("issued")._value.get() == 2


async def test_two_client_secrets_are_valid_at_once(
    tmp_path: Path, start_bridge: StartBridge
) -> None:
    section = oauth2_section(tmp_path, "HS256")
    del section["client_secret_file"]
    old, new = "old-secret-0123456789", "new-secret-9876543210"
    section["client_secret_files"] = [
        write_secret(tmp_path, "old-secret", old.encode()),
        write_secret(tmp_path, "new-secret", new.encode()),
    ]
    client = await start_bridge(client_auth=section)
    for secret in (old, new):
        status, body, _ = await post_token(
            client, json={**GRANT, "client_id": CLIENT_ID, "client_secret": secret}
        )
        assert status == 200
        assert (await auth_with(client, body["access_token"])).status == 200
    status, _, _ = await post_token(
        client, json={**GRANT, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    )
    assert status == 401


# ------------------------------------------------------------- tokens on /auth


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """A JWS built without PyJWT's guard rails: ``key`` None means no signature."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if key is None:
        return signing_input + "."
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def good_claims() -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": CLIENT_ID,
        "client_id": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "jti": "attack",
    }


def tampered(token: str) -> str:
    """The same signature over claims that name another client."""
    header, _, signature = token.split(".")
    claims = {**good_claims(), "sub": "mallory", "client_id": "mallory"}
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def hs256_attacks(keys: KeySet, other: KeySet) -> dict[str, tuple[str, str]]:
    """Attack name -> (token, the reason the bridge must log for it)."""
    kid = keys.signing_kid
    secret = keys.signing_key
    assert isinstance(secret, bytes)
    none_header = {"alg": "none", "typ": "at+jwt", "kid": kid}
    return {
        "malformed": ("not.a.jwt", "malformed"),
        "garbage": ("x" * 40, "malformed"),
        "expired": (minted(keys, clock=lambda: time.time() - 7200), "expired"),
        "not-yet-valid": (minted(keys, clock=lambda: time.time() + 7200), "not_yet_valid"),
        "tampered-claims": (tampered(minted(keys)), "bad_signature"),
        "wrong-key-same-kid": (
            jwt.encode(
                good_claims(), other.signing_key, "HS256", headers={"typ": "at+jwt", "kid": kid}
            ),
            "bad_signature",
        ),
        "rotated-out-key": (minted(other), "unknown_kid"),
        "wrong-audience": (minted(keys, audience="someone-else"), "wrong_audience"),
        "wrong-issuer": (minted(keys, issuer="evil-issuer"), "wrong_issuer"),
        "wrong-typ": (
            jwt.encode(good_claims(), secret, "HS256", headers={"typ": "JWT", "kid": kid}),
            "wrong_typ",
        ),
        "no-kid": (
            jwt.encode(good_claims(), secret, "HS256", headers={"typ": "at+jwt"}),
            "missing_kid",
        ),
        "alg-none": (hand_made(none_header, good_claims(), None), "wrong_alg"),
        "alg-none-signed": (hand_made(none_header, good_claims(), secret), "wrong_alg"),
    }


def refusal_reasons(stream: io.StringIO) -> list[str]:
    events = log_events(stream)
    return [
        f"{e['reason']}:{e['detail']}" if e.get("detail") else e["reason"]
        for e in events
        if e.get("event") == "client_auth_failed"
    ]


async def assert_invalid_token(client: Any, token: str) -> None:
    for password in (JANE.password, "wrong password"):
        response = await auth_with(client, token, password)
        assert response.status == 401
        challenge = response.headers["WWW-Authenticate"]
        assert challenge.startswith("Bearer ")
        assert 'error="invalid_token"' in challenge


async def test_hs256_token_attacks_are_all_401_invalid_token(
    client: Any, hs256: Config, tmp_path: Path, log_stream: io.StringIO
) -> None:
    other_key = tmp_path / "other-key"
    other_key.write_bytes(key_material("HS256"))
    other = load_signing_material("HS256", other_key)
    attacks = hs256_attacks(keys_of(hs256), other)
    for name, (token, reason) in attacks.items():
        try:
            await assert_invalid_token(client, token)
        except AssertionError as exc:
            raise AssertionError(f"attack {name!r} was not refused as invalid_token") from exc
        assert refusal_reasons(log_stream)[-2:] == [f"invalid_token:{reason}"] * 2, name
    failures = client.server.app[RUNTIME].metrics.client_auth_failures
    assert failures.labels("oauth2", "invalid_token")._value.get() == 2 * len(attacks)


async def test_missing_token_is_401_bearer_challenge_without_error_code(client: Any) -> None:
    """RFC 6750 §3.1: no credentials at all gets the challenge but no error code."""
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": basic("a", "b")}):
        response = await client.post(
            "/auth", json={"username": "jdoe", "password": JANE.password}, headers=headers
        )
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer realm=")


async def test_valid_token_then_the_users_password_decides(client: Any, hs256: Config) -> None:
    token = minted(keys_of(hs256))
    good = await auth_with(client, token)
    assert good.status == 200
    assert [v["username"] for v in (await good.json())["values"]] == list(JANE.phones)
    bad = await auth_with(client, token, "wrong password")
    assert (bad.status, await bad.json()) == (403, {"error": "access_denied"})


async def test_token_within_leeway_is_accepted_and_beyond_is_not(
    client: Any, hs256: Config
) -> None:
    keys = keys_of(hs256)
    just_expired = minted(keys, ttl=60, clock=lambda: time.time() - 70)  # exp 10 s ago
    assert (await auth_with(client, just_expired)).status == 200
    long_expired = minted(keys, ttl=60, clock=lambda: time.time() - 600)
    assert (await auth_with(client, long_expired)).status == 401


async def test_rs256_refuses_hs256_signed_with_its_public_key(
    tmp_path: Path, start_bridge: StartBridge, log_stream: io.StringIO
) -> None:
    from cryptography.hazmat.primitives import serialization

    client = await start_bridge(client_auth=oauth2_section(tmp_path, "RS256"))
    keys = keys_of(client.server.app[RUNTIME].config)
    assert (await auth_with(client, minted(keys))).status == 200
    public_key = keys.verification_keys[keys.signing_kid]
    assert not isinstance(public_key, bytes)
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for variant in (pem, pem.strip()):
        forged = hand_made(
            {"alg": "HS256", "typ": "at+jwt", "kid": keys.signing_kid}, good_claims(), variant
        )
        await assert_invalid_token(client, forged)
    unsigned = hand_made({"alg": "none", "typ": "at+jwt", "kid": keys.signing_kid}, {}, None)
    await assert_invalid_token(client, unsigned)
    assert refusal_reasons(log_stream) == ["invalid_token:wrong_alg"] * 6


async def test_key_rotation_keeps_old_tokens_until_the_old_key_is_dropped(
    raw: dict[str, Any],
    tmp_path: Path,
    make_config: Callable[..., Config],
    start_bridge: StartBridge,
) -> None:
    old_section = oauth2_section(tmp_path, "ES256", key_name="old-key")
    old_config = make_config(raw, client_auth=old_section)
    old_token = minted(keys_of(old_config))

    new_section = {
        **old_section,
        "signing_key_file": write_secret(tmp_path, "new-key", key_material("ES256")),
    }
    client = await start_bridge(client_auth={**new_section, "verification_key_files": ["old-key"]})
    rotating = client.server.app[RUNTIME].config
    assert (await auth_with(client, old_token)).status == 200
    status, body, _ = await post_token(client, json=BODY_CREDENTIALS)
    assert status == 200
    assert jwt.get_unverified_header(body["access_token"])["kid"] == keys_of(rotating).signing_kid
    assert keys_of(rotating).signing_kid != keys_of(old_config).signing_kid

    rotated_out = await start_bridge(client_auth=new_section)
    await assert_invalid_token(rotated_out, old_token)
    assert (await auth_with(rotated_out, body["access_token"])).status == 200


async def test_neither_secret_nor_token_is_logged(client: Any, log_stream: io.StringIO) -> None:
    status, body, _ = await post_token(client, json=BODY_CREDENTIALS)
    assert status == 200
    assert (await auth_with(client, body["access_token"])).status == 200
    await post_token(client, json={**BODY_CREDENTIALS, "client_secret": "guess-9f8e7d"})
    logged = log_stream.getvalue()
    assert "token_issued" in logged
    assert "token_refused" in logged
    for secret in (CLIENT_SECRET, body["access_token"], "guess-9f8e7d", JANE.password):
        assert secret not in logged
