"""Direct-bind mode (no service account): the login fills a bind template.

Some sites will not hand out a service account. Then the user's own bind must find
the entry, its attributes and its groups, and a DN template must escape the login so
it cannot name somebody else's entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.harness import ad_people
from tests.harness import openldap_people as people
from tests.harness.auth_client import DENIED, audit, expected_body, login
from tests.harness.configs import ad_raw, openldap_raw, without_service_account
from tests.harness.in_process import StartBridgeFrom
from tests.harness.samba import SambaDC
from tests.harness.slapd import SlapdServer


@pytest.fixture
async def slapd_client(
    slapd: SlapdServer, tmp_path: Path, start_bridge_from: StartBridgeFrom
) -> Any:
    raw = without_service_account(
        openldap_raw(slapd, tmp_path), f"uid={{login}},{people.PEOPLE_DN}"
    )
    raw["groups"] = {
        "allow": [people.GROUP_DNS[people.ALLOWED_GROUP]],
        "deny": [people.GROUP_DNS[people.DENIED_GROUP]],
        "strategy": "member_search",
    }
    return await start_bridge_from(raw)


@pytest.mark.openldap
@pytest.mark.parametrize("name", ["jdoe", "user01", "back\\slash", "star*user", "zoë"])
async def test_openldap_direct_bind_reads_entry_and_nested_groups(
    slapd_client: Any, name: str
) -> None:
    person = people.PEOPLE[name]
    status, body = await login(slapd_client, name, person.password)
    assert (status, body) == (200, expected_body(person))


@pytest.mark.openldap
@pytest.mark.parametrize(
    ("name", "password", "reason"),
    [
        ("jdoe", "wrong", "bad_password"),
        ("outsider", people.PEOPLE["outsider"].password, "not_in_allowed_group"),
        ("user10", people.PEOPLE["user10"].password, "in_denied_group"),
        # a DN fragment as login: escaped into one RDN value, so it names nobody
        (f"jdoe,{people.PEOPLE_DN}", people.PEOPLE["jdoe"].password, "bad_password"),
    ],
)
async def test_openldap_direct_bind_denials(
    slapd_client: Any, log_stream: Any, name: str, password: str, reason: str
) -> None:
    assert await login(slapd_client, name, password) == (403, DENIED)
    assert audit(log_stream, name)["reason"] in (reason, "invalid_login")


@pytest.mark.samba
async def test_ad_direct_bind_with_upn_template(
    samba_dc: SambaDC,
    tmp_path: Path,
    start_bridge_from: StartBridgeFrom,
    log_stream: Any,
) -> None:
    raw = without_service_account(ad_raw(samba_dc, tmp_path), "{login}@example.test")
    raw["groups"] = {"allow": [ad_people.RINGOTEL_USERS], "deny": [ad_people.RINGOTEL_DENIED]}
    client = await start_bridge_from(raw)
    # alice is in Ringotel Users only through Sales Team: tokenGroups read as alice herself
    answer = await login(client, "alice", ad_people.ALICE.password)
    event = audit(log_stream, "alice")
    assert answer == (200, expected_body(ad_people.ALICE)), (event["reason"], event.get("detail"))
    # jsmith's userPrincipalName is john.smith@...; the implicit UPN still finds him
    assert (await login(client, "jsmith", ad_people.JSMITH.password))[0] == 200
    assert await login(client, "alice", "not her password") == (403, DENIED)
    assert audit(log_stream, "alice")["reason"] == "bad_password"
    assert await login(client, "disabled", ad_people.DISABLED.password) == (403, DENIED)
    assert audit(log_stream, "disabled")["reason"] == "account_disabled"
    assert await login(client, "dana", ad_people.DANA.password) == (403, DENIED)
    assert audit(log_stream, "dana")["reason"] == "in_denied_group"


@pytest.mark.samba
async def test_ad_direct_bind_with_domain_prefix_template(
    samba_dc: SambaDC,
    tmp_path: Path,
    start_bridge_from: StartBridgeFrom,
    log_stream: Any,
) -> None:
    """``EXAMPLE\\{login}``: AD's preset finds the bound user by sAMAccountName (the
    preset's self filter; AD has no usable WhoAmI), escaped once."""
    template = f"{ad_people.NETBIOS_DOMAIN}\\{{login}}"
    raw = without_service_account(ad_raw(samba_dc, tmp_path), template)
    client = await start_bridge_from(raw)
    for person in (ad_people.ALICE, ad_people.JSMITH):
        answer = await login(client, person.sam, person.password)
        event = audit(log_stream, person.sam)
        assert answer == (200, expected_body(person)), (event["reason"], event.get("detail"))
        assert event["dn"] == person.dn
    assert await login(client, "alice", "not her password") == (403, DENIED)
    assert audit(log_stream, "alice")["reason"] == "bad_password"
