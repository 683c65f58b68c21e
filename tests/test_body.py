"""Reading Ringotel's login body: JSON or form, and nothing but InvalidRequest on bad input."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core.errors import InvalidRequest
from bridge.web.login_body import LoginFields, parse_fields
from bridge.web.reading import FORM, JSON


def parse(media_type: str | None, body: bytes, max_length: int = 64) -> LoginFields:
    return parse_fields(media_type, body, "username", "password", max_length)


def refused(media_type: str | None, body: bytes, max_length: int = 64) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        parse(media_type, body, max_length)
    return info.value


def test_json_body() -> None:
    body = json.dumps({"username": "jane", "password": "p@ss wörd", "extra": 1}).encode()
    assert parse(JSON, body) == LoginFields("jane", "p@ss wörd")


def test_json_with_a_suffix_media_type() -> None:
    assert parse("application/vnd.ringotel+json", b'{"username":"a","password":"b"}') == (
        LoginFields("a", "b")
    )


def test_configured_field_names() -> None:
    body = b'{"email":"jane@corp.example","secret":"pw"}'
    fields = parse_fields(JSON, body, "email", "secret", 64)
    assert fields == LoginFields("jane@corp.example", "pw")


def test_password_is_never_trimmed() -> None:
    assert parse(JSON, b'{"username":"jane","password":"  pw  "}').password == "  pw  "


def test_form_body() -> None:
    body = b"username=jane%40corp.example&password=p%26ss+w%C3%B6rd"
    assert parse(FORM, body) == LoginFields("jane@corp.example", "p&ss wörd")


def test_empty_values_are_read_as_empty() -> None:
    assert parse(FORM, b"username=jane&password=") == LoginFields("jane", "")
    assert parse(JSON, b'{"username":"jane","password":""}') == LoginFields("jane", "")


@pytest.mark.parametrize(
    ("media_type", "body"),
    [
        (JSON, b'{"username":"a","username":"b","password":"c"}'),
        (JSON, b'{"username":"a","password":"c","password":"d"}'),
        (FORM, b"username=a&username=b&password=c"),
        (FORM, b"username=a&password=c&password=d"),
    ],
)
def test_duplicate_fields_are_malformed(media_type: str, body: bytes) -> None:
    error = refused(media_type, body)
    assert (error.status, error.error) == (400, "malformed_body")


@pytest.mark.parametrize(
    "body",
    [
        b'{"username":"a","password":"b","x":1,"x":2}',
        b'{"username":"a","password":"b","x":{"k":1,"k":2}}',
        b'{"username":"a","password":"b","x":[{"k":1,"k":2}]}',
    ],
)
def test_a_key_given_twice_anywhere_is_malformed(body: bytes) -> None:
    """Stricter than the token endpoint on purpose: an ambiguous login body is refused."""
    error = refused(JSON, body)
    assert (error.status, error.error) == (400, "malformed_body")


@pytest.mark.parametrize(
    "content_type", [None, "", "text/plain", "application/jsonx", "multipart/form-data"]
)
def test_other_media_types_are_415(content_type: str | None) -> None:
    error = refused(content_type, b'{"username":"a","password":"b"}')
    assert (error.status, error.error) == (415, "unsupported_media_type")


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", " application/json "]
)
def test_media_type_parameters_and_case_are_ignored(content_type: str) -> None:
    assert parse(content_type, b'{"username":"a","password":"b"}') == LoginFields("a", "b")


@pytest.mark.parametrize(
    ("media_type", "body"),
    [
        (JSON, b'{"username":"ja\\u0000ne","password":"p"}'),
        (JSON, b'{"username":"jane","password":"p\\u0000"}'),
        (FORM, b"username=ja%00ne&password=p"),
    ],
)
def test_nul_bytes_are_refused(media_type: str, body: bytes) -> None:
    error = refused(media_type, body)
    assert (error.status, error.error) == (400, "invalid_field")
    assert "NUL" in error.detail


@pytest.mark.parametrize("value", ["123", "null", "true", '["jane"]', '{"name":"jane"}', "1.5"])
def test_non_string_values_are_refused(value: str) -> None:
    error = refused(JSON, f'{{"username":{value},"password":"p"}}'.encode())
    assert (error.status, error.error) == (400, "invalid_field")
    assert "'username'" in error.detail


@pytest.mark.parametrize(
    ("media_type", "body"),
    [(JSON, b'{"password":"p"}'), (JSON, b'{"username":"a"}'), (FORM, b"password=p"), (FORM, b"")],
)
def test_missing_fields(media_type: str, body: bytes) -> None:
    error = refused(media_type, body)
    assert (error.status, error.error) == (400, "missing_field")


def test_too_long() -> None:
    assert parse(JSON, json.dumps({"username": "a" * 64, "password": "p"}).encode())
    error = refused(JSON, json.dumps({"username": "a" * 65, "password": "p"}).encode())
    assert (error.status, error.error) == (413, "field_too_long")
    error = refused(FORM, b"username=a&password=" + b"p" * 65)
    assert (error.status, error.error) == (413, "field_too_long")


@pytest.mark.parametrize(
    ("media_type", "body"),
    [
        (JSON, b'{"username":"j\xffane","password":"p"}'),
        (JSON, b"\xef\xbb\xbf\xc3"),
        (FORM, b"username=j\xe9&password=p"),
        (FORM, b"username=j%FFane&password=p"),  # percent-encoded invalid UTF-8
    ],
)
def test_invalid_utf8(media_type: str, body: bytes) -> None:
    error = refused(media_type, body)
    assert (error.status, error.error) == (400, "malformed_body")


@pytest.mark.parametrize(
    ("media_type", "body"),
    [
        (JSON, b'{"username":"jane","password":"p\\ud800w"}'),  # a lone high surrogate
        (JSON, b'{"username":"jane","password":"\\udfff"}'),  # a lone low surrogate
        (JSON, b'{"username":"ja\\udc80ne","password":"p"}'),
        (JSON, b'{"username":"jane","password":"\\udc00\\ud800"}'),  # a reversed pair
    ],
)
def test_lone_surrogates_are_malformed(media_type: str, body: bytes) -> None:
    """JSON can spell what UTF-8 cannot carry on to a directory: refused, never a 500."""
    error = refused(media_type, body)
    assert (error.status, error.error) == (400, "invalid_field")
    assert "not valid Unicode" in error.detail


def test_form_cannot_carry_a_surrogate() -> None:
    """Percent-encoded surrogate bytes (CESU-8) are not UTF-8: malformed too."""
    error = refused(FORM, b"username=jane&password=%ED%A0%80")
    assert error.status == 400


def test_a_surrogate_pair_is_one_character() -> None:
    body = b'{"username":"jane","password":"key \\ud83d\\udd11"}'
    assert parse(JSON, body).password == "key \U0001f511"


@pytest.mark.parametrize(
    "password",
    [
        "no\u00a0break",
        "soft\u00adhyphen",
        "tab\there",
        "\ufeffbom",
        "bell\x07",
        "\u05e1\u05d9\u05e1\u05de\u05d4-Pass",
        "\u0643\u0644\u0645\u0629 \u0633\u0631",
        " padded ",
    ],
)
def test_odd_passwords_come_out_as_typed(password: str) -> None:
    """Only NUL and lone surrogates are refused; nothing is mapped, dropped or trimmed."""
    for media_type, body in (
        (JSON, json.dumps({"username": "jane", "password": password}).encode()),
        (JSON, json.dumps({"username": "jane", "password": password}, ensure_ascii=False).encode()),
        (FORM, b"username=jane&password=" + quote(password.encode()).encode()),
    ):
        assert parse(media_type, body).password == password


@pytest.mark.parametrize(
    "body", [b"", b"not json", b'["username","password"]', b'"jane"', b"{", b"[" * 100_000]
)
def test_malformed_json(body: bytes) -> None:
    error = refused(JSON, body)
    assert (error.status, error.error) == (400, "malformed_body")


@pytest.mark.parametrize("body", [b"username", b"&&", b"username=a&&password=b", b"=x"])
def test_malformed_form(body: bytes) -> None:
    error = refused(FORM, body)
    assert error.status == 400


_field_values = st.one_of(st.text(max_size=20), st.integers(), st.none(), st.booleans())


@settings(max_examples=300, deadline=None)
@given(
    media_type=st.sampled_from([JSON, FORM, "application/problem+json"]),
    body=st.one_of(
        st.binary(max_size=200),
        st.dictionaries(
            st.sampled_from(["username", "password", "x"]), _field_values, max_size=3
        ).map(lambda d: json.dumps(d).encode()),
        st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")),
    ),
)
def test_arbitrary_bytes_raise_only_invalid_request(media_type: str, body: bytes) -> None:
    status = None
    try:
        fields = parse_fields(media_type, body, "username", "password", 16)
    except InvalidRequest as error:
        status = error.status
    if status is not None:
        assert status in (400, 413)
    else:
        assert isinstance(fields.username, str)
        assert isinstance(fields.password, str)
        assert "\x00" not in fields.username + fields.password
        assert len(fields.username) <= 16
        assert len(fields.password) <= 16
