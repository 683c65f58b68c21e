"""Ringotel proving who it is: Basic, Bearer and OAuth2 access tokens."""

from __future__ import annotations

import base64

import pytest

from bridge.client_auth.credentials import (
    MalformedBasic,
    basic_user_pass,
    credentials_for,
    matches_any,
)
from bridge.client_auth.modes import BasicAuth, BearerAuth, ClientAuthFailed, OAuth2Auth
from bridge.client_auth.tokens import InvalidToken

BASIC_CHALLENGE = 'Basic realm="ringotel-bridge", charset="UTF-8"'
BEARER_CHALLENGE = 'Bearer realm="ringotel-bridge"'


def basic(user: str | bytes, password: str | bytes) -> str:
    u = user.encode() if isinstance(user, str) else user
    p = password.encode() if isinstance(password, str) else password
    return "Basic " + base64.b64encode(u + b":" + p).decode()


def failure(auth: BasicAuth | BearerAuth | OAuth2Auth, header: str | None) -> ClientAuthFailed:
    with pytest.raises(ClientAuthFailed) as info:
        auth.authenticate(header)
    return info.value


# --- Basic ------------------------------------------------------------------------------

BASIC = BasicAuth(username=b"ringotel", passwords=(b"current-secret", b"next-secret"))


@pytest.mark.parametrize("password", ["current-secret", "next-secret"])
def test_basic_right_password(password: str) -> None:
    assert BASIC.authenticate(basic("ringotel", password)) == "ringotel"


def test_basic_scheme_is_case_insensitive_and_spaces_tolerated() -> None:
    token = base64.b64encode(b"ringotel:current-secret").decode()
    assert BASIC.authenticate(f"basic {token}") == "ringotel"
    assert BASIC.authenticate(f"  BASIC   {token}  ") == "ringotel"


@pytest.mark.parametrize("header", [None, "", "Bearer abc", "Digest username=x", "Basicabc"])
def test_basic_missing_or_wrong_scheme(header: str | None) -> None:
    error = failure(BASIC, header)
    assert error.reason == "missing"
    assert error.www_authenticate == BASIC_CHALLENGE


@pytest.mark.parametrize("value", ["!!!not-base64!!!", "cmluZ290ZWw", "é", "YWJj\x00"])
def test_basic_malformed_base64(value: str) -> None:
    error = failure(BASIC, f"Basic {value}")
    assert error.reason == "malformed"
    assert error.www_authenticate == BASIC_CHALLENGE


@pytest.mark.parametrize(
    "header",
    [
        basic("ringotel", "wrong"),
        basic("ringotel", ""),
        basic("ringotel", "current-secret "),
        basic("ringotel", "current"),
        basic("Ringotel", "current-secret"),
        basic("other", "current-secret"),
        basic("", "current-secret"),
        "Basic " + base64.b64encode(b"ringotel").decode(),  # no colon
        "Basic " + base64.b64encode(b"current-secret").decode(),
    ],
)
def test_basic_wrong_credentials(header: str) -> None:
    error = failure(BASIC, header)
    assert error.reason == "wrong_credentials"
    assert error.www_authenticate == BASIC_CHALLENGE


def test_basic_password_may_contain_colons_and_utf8() -> None:
    auth = BasicAuth(username=b"ringotel", passwords=("pa:ss:wörd".encode(),))
    assert auth.authenticate(basic("ringotel", "pa:ss:wörd")) == "ringotel"
    assert failure(auth, basic("ringotel", "pa:ss")).reason == "wrong_credentials"


# --- Bearer -----------------------------------------------------------------------------

BEARER = BearerAuth(tokens=(b"token-one-0123456789", b"token-two-0123456789"), client_id="ringotel")


@pytest.mark.parametrize("token", ["token-one-0123456789", "token-two-0123456789"])
def test_bearer_every_configured_token_is_valid(token: str) -> None:
    assert BEARER.authenticate(f"Bearer {token}") == "ringotel"
    assert BEARER.authenticate(f"bearer {token}") == "ringotel"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic dG9rZW4=", "Token x"])
def test_bearer_missing(header: str | None) -> None:
    error = failure(BEARER, header)
    assert error.reason == "missing"
    # RFC 6750 section 3.1: no error code when the request had no credentials
    assert error.www_authenticate == BEARER_CHALLENGE


