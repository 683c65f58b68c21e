"""End to end over real HTTP against the private slapd: the contract's status table."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest

from tests.harness import openldap_people as people
from tests.harness.auth_client import AUTH, DENIED, login
from tests.harness.client_credentials import CLIENT_PASSWORD
from tests.harness.configs import openldap_raw
from tests.harness.in_process import StartBridge
from tests.harness.logs import log_events
from tests.harness.slapd import SlapdServer

pytestmark = pytest.mark.openldap


@pytest.fixture
def raw(slapd: SlapdServer, tmp_path: Path) -> dict[str, Any]:
    return openldap_raw(slapd, tmp_path)


@pytest.fixture
async def client(start_bridge: StartBridge) -> Any:
    return await start_bridge()


async def test_correct_password_answers_usernames_in_template(client: Any) -> None:
    jane = people.PEOPLE["jdoe"]
    status, body = await login(client, "jdoe", jane.password)
    assert status == 200
    assert body == {
        "values": [{"username": phone, "display_name": jane.display_name} for phone in jane.phones]
    }


@pytest.mark.parametrize(
    "username",
    ["ulrich", "punct", "spacey", "star*user", "zoë"],
)
async def test_tricky_users_and_passwords_log_in(client: Any, username: str) -> None:
    person = people.PEOPLE[username]
    status, body = await login(client, username, person.password)
    assert status == 200, body
    assert [v["username"] for v in body["values"]] == list(person.phones)


async def test_login_is_case_insensitive_and_answers_directory_spelling(client: Any) -> None:
    jane = people.PEOPLE["jdoe"]
    status, body = await login(client, "JDoe", jane.password)
    assert status == 200
    assert body["values"][0]["display_name"] == jane.display_name


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("jdoe", "wrong password"),
        ("nobody-at-all", "whatever"),
        ("jdoe", ""),
        ("*", "whatever"),
        ("*)(uid=*", "whatever"),
        ("jd*", people.PEOPLE["jdoe"].password),
        ("star*", people.PEOPLE["star*user"].password),
        ("nophone", people.PEOPLE["nophone"].password),
        ("locked", people.PEOPLE["locked"].password),
        ("ulrich", people.PEOPLE["ulrich"].password.upper()),
        ("spacey", people.PEOPLE["spacey"].password.strip()),
    ],
)
async def test_every_denial_has_the_same_body(client: Any, username: str, password: str) -> None:
    status, body = await login(client, username, password)
    assert (status, body) == (403, DENIED)


async def test_metacharacter_logins_only_match_themselves(client: Any) -> None:
    for name in ("paren(user)", "back\\slash"):
        person = people.PEOPLE[name]
        status, body = await login(client, name, person.password)
        assert status == 200, (name, body)
        assert [v["username"] for v in body["values"]] == list(person.phones)
        status, _ = await login(client, name, people.PEOPLE["jdoe"].password)
        assert status == 403


async def test_several_matches_are_a_denial_not_a_guess(
    start_bridge: StartBridge, log_stream: Any
) -> None:
    client = await start_bridge(directory={"accept_mail": True})
    twin = people.PEOPLE["twin1"]
    status, _ = await login(client, twin.mail, twin.password)
    assert status == 403
    audit = [e for e in log_events(log_stream) if e["event"] == "login"]
    assert audit[-1]["reason"] == "ambiguous_user"
    status, body = await login(client, "zoe@example.org", people.PEOPLE["zoë"].password)
    assert status == 200, body


async def test_client_credentials_missing_or_wrong_is_401(client: Any) -> None:
    for headers in ({}, {"Authorization": "Basic " + base64.b64encode(b"ringotel:nope").decode()}):
        response = await client.post(
            "/auth", json={"username": "jdoe", "password": "x"}, headers=headers
        )
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic realm=")


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b"42", "application/json", 400),
        (b'{"username": "jdoe"}', "application/json", 400),
        (b'{"username": 1, "password": "x"}', "application/json", 400),
        (b'{"username": "jdoe", "password": null}', "application/json", 400),
        (b'{"username": "jd\\u0000oe", "password": "x"}', "application/json", 400),
        (b'{"username": "jdoe", "password": "x", "password": "y"}', "application/json", 400),
        (b"username=jdoe", "text/plain", 415),
        (b"\xff\xfe", "application/json", 400),
        (b'{"username": "' + b"a" * 9000 + b'", "password": "x"}', "application/json", 413),
        (b'{"username": "' + b"a" * 2000 + b'", "password": "x"}', "application/json", 413),
    ],
)
async def test_malformed_bodies(client: Any, body: bytes, content_type: str, status: int) -> None:
    response = await client.post(
        "/auth", data=body, headers={"Authorization": AUTH, "Content-Type": content_type}
    )
    assert response.status == status
    answer = await response.json()
    assert set(answer) == {"error", "detail"}
    # and the process keeps serving
    ok, _ = await login(client, "jdoe", people.PEOPLE["jdoe"].password)
    assert ok == 200


async def test_form_body_and_second_path(client: Any) -> None:
    jane = people.PEOPLE["jdoe"]
    response = await client.post(
        "/authorize",
        data={"username": "jdoe", "password": jane.password},
        headers={"Authorization": AUTH},
    )
    assert response.status == 200


async def test_other_methods_and_paths(client: Any) -> None:
    response = await client.get("/auth", headers={"Authorization": AUTH})
    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    response = await client.post("/nope", headers={"Authorization": AUTH})
    assert response.status == 404


async def test_configured_field_names(start_bridge: StartBridge) -> None:
    client = await start_bridge(request={"username_field": "email"})
    jane = people.PEOPLE["jdoe"]
    response = await client.post(
        "/auth", json={"email": "jdoe", "password": jane.password}, headers={"Authorization": AUTH}
    )
    assert response.status == 200


async def test_groups_allow_nested_and_deny(start_bridge: StartBridge, log_stream: Any) -> None:
    groups = {
        "allow": [people.GROUP_DNS[people.ALLOWED_GROUP].upper()],
        "deny": [people.GROUP_DNS[people.DENIED_GROUP]],
        "strategy": "member_search",  # nested, by searching for members
    }
    client = await start_bridge(groups=groups)
    outcomes = {}
    for person in people.PEOPLE.values():
        if (
            person.locked
            or person.must_change
            or not person.phones
            or person.login.startswith("twin")
        ):
            continue
        status, _ = await login(client, person.login, person.password)
        outcomes[person.login] = status
    events = {e["login"]: e["reason"] for e in log_events(log_stream) if e["event"] == "login"}
    for login_name, status in outcomes.items():
        groups = {dn.lower() for dn in people.nested_group_dns(people.PEOPLE[login_name])}
        if people.GROUP_DNS[people.DENIED_GROUP].lower() in groups:
            expected = (403, "in_denied_group")
        elif people.GROUP_DNS[people.ALLOWED_GROUP].lower() not in groups:
            expected = (403, "not_in_allowed_group")
        else:
            expected = (200, "ok")
        assert (status, events[login_name]) == expected, login_name
    assert set(events.values()) == {"ok", "in_denied_group", "not_in_allowed_group"}


async def test_directory_down_is_503_then_recovers(
    start_bridge: StartBridge, slapd: SlapdServer
) -> None:
    client = await start_bridge()
    jane = people.PEOPLE["jdoe"]
    assert (await login(client, "jdoe", jane.password))[0] == 200
    slapd.stop()
    try:
        status, body = await login(client, "jdoe", jane.password)
        assert (status, body) == (503, {"error": "directory_unavailable"})
        status, _ = await login(client, "jdoe", "wrong password")
        assert status == 503
        response = await client.post(
            "/auth", json={"username": "jdoe", "password": "x"}, headers={"Authorization": AUTH}
        )
        assert response.headers["Retry-After"].isdigit()
    finally:
        slapd.start()
    status, body = await login(client, "jdoe", jane.password)
    assert status == 200, body


async def test_a_user_filter_ldap3_cannot_parse_is_misconfigured_not_an_error(
    start_bridge: StartBridge, log_stream: Any
) -> None:
    """What ldap3 raises stops at the directory: a 503 saying which key to fix, never a
    500, and the same for every login."""
    client = await start_bridge(directory={"user_filter": "(uid={login}"})
    assert await login(client, "jdoe", people.PEOPLE["jdoe"].password) == (
        503,
        {"error": "directory_unavailable"},
    )
    event = [e for e in log_events(log_stream) if e.get("event") == "login"][-1]
    assert event["reason"] == "directory_misconfigured", event
    assert "directory.user_filter" in event["detail"]


async def test_no_password_ever_reaches_the_log(client: Any, log_stream: Any) -> None:
    used = []
    for person in list(people.PEOPLE.values())[:12]:
        for password in (person.password, person.password + "-wrong"):
            await login(client, person.login, password)
            used.append(password)
    await client.post(
        "/auth",
        json={"username": "x", "password": "y"},
        headers={"Authorization": "Basic Zm9vOmJhcg=="},
    )
    text = log_stream.getvalue()
    assert '"event": "login"' in text
    for password in [*used, CLIENT_PASSWORD, people.SERVICE_PASSWORD, "Zm9vOmJhcg=="]:
        assert password not in text, password


async def test_a_trickling_body_gets_408_at_the_deadline(start_bridge: StartBridge) -> None:
    client = await start_bridge(server={"request_deadline": "1s"})
    reader, writer = await asyncio.open_connection(client.host, client.port)
    head = (
        "POST /auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: {AUTH}\r\nContent-Length: 60\r\n\r\n"
    )
    writer.write(head.encode() + b'{"username": "jdoe", ')  # and then nothing more
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    assert status_line.startswith(b"HTTP/1.1 408")
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize(
    ("username", "reason"),
    [("mustchange", "password_must_change"), ("locked", "account_locked")],
)
async def test_password_policy_states_deny_with_their_reason(
    client: Any, log_stream: Any, username: str, reason: str
) -> None:
    """slapd's ppolicy overlay: a reset password binds, but is not a usable login."""
    status, body = await login(client, username, people.PEOPLE[username].password)
    assert (status, body) == (403, DENIED)
    events = [e for e in log_events(log_stream) if e["event"] == "login"]
    assert events[-1]["reason"] == reason


async def test_a_client_outside_allowed_clients_gets_403_for_anything(
    start_bridge: StartBridge, log_stream: Any
) -> None:
    client = await start_bridge(server={"allowed_clients": ["10.0.0.0/8"]})
    jane = people.PEOPLE["jdoe"]
    assert await login(client, "jdoe", jane.password) == (403, DENIED)
    for method, path in (("GET", "/auth"), ("POST", "/nope"), ("POST", "/oauth/token")):
        response = await client.request(method, path, data=b"{", headers={"Authorization": AUTH})
        assert (response.status, await response.json()) == (403, DENIED)
    events = [e["event"] for e in log_events(log_stream)]
    assert events.count("client_not_allowed") == 4
    assert "login" not in events  # nothing was read, nobody was asked
