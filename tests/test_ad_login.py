"""Active Directory end to end: the real HTTP app against the session's Samba AD DC.

Every login form AD users type, the bad inputs that must never match anyone, and
each account state with the precise reason in the audit event.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.web.keys import RUNTIME
from tests.harness import ad_people
from tests.harness.ad_people import AccountState, Person
from tests.harness.auth_client import DENIED, audit, expected_body, login, operations
from tests.harness.configs import ad_raw
from tests.harness.in_process import StartBridge
from tests.harness.samba import SambaDC

pytestmark = pytest.mark.samba


#: The audit reason for each account state, given the right password.
STATE_REASONS = {
    AccountState.DISABLED: "account_disabled",
    AccountState.LOCKED_OUT: "account_locked",
    AccountState.PASSWORD_EXPIRED: "password_expired",
    AccountState.MUST_CHANGE_PASSWORD: "password_must_change",
    AccountState.ACCOUNT_EXPIRED: "account_expired",
    AccountState.LOGON_HOURS: "logon_hours",
    AccountState.WORKSTATION: "workstation_restricted",
}


@pytest.fixture
def raw(samba_dc: SambaDC, tmp_path: Path) -> dict[str, Any]:
    document = ad_raw(samba_dc, tmp_path)
    document["directory"]["domain_names"] = [ad_people.NETBIOS_DOMAIN]
    return document


@pytest.fixture
async def client(start_bridge: StartBridge) -> Any:
    return await start_bridge(directory={"accept_mail": True})


# ------------------------------------------------------------------ login forms

LOGIN_FORMS = [
    pytest.param(ad_people.ALICE, "alice", id="sAMAccountName"),
    pytest.param(ad_people.ALICE, "ALICE", id="sAMAccountName-upper"),
    pytest.param(ad_people.JSMITH, "john.smith@example.test", id="userPrincipalName"),
    pytest.param(ad_people.JSMITH, "John.Smith@EXAMPLE.TEST", id="userPrincipalName-mixed"),
    pytest.param(ad_people.BOB, "EXAMPLE\\bob", id="domain-prefix"),
    pytest.param(ad_people.BOB, "example\\BOB", id="domain-prefix-mixed"),
    pytest.param(ad_people.JSMITH, "jsmith@example.test", id="mail"),
    pytest.param(ad_people.JSMITH, "JSMITH@Example.Test", id="mail-mixed"),
    pytest.param(ad_people.ZOE, "zoe", id="non-ascii-cn-and-password"),
    pytest.param(ad_people.PAT, "pat", id="punctuation-password"),
]


@pytest.mark.parametrize(("person", "typed"), LOGIN_FORMS)
async def test_login_forms_answer_directory_spelling(
    client: Any, log_stream: Any, person: Person, typed: str
) -> None:
    status, body = await login(client, typed, person.password)
    assert status == 200, audit(log_stream, typed)
    assert body == expected_body(person)
    event = audit(log_stream, typed)
    assert event["reason"] == "ok"
    assert event["dn"] == person.dn  # the directory's spelling, not the typed one


async def test_mail_form_is_refused_unless_configured(
    start_bridge: StartBridge, log_stream: Any
) -> None:
    client = await start_bridge()
    person = ad_people.JSMITH
    assert await login(client, person.mail, person.password) == (403, DENIED)
    assert audit(log_stream, person.mail)["reason"] == "unknown_user"


async def test_domain_prefix_of_another_domain_is_refused(client: Any, log_stream: Any) -> None:
    person = ad_people.BOB
    assert await login(client, "OTHER\\bob", person.password) == (403, DENIED)
    assert audit(log_stream, "OTHER\\bob")["reason"] == "invalid_login"


BAD_INPUTS = [
    "EXAMPLE\\",
    "\\bob",
    "@example.test",
    "bob@",
    "a\\b\\c",
    "EXAMPLE\\bob\\x",
    "bob@other-domain",
    "bob@other-domain.test",
    "*",
    "b*",
    "*)(sAMAccountName=*",
    "CN=Someone,DC=example,DC=test",
    ad_people.BOB.dn,
    "bob\x00",
]


@pytest.mark.parametrize("typed", BAD_INPUTS)
async def test_bad_inputs_never_match_anyone(client: Any, log_stream: Any, typed: str) -> None:
    """Even with a real user's password, each of these is a plain 403, never a 500."""
    status, body = await login(client, typed, ad_people.BOB.password)
    assert (status, body) == (403, DENIED) or status == 400, (status, body)
    if status == 403:
        assert audit(log_stream, typed)["reason"] in ("invalid_login", "unknown_user")