@pytest.mark.parametrize(
    "token", ["token-one", "token-one-0123456789x", "TOKEN-ONE-0123456789", "tökén", "\udcff"]
)
def test_bearer_wrong_token(token: str) -> None:
    error = failure(BEARER, f"Bearer {token}")
    assert error.reason == "wrong_token"
    assert error.www_authenticate == 'Bearer realm="ringotel-bridge", error="invalid_token"'


# --- OAuth2 -----------------------------------------------------------------------------


class FakeVerifier:
    """Stands in for TokenService: known tokens map to client ids, or to a refusal."""

    def __init__(self, tokens: dict[str, str], expired: frozenset[str] = frozenset()) -> None:
        self.tokens = tokens
        self.expired = expired
        self.seen: list[str] = []

    def verify(self, token: str) -> str:
        self.seen.append(token)
        if token in self.expired:
            raise InvalidToken("expired")
        if token not in self.tokens:
            raise InvalidToken("bad_signature")
        return self.tokens[token]


def test_oauth2_valid_token_returns_its_client() -> None:
    verifier = FakeVerifier({"eyJ.valid.sig": "ringotel"})
    assert OAuth2Auth(verifier).authenticate("Bearer eyJ.valid.sig") == "ringotel"
    assert verifier.seen == ["eyJ.valid.sig"]


@pytest.mark.parametrize("header", [None, "", "Bearer ", "Basic cmluZ290ZWw6eA=="])
def test_oauth2_missing(header: str | None) -> None:
    verifier = FakeVerifier({})
    error = failure(OAuth2Auth(verifier), header)
    assert error.reason == "missing"
    assert error.www_authenticate == BEARER_CHALLENGE
    assert verifier.seen == []


def test_oauth2_invalid_token() -> None:
    error = failure(OAuth2Auth(FakeVerifier({})), "Bearer eyJ.forged.sig")
    assert (error.reason, error.detail, error.guess) == ("invalid_token", "bad_signature", True)
    assert error.www_authenticate.startswith(
        'Bearer realm="ringotel-bridge", error="invalid_token"'
    )
    assert 'error_description="' in error.www_authenticate
    assert "bad_signature" not in error.www_authenticate  # details stay in the log


def test_oauth2_expired_token_is_not_a_guess() -> None:
    """Ringotel's token merely ran out: it fetches a new one, nobody is guessing."""
    verifier = FakeVerifier({}, expired=frozenset({"eyJ.old.sig"}))
    error = failure(OAuth2Auth(verifier), "Bearer eyJ.old.sig")
    assert (error.reason, error.detail, error.guess) == ("invalid_token", "expired", False)


def test_modes_are_named() -> None:
    assert (BASIC.mode, BEARER.mode, OAuth2Auth(FakeVerifier({})).mode) == (
        "basic",
        "bearer",
        "oauth2",
    )


# --- the shared credential toolkit ----------------------------------------------------


def test_matches_any_compares_whole_values() -> None:
    assert matches_any(b"b", [b"a", b"b", b"c"])
    assert not matches_any(b"d", [b"a", b"b"])
    assert not matches_any(b"", [])
    assert not matches_any(b"ab", [b"abc"])  # a prefix is not a match
    assert not matches_any(b"abcd", [b"abc"])


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic abc", "abc"),
        ("  bAsIc   abc  ", "abc"),
        ("Basic", ""),
        ("Bearer abc", None),
        ("Basicabc", None),
        ("", None),
        (None, None),
    ],
)
def test_credentials_for(header: str | None, expected: str | None) -> None:
    assert credentials_for(header, "Basic") == expected


def test_basic_user_pass_keeps_the_bytes_sent() -> None:
    encoded = base64.b64encode("ring:otel:pä".encode()).decode()
    assert basic_user_pass(encoded) == (b"ring", "otel:pä".encode())


@pytest.mark.parametrize(
    ("credentials", "reason"),
    [("!!!", "not_base64"), ("é", "not_base64"), (base64.b64encode(b"x").decode(), "no_colon")],
)
def test_basic_user_pass_refusals(credentials: str, reason: str) -> None:
    with pytest.raises(MalformedBasic) as caught:
        basic_user_pass(credentials)
    assert caught.value.reason == reason
