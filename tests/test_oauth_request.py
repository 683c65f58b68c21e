"""The token endpoint's request rules (RFC 6749 §2.3, §4.4, §5.2), without a server.

``parse_request`` is what the handler makes of a request whose body it has read: the
body under the token endpoint's rules (bridge.web.reading), then the RFC's.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Collection

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.client_auth.token_endpoint import (
    MAX_VALUE_CHARS,
    WWW_AUTHENTICATE,
    ClientCredentialsRequest,
    ClientRegistry,
    OAuthError,
    authenticate_client,
    error_body,
)
from bridge.guard import Guard, GuardLimits, MemoryStore
from bridge.web.oauth_handler import parse_request
from tests.harness.clock import FakeClock

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
GRANT = {"grant_type": "client_credentials"}
CREDS = {"client_id": "ringotel", "client_secret": "s3cret"}
#: RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
DESCRIPTION_CHARS = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")


def basic(client_id: str, secret: str, *, encode: bool = True) -> str:
    """Basic credentials the RFC 6749 §2.3.1 way: form-encode, then base64."""
    if encode:
        client_id = urllib.parse.quote_plus(client_id)
        secret = urllib.parse.quote_plus(secret)
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def parse(
    body: object = None,
    content_type: str | None = JSON,
    authorization: str | None = None,
    query_keys: Collection[str] = (),
) -> ClientCredentialsRequest:
    if isinstance(body, bytes):
        raw = body
    elif content_type is not None and content_type.startswith(FORM):
        assert isinstance(body, dict)
        raw = urllib.parse.urlencode(body).encode()
    else:
        raw = json.dumps({**GRANT, **CREDS} if body is None else body).encode()
    return parse_request(content_type, raw, authorization, query_keys)


def refused(**kwargs: object) -> OAuthError:
    with pytest.raises(OAuthError) as caught:
        parse(**kwargs)  # type: ignore[arg-type]
    err = caught.value
    assert DESCRIPTION_CHARS.fullmatch(err.description), err.description
    return err


def assert_invalid_request(err: OAuthError) -> None:
    assert (err.error, err.status, err.www_authenticate) == ("invalid_request", 400, None)


def assert_invalid_client(err: OAuthError) -> None:
    assert (err.error, err.status) == ("invalid_client", 401)
    assert err.www_authenticate == 'Basic realm="ringotel-bridge"' == WWW_AUTHENTICATE


# ----------------------------------------------------------------- accepted bodies


def test_json_body_with_body_credentials() -> None:
    assert parse() == ClientCredentialsRequest("ringotel", "s3cret", used_basic=False)


def test_form_body_with_body_credentials() -> None:
    request = parse({**GRANT, **CREDS}, content_type=FORM)
    assert request == ClientCredentialsRequest("ringotel", "s3cret", used_basic=False)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        ' application/json ; charset="utf-8" ',
    ],
)
def test_json_media_type_parameters_are_ignored(content_type: str) -> None:
    assert parse(content_type=content_type).client_id == "ringotel"


def test_form_charset_parameter_is_ignored() -> None:
    request = parse({**GRANT, **CREDS}, content_type=FORM + "; charset=UTF-8")
    assert request.client_secret == "s3cret"


def test_form_body_decodes_percent_and_plus() -> None:
    body = b"grant_type=client_credentials&client_id=ringotel&client_secret=a+b%26c%3D%C3%A9"
    assert parse(body, content_type=FORM).client_secret == "a b&c=\u00e9"


def test_scope_and_unknown_parameters_are_ignored() -> None:
    body = {**GRANT, **CREDS, "scope": ["not", "a", "string"], "extra": {"x": 1}}
    assert parse(body).client_id == "ringotel"
    form = b"grant_type=client_credentials&scope=a&scope=b&client_id=c&client_secret=s&z"
    assert parse(form, content_type=FORM).client_id == "c"


def test_basic_credentials() -> None:
    request = parse(GRANT, authorization=basic("ringotel", "s3cret"))
    assert request == ClientCredentialsRequest("ringotel", "s3cret", used_basic=True)


def test_basic_with_form_body() -> None:
    request = parse(GRANT, content_type=FORM, authorization=basic("ringotel", "s3cret"))
    assert request.used_basic


@pytest.mark.parametrize(
    "secret",
    ["p@ss:w0rd", "a+b c", "100%", "&=?/#", "\u00e9t\u00e9 \u2603", "x" * MAX_VALUE_CHARS],
)
def test_basic_secret_with_special_characters_is_url_decoded(secret: str) -> None:
    request = parse(GRANT, authorization=basic("ring:otel", secret))
    assert (request.client_id, request.client_secret) == ("ring:otel", secret)


def test_basic_scheme_is_case_insensitive() -> None:
    header = basic("ringotel", "s3cret").replace("Basic", "bAsIc")
    assert parse(GRANT, authorization=header).used_basic


def test_basic_plus_matching_body_client_id_is_tolerated() -> None:
    """RFC 6749 §3.2.1 lets a client name itself in the body; it is not a second method."""
    body = {**GRANT, "client_id": "ringotel"}
    assert parse(body, authorization=basic("ringotel", "s3cret")).used_basic


def test_empty_authorization_header_counts_as_absent() -> None:
    assert not parse(authorization="  ").used_basic


def test_empty_values_count_as_omitted() -> None:
    """RFC 6749 §3.1: a parameter without a value is treated as absent."""
    err = refused(body={**GRANT, "client_id": "ringotel", "client_secret": ""})
    assert_invalid_client(err)
    assert_invalid_request(refused(body={**CREDS, "grant_type": ""}))


def test_more_lenient_than_the_login_body_on_purpose() -> None:
    """RFC 6749 §3.2 ignores what it does not use: empty form fields, a key repeated in
    an unused object. ``/auth`` refuses both; its body is only ever Ringotel's."""
    form = b"grant_type=client_credentials&&client_id=ringotel&client_secret=s3cret&=x"
    assert parse(form, content_type=FORM).client_id == "ringotel"
    nested = {**GRANT, **CREDS}
    raw = json.dumps(nested)[:-1] + ', "x": {"k": 1, "k": 2}}'
    assert parse(raw.encode()).client_id == "ringotel"