async def test_wrong_password_and_unknown_user_look_the_same(client: Any, log_stream: Any) -> None:
    assert await login(client, "bob", "not his password") == (403, DENIED)
    assert audit(log_stream, "bob")["reason"] == "bad_password"
    assert await login(client, "nobody-here", "whatever") == (403, DENIED)
    assert audit(log_stream, "nobody-here")["reason"] == "unknown_user"


async def test_nora_without_phone_gets_no_usernames(client: Any, log_stream: Any) -> None:
    person = ad_people.NORA
    assert await login(client, person.sam, person.password) == (403, DENIED)
    assert audit(log_stream, person.sam)["reason"] == "no_usernames"


# ------------------------------------------------------------------ account states


@pytest.mark.parametrize("person", ad_people.REFUSED_PEOPLE, ids=lambda p: p.sam)
async def test_account_state_denies_with_precise_reason(
    client: Any, log_stream: Any, person: Person
) -> None:
    status, body = await login(client, person.sam, person.password)
    assert (status, body) == (403, DENIED)
    event = audit(log_stream, person.sam)
    assert event["reason"] == STATE_REASONS[person.state], event
    # the audit line names the entry and the server that refused it
    assert event["dn"].lower() == person.dn.lower()
    assert event["server"].startswith("ldaps://")


@pytest.mark.parametrize("person", ad_people.REFUSED_PEOPLE, ids=lambda p: p.sam)
async def test_account_state_with_wrong_password_is_just_a_wrong_password(
    client: Any, log_stream: Any, person: Person
) -> None:
    """Only the right password may reveal an account's state (locked always shows)."""
    assert await login(client, person.sam, "Not-The-Password-0") == (403, DENIED)
    event = audit(log_stream, person.sam)
    expected = "account_locked" if person.state is AccountState.LOCKED_OUT else "bad_password"
    assert event["reason"] == expected
    if person.state is AccountState.DISABLED:  # the flags tell the admin it would not help
        assert "the account is also account_disabled" in event["detail"]


async def test_disabled_user_gets_the_same_body_as_a_wrong_password(
    client: Any, log_stream: Any
) -> None:
    person = ad_people.DISABLED
    refused = await login(client, person.sam, person.password)
    wrong = await login(client, ad_people.BOB.sam, "wrong-password")
    assert refused == wrong == (403, DENIED)
    assert audit(log_stream, person.sam)["reason"] == "account_disabled"


# ------------------------------------------------------------------ one bind per password


def bad_password_count(dc: SambaDC, dn: str) -> int:
    return int((dc.read_attr(dn, "badPwdCount") or ["0"])[0])


async def test_wrong_password_with_two_servers_is_tried_once(
    start_bridge: StartBridge, samba_dc: SambaDC, log_stream: Any
) -> None:
    """Two URLs (both this DC): a refused password never fails over to the second.

    ``lockme`` has a lockout policy, so Samba counts its bad attempts in badPwdCount.
    """
    person = ad_people.LOCKME
    urls = [samba_dc.ldaps_url, f"ldaps://{samba_dc.host}"]
    client = await start_bridge(directory={"urls": urls})
    samba_dc.unlock(person.sam)
    before = bad_password_count(samba_dc, person.dn)
    try:
        assert await login(client, person.sam, "Wrong-Password-9") == (403, DENIED)
        assert operations(client)["binds"] == 1
        assert bad_password_count(samba_dc, person.dn) - before == 1
        assert audit(log_stream, person.sam)["reason"] == "bad_password"
    finally:
        samba_dc.unlock(person.sam)


# ------------------------------------------------------------------ password expiry


async def test_password_expiring_within_the_warning_is_reported(
    client: Any, log_stream: Any
) -> None:
    """AD says nothing at bind time: the DC computes msDS-UserPasswordExpiryTimeComputed
    (a FILETIME, from pwdLastSet and the user's PSO), read with the user. ``expiring``'s
    10-day PSO and a password set a day before seeding leave it 2 to 9 days."""
    person = ad_people.EXPIRING
    assert await login(client, person.sam, person.password) == (200, expected_body(person))
    days = audit(log_stream, person.sam)["password_expires_in_days"]
    latest = ad_people.EXPIRING_MAX_AGE_DAYS - ad_people.EXPIRING_SET_DAYS_AGO + 0.1
    assert days > 1
    assert days < latest
    metrics = client.server.app[RUNTIME].metrics
    assert metrics.password_expiring._value.get() == 1
    # the domain's 42-day maximum age leaves everyone else weeks: no warning
    alice = ad_people.ALICE
    assert (await login(client, alice.sam, alice.password))[0] == 200
    assert "password_expires_in_days" not in audit(log_stream, alice.sam)
    assert metrics.password_expiring._value.get() == 1
