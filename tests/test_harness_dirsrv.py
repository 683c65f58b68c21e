"""The 389-ds harness itself: the server holds what dirsrv_people says and answers each
account state the way the bridge's 389-ds flavor expects, on loopback only, with
nothing left under /etc.

ldap3 is only a client here; the server was built with dscreate, dsconf and ldapmodify.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ldap3 import BASE, SUBTREE, Connection, Server

from tests.harness import dirsrv_people as people
from tests.harness import dirsrv_root
from tests.harness.dirsrv import DirsrvServer

pytestmark = pytest.mark.dirsrv

EXPIRED_CONTROL = "2.16.840.1.113730.3.4.4"
EXPIRING_CONTROL = "2.16.840.1.113730.3.4.5"


@pytest.fixture
def service(dirsrv: DirsrvServer) -> Iterator[Connection]:
    connection = Connection(
        Server(dirsrv.url), people.SERVICE_DN, people.SERVICE_PASSWORD, auto_bind=True
    )
    yield connection
    connection.unbind()


def bind(dirsrv: DirsrvServer, person: people.Person) -> tuple[int, str, set[str]]:
    connection = Connection(Server(dirsrv.url), person.dn, person.password)
    try:
        connection.bind()
        result = connection.result
        return result["result"], result["message"], set(result.get("controls") or {})
    finally:
        connection.unbind()


def listening_on(port: int) -> list[str]:
    """Local addresses (hex, as /proc shows them) of listening TCP sockets on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if int(hex_port, 16) == port and state == "0A":
                found.append(address)
    return found


@pytest.mark.parametrize(
    ("login", "code", "controls"),
    [
        ("jdoe", 0, set()),
        ("ulrich", 0, set()),
        ("disabled", 53, set()),
        ("locked", 19, set()),
        ("expired", 49, {EXPIRED_CONTROL}),
        ("expiring", 0, {EXPIRING_CONTROL}),
        ("mustchange", 0, {EXPIRED_CONTROL}),
    ],
)
def test_each_state_answers_as_389_does(
    dirsrv: DirsrvServer, login: str, code: int, controls: set[str]
) -> None:
    found, message, sent = bind(dirsrv, people.PEOPLE[login])
    assert found == code, message
    assert controls <= sent


def test_memberof_is_transitive_and_readable_by_the_service_account(
    service: Connection,
) -> None:
    for person in people.PEOPLE.values():
        service.search(people.PEOPLE_DN, f"(uid={person.login})", SUBTREE, attributes=["memberOf"])
        assert len(service.entries) == 1
        found = {dn.lower() for dn in service.entries[0].entry_attributes_as_dict["memberOf"]}
        assert found == {dn.lower() for dn in people.nested_groups(person)}, person.login


def test_the_service_account_reads_the_global_policy_and_the_counters(
    dirsrv: DirsrvServer, service: Connection
) -> None:
    """The README's two ACIs: cn=config's lockout attributes, and the users' own
    operational ones (the lockout counters, the per-user policy's DN)."""
    service.search("cn=config", "(objectClass=*)", BASE, attributes=["passwordMaxFailure"])
    assert int(service.entries[0].passwordMaxFailure.value) == people.GLOBAL_MAX_FAILURES
    locked = people.PEOPLE["locked"]
    service.search(locked.dn, "(objectClass=*)", BASE, attributes=["passwordRetryCount"])
    assert int(service.entries[0].passwordRetryCount.value) == people.GLOBAL_MAX_FAILURES
    strict = people.PEOPLE["strict"]
    service.search(strict.dn, "(objectClass=*)", BASE, attributes=["pwdpolicysubentry"])
    policy = service.entries[0].pwdpolicysubentry.value
    service.search(policy, "(objectClass=*)", BASE, attributes=["passwordMaxFailure"])
    assert int(service.entries[0].passwordMaxFailure.value) == people.STRICT_MAX_FAILURES
    # anonymous users see nothing of it
    anonymous = Connection(Server(dirsrv.url), auto_bind=True)
    anonymous.search(people.PEOPLE_DN, "(uid=*)", SUBTREE)
    assert anonymous.entries == []
    anonymous.unbind()


def test_listens_on_loopback_only_and_leaves_nothing_under_etc(dirsrv: DirsrvServer) -> None:
    assert listening_on(dirsrv.port) == ["0100007F"]  # 127.0.0.1, and no IPv6 socket
    assert sorted(p.name for p in Path("/etc/dirsrv").iterdir()) == ["config", "schema"]
    assert str(dirsrv.config_dir).startswith(str(dirsrv.base_dir))


def test_a_restored_template_starts_in_a_second_and_stops_by_pid(
    dirsrv: DirsrvServer, tmp_path: Path
) -> None:
    """The session's server built or restored the template; a second one copies it to
    another directory and other ports, and stopping it ends its process."""
    server = DirsrvServer(tmp_path, template_cache=dirsrv_root.default_template_cache())
    server.start()
    try:
        assert server.timings.keys() == {"restore", "refresh"}, server.timings
        assert server.port != dirsrv.port
        assert bind(server, people.PEOPLE["jdoe"])[0] == 0
        assert bind(server, people.PEOPLE["locked"])[0] == 19  # refreshed for this start
        pid = server.pid
    finally:
        server.stop()
    assert not Path(f"/proc/{pid}").exists()
    assert not server.running