# ------------------------------------------------------------------ refused bodies


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "application/jsonx",
        "multipart/form-data; boundary=x",
        "json",
        "application/vnd.ringotel+json",  # /auth takes it; §4.4.2 names only the form
    ],
)
def test_other_content_types_are_refused(content_type: str | None) -> None:
    err = refused(content_type=content_type)
    assert_invalid_request(err)


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"[]", b'"grant_type"', b"null", b"42", b"\xff\xfe{}", b"{'a': 1}", b"[" * 100_000],
)
def test_non_object_json_is_refused(body: bytes) -> None:
    assert_invalid_request(refused(body=body))


@pytest.mark.parametrize("value", [None, 1, 1.5, True, [], {}, ["client_credentials"]])
@pytest.mark.parametrize("name", ["grant_type", "client_id", "client_secret"])
def test_non_string_json_values_are_refused(name: str, value: object) -> None:
    err = refused(body={**GRANT, **CREDS, name: value})
    assert_invalid_request(err)
    assert name in err.description


def test_duplicate_json_keys_are_refused() -> None:
    raw = b'{"grant_type":"client_credentials","client_id":"a","client_id":"b","client_secret":"s"}'
    assert_invalid_request(refused(body=raw))


@pytest.mark.parametrize("name", ["grant_type", "client_id", "client_secret"])
def test_duplicate_form_keys_are_refused(name: str) -> None:
    raw = urllib.parse.urlencode([*{**GRANT, **CREDS}.items(), (name, "again")]).encode()
    err = refused(body=raw, content_type=FORM)
    assert_invalid_request(err)
    assert "repeated" in err.description


@pytest.mark.parametrize("name", ["grant_type", "client_id", "client_secret"])
def test_over_long_values_are_refused(name: str) -> None:
    value = "client_credentials" if name == "grant_type" else "x"
    value += "x" * (MAX_VALUE_CHARS + 1 - len(value))
    assert_invalid_request(refused(body={**GRANT, **CREDS, name: value}))


def test_huge_secret_is_refused_in_basic_too() -> None:
    err = refused(body=GRANT, authorization=basic("ringotel", "x" * (MAX_VALUE_CHARS + 1)))
    assert_invalid_client(err)


