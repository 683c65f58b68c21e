"""The failover list changes under running requests (DNS re-resolution) without harm.

A request that took its candidates finishes on them, in a directory thread or on the
event loop; a server that left the list gets none of its connections back into a
pool, and its idle ones are closed. Against the suite's slapd: real connections.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import ldap3
import pytest

from bridge.directory.ldap import wire
from bridge.directory.ldap.binder import Binder
from bridge.directory.ldap.transport import ServerList, ServerState, TransportOptions
from bridge.directory.locator.locator import Placement
from tests.harness import openldap_people as people
from tests.harness.slapd import SlapdServer

pytestmark = pytest.mark.openldap

OPTIONS = TransportOptions(
    start_tls=False,
    ca_file=None,
    tls_server_name=None,
    connect_timeout=2.0,
    operation_timeout=2.0,
    pool_size=4,
    max_age=60.0,
    cooldown=30.0,
)


@pytest.fixture
def servers(slapd: SlapdServer) -> Iterator[ServerList]:
    listed = ServerList([slapd.url], OPTIONS)
    yield listed
    for server in listed.servers:
        server.drop_pools()


def unbound(server: ServerState) -> ldap3.Connection:
    return server.open(None, None)


def read_root(connection: ldap3.Connection) -> bool:
    return bool(connection.search("", "(objectClass=*)", "BASE", attributes=["1.1"]))


def elsewhere(slapd: SlapdServer) -> list[Placement]:
    """The same slapd under another spelling: to the list, a different server."""
    return [Placement(slapd.url.replace("127.0.0.1", "localhost"), None, "srv_domain")]


def test_a_search_in_flight_finishes_and_its_connection_is_not_pooled(
    servers: ServerList, slapd: SlapdServer
) -> None:
    (old,) = taken = servers.candidates()
    old.use("search", unbound, read_root)  # one idle connection in the pool
    assert old._search.qsize() == 1
    started, carry_on = threading.Event(), threading.Event()
    seen: list[ldap3.Connection] = []

    def slow(connection: ldap3.Connection) -> bool:
        seen.append(connection)
        started.set()
        assert carry_on.wait(5)
        return read_root(connection)

    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(old.use, "search", unbound, slow)
        assert started.wait(5)
        retired = servers.replace(elsewhere(slapd))
        assert retired == [old]
        old.retire()
        old.drop_pools()
        assert taken == [old]  # what the request took is unchanged
        carry_on.set()
        assert in_flight.result(5) is True  # the answer still counts
    assert seen[0].closed  # closed when it came back, not pooled
    assert old._search.qsize() == 0
    assert [s.url for s in servers.candidates()] == [elsewhere(slapd)[0].url]


def test_a_server_that_stays_keeps_its_state(servers: ServerList, slapd: SlapdServer) -> None:
    (kept,) = servers.servers
    kept.attempts = 7
    new = [Placement(slapd.url, None, "srv_site"), *elsewhere(slapd)]
    assert servers.replace(new) == []
    assert servers.servers[0] is kept
    assert kept.source == "srv_site"
    assert kept.attempts == 7


async def test_a_bind_in_flight_on_the_loop_finishes_and_its_link_is_closed(
    servers: ServerList, slapd: SlapdServer
) -> None:
    binder = Binder(servers)
    (old,) = servers.servers
    bob = people.PEOPLE["jdoe"]
    answer, _ = await binder.bind(bob.dn, bob.password.encode())
    assert answer.result == 0
    (link,) = binder._idle[old.url]
    in_flight = asyncio.create_task(binder.bind(bob.dn, bob.password.encode()))
    await asyncio.sleep(0)  # it has taken the idle link and sent its request
    assert not binder._idle[old.url]
    for server in servers.replace(elsewhere(slapd)):
        server.retire()
        binder.forget(server)
        await asyncio.to_thread(server.drop_pools)
    answer, server = await in_flight
    assert (answer.result, server) == (0, old)
    assert link.writer.is_closing()  # not given back to a server that left the list
    assert old.url not in binder._idle
    answer, server = await binder.bind(bob.dn, bob.password.encode())
    assert server.url == elsewhere(slapd)[0].url
    await binder.close()


def test_bind_requests_are_unchanged() -> None:
    """The wire module's names that the CLDAP ping borrows are the ones binds use."""
    assert wire.tlv(0x04, b"x") == b"\x04\x01x"
    assert wire.integer(0x02, 5) == b"\x02\x01\x05"
    assert wire.element(b"\x04\x01x", 0) == (0x04, b"x", 3)
