"""Passwords reach the directory exactly as typed, and no password is ever a 5xx.

AD and slapd compare a simple-bind password octet for octet; ldap3 would run SASLprep
over a ``str`` (see bridge.passwords): a no-break space became a space, a soft hyphen
or a BOM vanished, and a tab, a control character or mixed-direction text raised
inside the bind (a 500, where an unknown user gets a 403). Each backend is asked over
real HTTP: the private Samba AD DC, the private slapd and the file directory, with
people whose real passwords hold exactly those characters.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.directory.file import FileDirectory
from bridge.directory.passwords import as_typed, hash_password, verify_password
from bridge.web.keys import RUNTIME
from tests.harness import ad_people
from tests.harness import openldap_people as people
from tests.harness.auth_client import (
    AUTH,
    DENIED,
    audit,
    audit_events,
    expected_body,
    login,
    operations,
)
from tests.harness.bridge_process import run_command, write_config
from tests.harness.client_credentials import CLIENT_PASSWORD, CLIENT_USER
from tests.harness.configs import ad_raw, openldap_raw, write_secret
from tests.harness.in_process import StartBridgeFrom
from tests.harness.samba import SambaDC
from tests.harness.slapd import SlapdServer

NBSP = "\u00a0"
#: Wrong passwords a client may send: none may ever be answered with a 5xx.
ODD_WRONG_PASSWORDS = {
    "control": "ctl\x01\x02\x1b\x7f-pw",
    "tab": "tab\tpassword",
    "soft-hyphen": "soft\u00adpassword",
    "bom": "\ufeffpassword",
    "nbsp": f"no{NBSP}break",
    "zero-width": "zero\u200bwidth",
    "rtl-hebrew": "\u05e1\u05d9\u05e1\u05de\u05d4",
    "rtl-mixed": "pass-\u05e9\u05dc\u05d5\u05dd-\u0643\u0644\u0645\u0629",
    "combining": "e\u0301e\u0301",
    "private-use": "\ue000\U0010fffd",
    "emoji": "\U0001f511 key",
    "line-separator": "line\u2028para\u2029",
    "very-long": "x" * 1000,
}
#: JSON bodies whose strings are not valid Unicode: a lone surrogate, in either field.
LONE_SURROGATE_BODIES = {
    "password-high": '{"username": "%s", "password": "pw\\ud800"}',
    "password-low": '{"username": "%s", "password": "\\udfff"}',
    "username": '{"username": "%s\\ud83d", "password": "pw"}',
}
#: Characters a client can send in JSON, lone surrogates and NUL included, with the
#: ones SASLprep trips over drawn often.
ANY_CHARACTER = st.one_of(
    st.sampled_from(["\u00a0", "\u00ad", "\t", "\ufeff", "\u200b", "\ud800", "\x01", "\u05e9"]),
    st.characters(codec=None, categories=None),
)
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def sasl_prepped(password: str) -> str:
    """What ldap3 used to send instead: no-break and zero-width spaces become spaces,
    soft hyphens and BOMs vanish (the cases where SASLprep changes rather than raises)."""
    return (
        password.replace(NBSP, " ")
        .replace("\u200b", " ")
        .replace("\u00ad", "")
        .replace("\ufeff", "")
    )


async def post_raw(client: Any, body: str, form: bool = False) -> tuple[int, Any]:
    content_type = "application/x-www-form-urlencoded" if form else "application/json"
    response = await client.post(
        "/auth",
        data=body.encode("utf-8"),
        headers={"Authorization": AUTH, "Content-Type": content_type},
    )
    return response.status, await response.json()


async def assert_lone_surrogates_are_400_before_any_lookup(
    client: Any, login_name: str, log_stream: Any, work_done: Callable[[], int]
) -> None:
    before = work_done()
    for body in LONE_SURROGATE_BODIES.values():
        status, answer = await post_raw(client, body % login_name)
        assert status == 400, body
        assert answer["error"] == "invalid_field"
    assert work_done() == before, "a malformed body reached the directory"
    assert audit_events(log_stream) == []


def assert_password_not_logged(log_stream: Any, passwords: list[str]) -> None:
    text = log_stream.getvalue()
    for password in passwords:
        assert json.dumps(password)[1:-1] not in text
        assert password not in text


# ----------------------------------------------------------------- the one conversion


def test_as_typed_is_utf8_without_any_preparation() -> None:
    for password in (*ODD_WRONG_PASSWORDS.values(), *people.ODD_PASSWORDS.values()):
        assert as_typed(password) == password.encode("utf-8")
    assert as_typed("pw\ud800") is None


# ----------------------------------------------------------------- Samba AD


@pytest.fixture
async def samba_client(
    samba_dc: SambaDC, tmp_path: Path, start_bridge_from: StartBridgeFrom
) -> Any:
    # room for every odd wrong password to reach the DC (the domain itself never locks)
    raw = ad_raw(samba_dc, tmp_path)
    return await start_bridge_from(raw, protection={"max_failures": 50})


@pytest.mark.samba
@pytest.mark.parametrize("person", ad_people.ODD_PASSWORD_PEOPLE, ids=lambda p: p.sam)
async def test_samba_user_logs_in_with_the_password_as_typed(
    samba_client: Any, log_stream: Any, person: ad_people.Person
) -> None:
    status, body = await login(samba_client, person.sam, person.password)
    assert status == 200, audit(log_stream, person.sam)
    assert body == expected_body(person)
    prepped = sasl_prepped(person.password)
    if prepped != person.password:  # what SASLprep made of it is another password
        assert await login(samba_client, person.sam, prepped) == (403, DENIED)
        assert audit(log_stream, person.sam)["reason"] == "bad_password"
    assert_password_not_logged(log_stream, [person.password])


@pytest.mark.samba
@pytest.mark.parametrize("account", [ad_people.TAB, ad_people.NBSP], ids=lambda p: p.sam)
async def test_samba_service_account_password_goes_as_the_file_holds_it(
    samba_dc: SambaDC,
    tmp_path: Path,
    start_bridge_from: StartBridgeFrom,
    account: ad_people.Person,
) -> None:
    """Any AD user may search, so an odd-password user stands in for the service account:
    the login's search and ``check-config --connect``'s probe both bind with the file."""
    raw = ad_raw(samba_dc, tmp_path)
    raw["directory"]["bind_dn"] = account.dn
    raw["directory"]["bind_password_file"] = write_secret(
        tmp_path, "odd-bind-password", account.password
    )
    client = await start_bridge_from(raw)
    bob = ad_people.BOB
    assert await login(client, bob.sam, bob.password) == (200, expected_body(bob))
    config_path = write_config(tmp_path / "bridge.toml", raw)
    checked = await asyncio.to_thread(
        run_command, "--config", str(config_path), "check-config", "--connect"
    )
    assert f"bind: service account {account.dn} OK" in checked.stdout, checked.stdout
    assert "service account bind failed" not in checked.stdout


@pytest.mark.samba
async def test_samba_nbsp_is_not_a_space(samba_client: Any, log_stream: Any) -> None:
    person = ad_people.NBSP
    assert (await login(samba_client, person.sam, person.password))[0] == 200
    spaced = person.password.replace(NBSP, " ")
    assert await login(samba_client, person.sam, spaced) == (403, DENIED)
    assert audit(log_stream, person.sam)["reason"] == "bad_password"
    # the same in a form body, percent-encoded UTF-8
    assert (await post_raw(samba_client, "username=nbsp&password=Nb%C2%A0sp%23Pass1", True))[
        0
    ] == 200
    assert (await post_raw(samba_client, "username=nbsp&password=Nb+sp%23Pass1", True))[0] == 403


@pytest.mark.samba
@pytest.mark.parametrize("password", ODD_WRONG_PASSWORDS.values(), ids=ODD_WRONG_PASSWORDS)
async def test_samba_odd_wrong_password_is_403_from_the_dc(
    samba_client: Any, log_stream: Any, password: str
) -> None:
    person = ad_people.CAROL
    assert await login(samba_client, person.sam, password) == (403, DENIED)
    event = audit(log_stream, person.sam)
    assert event["reason"] == "bad_password"  # the DC said no; the bridge did not guess
    assert "52e" in event["detail"]


@pytest.mark.samba
async def test_samba_lone_surrogate_is_400_before_any_lookup(
    samba_client: Any, log_stream: Any
) -> None:
    def lookups() -> int:
        return operations(samba_client)["binds"] + operations(samba_client)["searches"]

    await assert_lone_surrogates_are_400_before_any_lookup(samba_client, "bob", log_stream, lookups)


@pytest.mark.samba
@FUZZ
@given(password=st.text(alphabet=ANY_CHARACTER, min_size=1, max_size=30))
async def test_samba_no_password_is_a_5xx(samba_client: Any, password: str) -> None:
    status, _ = await login(samba_client, ad_people.CAROL.sam, password)
    malformed = "\x00" in password or as_typed(password) is None
    assert status == (400 if malformed else 403)


# ----------------------------------------------------------------- slapd


@pytest.fixture
async def slapd_client(
    slapd: SlapdServer, tmp_path: Path, start_bridge_from: StartBridgeFrom
) -> Any:
    raw = openldap_raw(slapd, tmp_path)
    return await start_bridge_from(raw, protection={"max_failures": 50})


@pytest.mark.openldap
@pytest.mark.parametrize("login_name", people.ODD_PASSWORDS)
async def test_slapd_user_logs_in_with_the_password_as_typed(
    slapd_client: Any, log_stream: Any, login_name: str
) -> None:
    person = people.PEOPLE[login_name]
    status, body = await login(slapd_client, person.login, person.password)
    assert status == 200, audit(log_stream, person.login)
    assert body == expected_body(person)
    prepped = sasl_prepped(person.password)
    if prepped != person.password:
        assert await login(slapd_client, person.login, prepped) == (403, DENIED)
        assert audit(log_stream, person.login)["reason"] == "bad_password"
    assert_password_not_logged(log_stream, [person.password])


@pytest.mark.openldap
@pytest.mark.parametrize("password", ODD_WRONG_PASSWORDS.values(), ids=ODD_WRONG_PASSWORDS)
async def test_slapd_odd_wrong_password_is_403_from_the_server(
    slapd_client: Any, log_stream: Any, password: str
) -> None:
    assert await login(slapd_client, "user03", password) == (403, DENIED)
    assert audit(log_stream, "user03")["reason"] == "bad_password"


@pytest.mark.openldap
async def test_slapd_lone_surrogate_is_400_before_any_lookup(
    slapd_client: Any, log_stream: Any
) -> None:
    def lookups() -> int:
        return operations(slapd_client)["binds"] + operations(slapd_client)["searches"]

    await assert_lone_surrogates_are_400_before_any_lookup(
        slapd_client, "user03", log_stream, lookups
    )


@pytest.mark.openldap
@FUZZ
@given(password=st.text(alphabet=ANY_CHARACTER, min_size=1, max_size=30), form=st.booleans())
async def test_slapd_no_password_is_a_5xx(slapd_client: Any, password: str, form: bool) -> None:
    malformed = "\x00" in password or as_typed(password) is None
    if form and as_typed(password) is None:
        return  # a form body is UTF-8: a lone surrogate cannot be put in one
    fields = {"username": "user04", "password": password}
    response = await slapd_client.post(
        "/auth", **({"data": fields} if form else {"json": fields}), headers={"Authorization": AUTH}
    )
    await response.read()
    assert response.status == (400 if malformed else 403)


# ----------------------------------------------------------------- file directory

# Cheap parameters keep the suite fast; verification reads them from each hash.
_CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
#: The same odd passwords as the slapd people, as hashes in a users file.
FILE_USERS = dict(people.ODD_PASSWORDS)


@pytest.fixture
async def file_client(tmp_path: Path, start_bridge_from: StartBridgeFrom) -> Any:
    tables = [
        f'[[users]]\nlogin = "{name}"\npassword_hash = "{_CHEAP.hash(as_typed(password) or b"")}"\n'
        f'telephoneNumber = ["{100 + index}"]\n'
        for index, (name, password) in enumerate(FILE_USERS.items())
    ]
    (tmp_path / "users.toml").write_text("\n".join(tables), encoding="utf-8")
    secret = tmp_path / "client-password"
    secret.write_text(CLIENT_PASSWORD)
    secret.chmod(0o600)
    raw = {
        "server": {"listen": ["127.0.0.1:0"], "ops_listen": ""},
        "client_auth": {"mode": "basic", "username": CLIENT_USER, "password_file": secret.name},
        "directory": {"type": "file", "users_file": "users.toml"},
        "usernames": [{"attribute": "telephoneNumber"}],
        "protection": {"max_failures": 50},
    }
    return await start_bridge_from(raw)


def _verifications(client: Any) -> int:
    directory = client.server.app[RUNTIME].service.directory
    assert isinstance(directory, FileDirectory)
    return directory.stats().operations["verifications"]


@pytest.mark.parametrize("login_name", FILE_USERS)
async def test_file_user_logs_in_with_the_password_as_typed(
    file_client: Any, log_stream: Any, login_name: str
) -> None:
    password = FILE_USERS[login_name]
    status, _ = await login(file_client, login_name, password)
    assert status == 200, audit(log_stream, login_name)
    prepped = sasl_prepped(password)
    if prepped != password:
        assert await login(file_client, login_name, prepped) == (403, DENIED)
        assert audit(log_stream, login_name)["reason"] == "bad_password"


@pytest.mark.parametrize("password", ODD_WRONG_PASSWORDS.values(), ids=ODD_WRONG_PASSWORDS)
async def test_file_odd_wrong_password_is_403(
    file_client: Any, log_stream: Any, password: str
) -> None:
    assert await login(file_client, "tabby", password) == (403, DENIED)
    assert audit(log_stream, "tabby")["reason"] == "bad_password"


async def test_file_lone_surrogate_is_400_before_any_lookup(
    file_client: Any, log_stream: Any
) -> None:
    await assert_lone_surrogates_are_400_before_any_lookup(
        file_client, "tabby", log_stream, lambda: _verifications(file_client)
    )


@FUZZ
@given(password=st.text(alphabet=ANY_CHARACTER, min_size=1, max_size=30))
async def test_file_no_password_is_a_5xx(file_client: Any, password: str) -> None:
    status, _ = await login(file_client, "hebrew", password)
    malformed = "\x00" in password or as_typed(password) is None
    assert status == (400 if malformed else 403)


def test_argon2_check_of_a_lone_surrogate_is_no_not_an_exception() -> None:
    """The directory never gets one over HTTP; called directly, it is a wrong password."""
    stored = _CHEAP.hash("pw")
    assert verify_password(stored, "pw")
    assert not verify_password(stored, "pw\ud800")
    with pytest.raises(ValueError, match="lone surrogate"):
        hash_password("pw\udc80")


def test_hashes_of_str_and_of_typed_bytes_agree() -> None:
    """Hashes made before (argon2-cffi encoded the ``str`` as UTF-8) keep verifying."""
    for password in people.ODD_PASSWORDS.values():
        assert verify_password(_CHEAP.hash(password), password)
        assert verify_password(hash_password(password), password)