@pytest.mark.parametrize("name", ["client_id", "client_secret"])
def test_nul_bytes_are_refused(name: str) -> None:
    params = {**GRANT, **CREDS, name: "ab\x00c"}
    assert_invalid_request(refused(body=params))
    assert_invalid_request(refused(body=params, content_type=FORM))  # sent as %00


def test_lone_surrogate_from_json_escape_is_refused() -> None:
    raw = b'{"grant_type":"client_credentials","client_id":"a","client_secret":"\\ud800"}'
    assert_invalid_request(refused(body=raw))


@pytest.mark.parametrize("body", [b"client_secret=%ff&client_id=a", b"\xff=1"])
def test_undecodable_form_is_refused(body: bytes) -> None:
    assert_invalid_request(
        refused(body=b"grant_type=client_credentials&" + body, content_type=FORM)
    )


def test_too_many_form_fields_are_refused() -> None:
    raw = b"&".join([b"grant_type=client_credentials", *[b"x=1"] * 100])
    assert_invalid_request(refused(body=raw, content_type=FORM))


# ------------------------------------------------------------------- grant type


def test_missing_grant_type_is_invalid_request() -> None:
    err = refused(body=CREDS)
    assert_invalid_request(err)
    assert "grant_type" in err.description


@pytest.mark.parametrize("grant", ["password", "authorization_code", "CLIENT_CREDENTIALS", "x"])
def test_other_grant_types_are_unsupported(grant: str) -> None:
    err = refused(body={**CREDS, "grant_type": grant})
    assert (err.error, err.status, err.www_authenticate) == ("unsupported_grant_type", 400, None)


# ---------------------------------------------------------------- client auth


def test_basic_and_body_secret_together_are_refused() -> None:
    err = refused(authorization=basic("ringotel", "s3cret"))
    assert_invalid_request(err)


def test_basic_and_a_different_body_client_id_are_refused() -> None:
    body = {**GRANT, "client_id": "someone-else"}
    assert_invalid_request(refused(body=body, authorization=basic("ringotel", "s3cret")))


@pytest.mark.parametrize("keys", [{"client_id"}, {"client_secret"}, {"a", "client_secret", "b"}])
def test_credentials_in_the_query_are_refused(keys: set[str]) -> None:
    err = refused(query_keys=keys)
    assert_invalid_request(err)
    assert "query" in err.description


def test_other_query_keys_are_fine() -> None:
    assert parse(query_keys={"foo", "grant_type"}).client_id == "ringotel"


@pytest.mark.parametrize(
    "body", [GRANT, {**GRANT, "client_id": "ringotel"}, {**GRANT, "client_secret": "s3cret"}]
)
def test_no_or_partial_credentials_are_invalid_client(body: dict[str, str]) -> None:
    assert_invalid_client(refused(body=body))


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer abc",
        "Basic",
        "Basic !!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff:\xfe").decode(),
        "Basic " + base64.b64encode(b"a:%ff").decode(),
        "Basic " + base64.b64encode(b":secret").decode(),
        "Basic " + base64.b64encode(b"ringotel:").decode(),
        "Basic " + base64.b64encode(b"ringotel:a%00b").decode(),
        "Basic " + base64.b64encode(b"ringotel:s3cret").decode()[:-1],
    ],
)
def test_bad_authorization_header_is_invalid_client_with_challenge(authorization: str) -> None:
    assert_invalid_client(refused(body=GRANT, authorization=authorization))


def test_error_body() -> None:
    err = refused(body=CREDS)
    assert error_body(err) == {
        "error": "invalid_request",
        "error_description": "grant_type is required",
    }


# -------------------------------------------------------------------- property


_content_types = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.sampled_from([JSON, FORM, JSON + "; charset=utf-8", FORM + ";charset=latin-1"]),
)
_bodies = st.one_of(
    st.binary(max_size=300),
    st.dictionaries(
        st.sampled_from(["grant_type", "client_id", "client_secret", "scope", "x"]),
        st.one_of(st.text(max_size=20), st.integers(), st.none(), st.booleans()),
    ).map(lambda d: json.dumps(d).encode()),
    st.lists(
        st.tuples(
            st.sampled_from(["grant_type", "client_id", "client_secret", "x"]),
            st.text(max_size=20),
        ),
        max_size=6,
    ).map(lambda pairs: urllib.parse.urlencode(pairs).encode()),
)
_authorizations = st.one_of(
    st.none(),
    st.text(max_size=60),
    st.binary(max_size=60).map(lambda raw: "Basic " + base64.b64encode(raw).decode()),
)


