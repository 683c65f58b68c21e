"""Property-based: whatever arrives, the answer is one of the contract's status codes, a
wrong password is never a 200, and the process keeps serving. Against the real app
over real HTTP, backed by the private slapd.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.harness import openldap_people as people
from tests.harness.auth_client import AUTH
from tests.harness.configs import openldap_raw
from tests.harness.in_process import StartBridge
from tests.harness.slapd import SlapdServer

pytestmark = pytest.mark.openldap

CONTRACT = {200, 400, 401, 403, 405, 413, 415, 503}
PASSWORDS = frozenset(p.password for p in people.PEOPLE.values())
#: The login checked after each property; fuzzed logins never name it, so it cannot be
#: throttled by the fuzzing itself.
SENTINEL = people.PEOPLE["user08"]

FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

nasty_text = st.text(
    alphabet=st.one_of(st.sampled_from("*()\\\x00,=+<>#;\"' @."), st.characters()), max_size=40
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | nasty_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty_text, inner, max_size=3),
    max_leaves=8,
)
field_names = st.sampled_from(["username", "password", "email", "user", ""]) | nasty_text
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/octet-stream",
        "",
    ]
)
# what an HTTP client can put into a header value: visible latin-1, spaces, tabs
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=80,
)
authorizations = st.one_of(
    st.just(AUTH),
    st.none(),
    header_text,
    st.builds(lambda t: "Basic " + t, header_text),
    st.builds(lambda b: "Basic " + base64.b64encode(b).decode(), st.binary(max_size=60)),
    st.builds(lambda t: "Bearer " + t, header_text),
)


def not_sentinel(login: str) -> bool:
    return SENTINEL.login not in login.casefold()


@pytest.fixture
def raw(slapd: SlapdServer, tmp_path: Path) -> dict[str, Any]:
    return openldap_raw(slapd, tmp_path)


@pytest.fixture
async def client(start_bridge: StartBridge) -> Any:
    # thousands of wrong credentials from one address: the per-source limit (429) has
    # tests of its own; here the contract of each answer is under test
    protection = {"client_max_failures": 10_000, "max_failures": 1000}
    return await start_bridge(protection=protection)


async def still_serving(client: Any) -> None:
    response = await client.post(
        "/auth",
        json={"username": SENTINEL.login, "password": SENTINEL.password},
        headers={"Authorization": AUTH},
    )
    assert response.status == 200


async def send(
    client: Any, body: bytes, content_type: str, authorization: str | None, method: str = "POST"
) -> int:
    headers = {"Content-Type": content_type} if content_type else {}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = await client.request(method, "/auth", data=body, headers=headers)
    await response.read()
    return int(response.status)


@FUZZ
@given(
    body=st.binary(max_size=10_000),
    content_type=content_types,
    method=st.sampled_from(["POST", "POST", "POST", "PUT", "GET", "DELETE", "PATCH"]),
)
async def test_arbitrary_bytes(client: Any, body: bytes, content_type: str, method: str) -> None:
    assert await send(client, body, content_type, AUTH, method) in CONTRACT
    await still_serving(client)


@FUZZ
@given(
    document=st.dictionaries(field_names, json_values, max_size=5) | json_values,
    content_type=content_types,
)
async def test_json_ish_documents(client: Any, document: Any, content_type: str) -> None:
    body = json.dumps(document).encode()
    status = await send(client, body, content_type, AUTH)
    assert status in CONTRACT
    password = document.get("password") if isinstance(document, dict) else None
    if not isinstance(password, str) or password not in PASSWORDS:
        assert status != 200
    await still_serving(client)


@FUZZ
@given(authorization=authorizations, content_type=content_types)
async def test_authorization_headers(
    client: Any, authorization: str | None, content_type: str
) -> None:
    body = json.dumps({"username": SENTINEL.login, "password": SENTINEL.password}).encode()
    status = await send(client, body, content_type, authorization)
    assert status in CONTRACT
    if authorization != AUTH:
        assert status == 401
    await still_serving(client)


@FUZZ
@given(
    login=nasty_text.filter(not_sentinel),
    password=nasty_text.filter(lambda p: p not in PASSWORDS),
    form=st.booleans(),
)
async def test_logins_and_wrong_passwords(
    client: Any, login: str, password: str, form: bool
) -> None:
    if form:  # a form body is UTF-8 text: lone surrogates cannot be sent that way
        assume(all(not 0xD800 <= ord(c) <= 0xDFFF for c in login + password))
    fields = {"username": login, "password": password}
    response = await client.post(
        "/auth",
        **({"data": fields} if form else {"json": fields}),
        headers={"Authorization": AUTH},
    )
    await response.read()
    assert response.status in CONTRACT - {200, 401, 405, 415}
    await still_serving(client)
