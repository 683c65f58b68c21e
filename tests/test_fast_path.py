"""The fast path, proven on slapd's own stats log: a repeat login within the user-entry
TTL is one BIND on an already-open connection; a cached DN that stopped working is
looked up again once, and a wrong password still costs the account one bad attempt.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import openldap_people as people
from tests.harness.auth_client import login_status
from tests.harness.configs import openldap_raw
from tests.harness.in_process import StartBridge
from tests.harness.slapd import OpCounts, SlapdError, SlapdServer

pytestmark = pytest.mark.openldap


@pytest.fixture
def raw(slapd: SlapdServer, tmp_path: Path) -> dict[str, Any]:
    return openldap_raw(slapd, tmp_path)


@pytest.fixture
async def client(start_bridge: StartBridge) -> Any:
    # The default protection settings, user_cache_ttl included: that is what is promised.
    return await start_bridge()


async def counted(
    slapd: SlapdServer, client: Any, username: str, password: str
) -> tuple[int, OpCounts]:
    slapd.reset_counts()
    status = await login_status(client, username, password)
    return status, slapd.count_ops()


async def test_repeat_login_is_one_bind_on_an_open_connection(
    client: Any, slapd: SlapdServer
) -> None:
    person = people.PEOPLE["user03"]
    status, first = await counted(slapd, client, person.login, person.password)
    assert status == 200
    # the cold login really did look the user up, and who else holds its one username
    assert first.searches == 1 + len(person.usernames)
    for _ in range(5):
        status, again = await counted(slapd, client, person.login, person.password)
        assert status == 200
        assert again == OpCounts(connections=0, binds=1, searches=0)


async def test_wrong_password_on_cached_entry_costs_one_bind(
    client: Any, slapd: SlapdServer
) -> None:
    person = people.PEOPLE["user04"]
    assert await login_status(client, person.login, person.password) == 200
    status, wrong = await counted(slapd, client, person.login, "not the password")
    assert status == 403
    # one bad attempt charged to the account; one search to see whether the DN moved
    assert wrong == OpCounts(connections=0, binds=1, searches=1)
    status, right = await counted(slapd, client, person.login, person.password)
    assert status == 200
    assert (right.binds, right.searches) == (1, 1)  # the entry was dropped: full lookup


@pytest.fixture
def renamed(slapd: SlapdServer) -> Iterator[tuple[people.Person, str]]:
    """user05 renamed in place (new RDN, same uid): its cached DN no longer exists."""
    person = people.PEOPLE["user05"]
    new_rdn = "cn=User 05 Renamed"
    new_dn = f"{new_rdn},{people.PEOPLE_DN}"
    yield person, (f"dn: {person.dn}\nchangetype: modrdn\nnewrdn: {new_rdn}\ndeleteoldrdn: 0\n")
    with contextlib.suppress(SlapdError):  # not renamed (the test failed early): nothing to undo
        slapd.ldapmodify(
            f"dn: {new_dn}\nchangetype: modrdn\nnewrdn: uid={person.login}\ndeleteoldrdn: 1\n"
        )


async def test_renamed_user_is_looked_up_again_and_logs_in(
    client: Any, slapd: SlapdServer, renamed: tuple[people.Person, str]
) -> None:
    person, modrdn = renamed
    assert await login_status(client, person.login, person.password) == 200
    slapd.ldapmodify(modrdn)
    status, ops = await counted(slapd, client, person.login, person.password)
    assert status == 200
    # the stale DN fails once, the full lookup runs once, the new DN binds; the cached
    # holder of its username is the old DN, so the holders are searched once again
    assert ops == OpCounts(connections=0, binds=2, searches=1 + len(person.usernames))
    status, again = await counted(slapd, client, person.login, person.password)
    assert status == 200
    assert again == OpCounts(connections=0, binds=1, searches=0)  # the new DN is cached