@given(
    content_type=_content_types,
    body=_bodies,
    authorization=_authorizations,
    query_keys=st.frozensets(st.sampled_from(["client_id", "client_secret", "x", ""])),
)
def test_parse_never_raises_anything_but_oauth_error(
    content_type: str | None, body: bytes, authorization: str | None, query_keys: frozenset[str]
) -> None:
    outcome = _outcome(content_type, body, authorization, query_keys)
    if isinstance(outcome, OAuthError):
        assert outcome.status in {400, 401}
        assert outcome.error in {"invalid_request", "invalid_client", "unsupported_grant_type"}
        assert (outcome.www_authenticate is not None) == (outcome.error == "invalid_client")
        assert DESCRIPTION_CHARS.fullmatch(outcome.description)
        return
    for value in (outcome.client_id, outcome.client_secret):
        assert value
        assert len(value) <= MAX_VALUE_CHARS
        assert "\x00" not in value
        value.encode("utf-8")


def _outcome(
    content_type: str | None, body: bytes, authorization: str | None, query_keys: frozenset[str]
) -> ClientCredentialsRequest | OAuthError:
    """Anything other than OAuthError propagates and fails the property."""
    try:
        return parse_request(content_type, body, authorization, query_keys)
    except OAuthError as err:
        return err


# ------------------------------------------------------------------- registry


def test_registry_accepts_any_configured_secret() -> None:
    registry = ClientRegistry("ringotel", [b"old-secret", b"new-secret"])
    assert registry.check("ringotel", "old-secret")
    assert registry.check("ringotel", "new-secret")


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [
        ("ringotel", "wrong"),
        ("ringotel", ""),
        ("ringotel", "new-secre"),
        ("ringotel", "new-secrett"),
        ("Ringotel", "new-secret"),
        ("other", "new-secret"),
        ("", ""),
        ("ringotel", "\ud800"),
    ],
)
def test_registry_refuses_everything_else(client_id: str, secret: str) -> None:
    registry = ClientRegistry("ringotel", [b"old-secret", b"new-secret"])
    assert not registry.check(client_id, secret)


def test_registry_compares_utf8_bytes() -> None:
    registry = ClientRegistry("ringotel", ["\u00e9t\u00e9".encode()])
    assert registry.check("ringotel", "\u00e9t\u00e9")
    assert not registry.check("ringotel", "ete")


def test_registry_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        ClientRegistry("ringotel", [])
    with pytest.raises(ValueError, match="secret"):
        ClientRegistry("ringotel", [b"ok", b""])


# -------------------------------------------------------------------- limiter


async def test_authenticate_client_counts_failures_per_source_then_refuses_unchecked() -> None:
    """The budget is the source address's, not the client_id's: an id is whatever the
    caller sends, so counting by it would let anyone lock Ringotel out."""
    clock = FakeClock()
    limits = GuardLimits(client_max_failures=2, client_window=60.0)
    guard = Guard(MemoryStore(clock=clock), b"k" * 32, limits, clock)
    registry = ClientRegistry("ringotel", [b"s3cret"])
    good = ClientCredentialsRequest("ringotel", "s3cret", used_basic=True)
    bad = ClientCredentialsRequest("ringotel", "guess", used_basic=False)
    attacker, ringotel = "203.0.113.9", "198.51.100.7"

    assert await authenticate_client(good, registry, guard, attacker) == "ringotel"
    for _ in range(2):
        with pytest.raises(OAuthError) as caught:
            await authenticate_client(bad, registry, guard, attacker)
        assert_invalid_client(caught.value)
        assert caught.value.description == "client authentication failed"

    with pytest.raises(OAuthError) as caught:
        await authenticate_client(good, registry, guard, attacker)  # even the right secret
    assert (caught.value.status, caught.value.error) == (429, "too_many_attempts")
    assert caught.value.retry_after == pytest.approx(60.0)
    assert await authenticate_client(good, registry, guard, ringotel) == "ringotel"

    clock.advance(61)
    assert await authenticate_client(good, registry, guard, attacker) == "ringotel"
