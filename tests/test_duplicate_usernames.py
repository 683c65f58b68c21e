"""Usernames nobody can forge, end to end: the HTTP app against real Samba and slapd.

On AD a plain user may write his own otherIpPhone (the Personal-Information property
set). Bob adds Alice's extension to himself with ldapmodify, bound as himself; the
bridge then hands that extension to neither of them until the forged copy is gone,
names it in the audit log and counts it. Time is a fake clock, never a sleep.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bridge.config import Config
from bridge.guard import Guard
from bridge.observability.metrics import Metrics
from bridge.process.runtime import Runtime
from bridge.process.wiring import build_service
from bridge.web.app import create_app
from tests.harness import ad_people
from tests.harness import openldap_people as people
from tests.harness.auth_client import audit, login, operations
from tests.harness.clock import FakeClock
from tests.harness.configs import ad_raw, openldap_raw, without_service_account
from tests.harness.samba import SambaDC
from tests.harness.slapd import SlapdServer

TTL = 300.0
ALICE, BOB = ad_people.ALICE, ad_people.BOB
STOLEN = ALICE.other_ip_phones[0]  # "202"


Start = Callable[[Config], Awaitable[tuple[TestClient[Any, Any], Runtime]]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_000_000.0)


@pytest.fixture
async def start(clock: FakeClock) -> AsyncIterator[Start]:
    """The real app, its caches on the fake clock (the directory's own timeouts are real)."""
    clients: list[TestClient[Any, Any]] = []
    runtimes: list[Runtime] = []

    async def begin(config: Config) -> tuple[TestClient[Any, Any], Runtime]:
        def builder(config: Config, metrics: Metrics, guard: Guard) -> Any:
            return build_service(config, metrics, guard, clock=clock)

        runtime = Runtime(config, builder=builder)
        runtimes.append(runtime)
        client: TestClient[Any, Any] = TestClient(TestServer(create_app(runtime), host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client, runtime

    yield begin
    for client in clients:
        await client.close()
    for runtime in runtimes:
        await runtime.close()


async def usernames_of(client: Any, name: str, password: str) -> list[str]:
    status, body = await login(client, name, password)
    assert status == 200, body
    return [value["username"] for value in body["values"]]


def dropped(runtime: Runtime, reason: str = "duplicate") -> float:
    sample = runtime.metrics.registry.get_sample_value(
        "ringotel_bridge_usernames_dropped_total", {"reason": reason}
    )
    return sample or 0.0


# ------------------------------------------------------------------ Samba AD


def as_himself(dc: SambaDC, person: ad_people.Person, ldif: str) -> None:
    """ldapmodify on his own entry, bound as himself: no administrator involved."""
    bind = ["-x", "-H", dc.ldaps_url, "-D", person.bind_names[0], "-w", person.password]
    subprocess.run(
        ["ldapmodify", *bind],
        input=f"dn: {person.dn}\nchangetype: modify\n{ldif}",
        capture_output=True,
        text=True,
        env=dc.tool_env(),
        timeout=30,
        check=True,
    )


@pytest.fixture
def bob_restored(samba_dc: SambaDC) -> Iterator[None]:
    yield
    samba_dc.ldapmodify(f"dn: {BOB.dn}\nchangetype: modify\nreplace: otherIpPhone\n-\n")


@pytest.fixture
def ad_config(samba_dc: SambaDC, tmp_path: Path, make_config: Callable[..., Config]) -> Config:
    return make_config(ad_raw(samba_dc, tmp_path), protection={"username_check_ttl": TTL})


@pytest.mark.samba
async def test_samba_forged_extension_is_handed_to_nobody(
    ad_config: Config,
    start: Start,
    clock: FakeClock,
    samba_dc: SambaDC,
    log_stream: Any,
    bob_restored: None,
) -> None:
    client, runtime = await start(ad_config)
    assert await usernames_of(client, "alice", ALICE.password) == list(ALICE.usernames)
    as_himself(samba_dc, BOB, f"add: otherIpPhone\notherIpPhone: {STOLEN}\n")

    # the forger: his login still works, without the stolen extension
    assert await usernames_of(client, "bob", BOB.password) == [BOB.ip_phone]
    assert audit(log_stream, "bob")["dropped_usernames"] == {STOLEN: "duplicate"}
    assert dropped(runtime) == 1
    # the owner loses it too while both entries hold it: the bridge cannot tell who forged
    without = [name for name in ALICE.usernames if name != STOLEN]
    assert await usernames_of(client, "alice", ALICE.password) == without
    assert audit(log_stream, "alice")["dropped_usernames"] == {STOLEN: "duplicate"}
    assert dropped(runtime) == 2

    # the forged copy removed (he can undo it himself), the TTL passes: Alice has it back
    as_himself(samba_dc, BOB, f"delete: otherIpPhone\notherIpPhone: {STOLEN}\n")
    clock.now += TTL + 1
    assert await usernames_of(client, "alice", ALICE.password) == list(ALICE.usernames)
    assert "dropped_usernames" not in audit(log_stream, "alice")
    assert dropped(runtime) == 2


@pytest.mark.samba
@pytest.mark.parametrize("value", ["20*", "2)(ipPhone=201", "a\\2a", "*"])
async def test_samba_value_is_escaped_once_in_the_holder_search(
    ad_config: Config,
    start: Start,
    samba_dc: SambaDC,
    log_stream: Any,
    bob_restored: None,
    value: str,
) -> None:
    """Unescaped, ``20*`` would match Alice's 201 (a false duplicate); escaped twice,
    ``a\\2a`` would match nobody (not found). Once is the only way Bob keeps it."""
    client, _ = await start(ad_config)
    as_himself(samba_dc, BOB, f"add: otherIpPhone\notherIpPhone: {value}\n")
    assert await usernames_of(client, "bob", BOB.password) == [BOB.ip_phone, value]
    assert "dropped_usernames" not in audit(log_stream, "bob")


@pytest.mark.samba
async def test_samba_second_login_costs_no_extra_search(ad_config: Config, start: Start) -> None:
    client, _ = await start(ad_config)
    person = ad_people.JSMITH

    def searches() -> tuple[int, int]:
        ops = operations(client)
        return ops["searches"], ops["username_searches"]

    assert await usernames_of(client, person.sam, person.password) == list(person.usernames)
    first = searches()
    assert first[1] == len(person.usernames)
    assert await usernames_of(client, person.sam, person.password) == list(person.usernames)
    # the user entry is cached too: the second login is a bind and no search at all
    assert searches() == first


@pytest.mark.samba
async def test_samba_direct_bind_checks_with_the_users_own_connection(
    samba_dc: SambaDC,
    tmp_path: Path,
    make_config: Callable[..., Config],
    start: Start,
    log_stream: Any,
    bob_restored: None,
) -> None:
    """No service account: the holders are searched as the user, right after his bind."""
    raw = without_service_account(ad_raw(samba_dc, tmp_path), "{login}@example.test")
    client, runtime = await start(make_config(raw))
    as_himself(samba_dc, BOB, f"add: otherIpPhone\notherIpPhone: {STOLEN}\n")
    assert await usernames_of(client, "bob", BOB.password) == [BOB.ip_phone]
    assert audit(log_stream, "bob")["dropped_usernames"] == {STOLEN: "duplicate"}
    assert operations(client)["username_searches"] == 2  # 301 and 202, as bob
    without = [name for name in ALICE.usernames if name != STOLEN]
    assert await usernames_of(client, "alice", ALICE.password) == without
    assert dropped(runtime) == 2


# ------------------------------------------------------------------ OpenLDAP

JANE = people.PEOPLE["jdoe"]
OTHER = people.PEOPLE["user05"]


@pytest.fixture
def user05_restored(slapd: SlapdServer) -> Iterator[None]:
    yield
    phones = "".join(f"telephoneNumber: {p}\n" for p in OTHER.phones)
    slapd.ldapmodify(f"dn: {OTHER.dn}\nchangetype: modify\nreplace: telephoneNumber\n{phones}-\n")


@pytest.mark.openldap
async def test_openldap_duplicate_is_withheld_and_cached_check_costs_nothing(
    slapd: SlapdServer,
    tmp_path: Path,
    make_config: Callable[..., Config],
    start: Start,
    clock: FakeClock,
    log_stream: Any,
    user05_restored: None,
) -> None:
    """The harness ACL gives users read only (no 'by self write'): the administrator
    makes the duplicate here, as a careless edit would."""
    config = make_config(openldap_raw(slapd, tmp_path), protection={"username_check_ttl": TTL})
    client, runtime = await start(config)
    stolen = JANE.phones[0]
    slapd.reset_counts()
    assert await usernames_of(client, JANE.login, JANE.password) == list(JANE.phones)
    assert slapd.count_ops().searches == 1 + len(JANE.phones)  # the user, then each value
    slapd.reset_counts()
    assert await usernames_of(client, JANE.login, JANE.password) == list(JANE.phones)
    assert slapd.count_ops().searches == 0  # cached entry, cached "held by Jane alone"

    slapd.ldapmodify(
        f"dn: {OTHER.dn}\nchangetype: modify\nadd: telephoneNumber\ntelephoneNumber: {stolen}\n-\n"
    )
    assert await usernames_of(client, OTHER.login, OTHER.password) == list(OTHER.phones)
    assert audit(log_stream, OTHER.login)["dropped_usernames"] == {stolen: "duplicate"}
    assert await usernames_of(client, JANE.login, JANE.password) == list(JANE.phones[1:])
    assert dropped(runtime) == 2

    slapd.ldapmodify(
        f"dn: {OTHER.dn}\nchangetype: modify\ndelete: telephoneNumber\n"
        f"telephoneNumber: {stolen}\n-\n"
    )
    clock.now += TTL + 1
    assert await usernames_of(client, JANE.login, JANE.password) == list(JANE.phones)
