"""The OpenLDAP harness itself: the directory holds exactly what openldap_people says.

ldap3 is only a client here; the server was seeded with slapadd and ldapmodify.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ldap3 import BASE, NONE, SUBTREE, Connection, Server
from ldap3.core.exceptions import LDAPSocketReceiveError
from ldap3.utils.conv import escape_filter_chars

from tests.harness.openldap_people import (
    BASE_DN,
    BENCH_PASSWORD,
    GROUP_DNS,
    GROUPS,
    PEOPLE,
    PEOPLE_DN,
    SERVICE_DN,
    SERVICE_PASSWORD,
    STRICT_MAX_FAILURES,
    Person,
    bench_login,
    nested_group_dns,
)
from tests.harness.slapd import OpCounts, SlapdError, SlapdServer

pytestmark = pytest.mark.openldap

SUCCESS = 0
INVALID_CREDENTIALS = 49
UNWILLING_TO_PERFORM = 53
INSUFFICIENT_ACCESS = 50

USABLE = [p for p in PEOPLE.values() if not p.locked]


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdServer]:
    server = SlapdServer(tmp_path_factory.mktemp("slapd"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fresh_slapd(tmp_path: Path) -> Iterator[SlapdServer]:
    """A server of its own for tests that crash, freeze or lock things."""
    with SlapdServer(tmp_path, extra_users=25) as server:
        yield server


def connect(
    server: SlapdServer,
    dn: str | None = None,
    password: str | None = None,
    receive_timeout: int = 2,
) -> Connection:
    """An unbound ldap3 connection with short timeouts, so a frozen slapd fails fast.

    The password goes as UTF-8 bytes: ldap3 would SASLprep a ``str`` (and refuse a tab).
    """
    target = Server(server.url, get_info=NONE, connect_timeout=2)
    typed = None if password is None else password.encode()
    return Connection(
        target, user=dn, password=typed, receive_timeout=receive_timeout, read_only=True
    )


def bind_result(server: SlapdServer, dn: str, password: str) -> int:
    """The LDAP result code of a simple bind, on a connection that is closed again."""
    conn = connect(server, dn, password)
    try:
        conn.bind()
        return int(conn.result["result"])
    finally:
        conn.unbind()


@contextlib.contextmanager
def bound(
    server: SlapdServer,
    dn: str | None = SERVICE_DN,
    password: str | None = SERVICE_PASSWORD,
    receive_timeout: int = 2,
) -> Iterator[Connection]:
    """A bound connection (the service account unless told otherwise), always closed."""
    conn = connect(server, dn, password, receive_timeout)
    try:
        assert conn.bind(), conn.result
        yield conn
    finally:
        conn.unbind()


def entries(conn: Connection) -> list[dict[str, Any]]:
    """The entries of the last search, without referrals."""
    return [e for e in conn.response or [] if e["type"] == "searchResEntry"]


def find(conn: Connection, flt: str, attributes: list[str] | None = None) -> list[dict[str, Any]]:
    conn.search(PEOPLE_DN, flt, SUBTREE, attributes=attributes or ["uid"])
    return [{"dn": e["dn"], **e["attributes"]} for e in entries(conn)]


def lower(dns: Iterable[object]) -> set[str]:
    return {str(dn).lower() for dn in dns}


def member_of(conn: Connection, dn: str) -> set[str]:
    conn.search(dn, "(objectClass=*)", BASE, attributes=["memberOf"])
    return lower(entries(conn)[0]["attributes"]["memberOf"])


# ------------------------------------------------------------------ content


def test_service_account_finds_every_person_by_escaped_uid(slapd: SlapdServer) -> None:
    with bound(slapd) as conn:
        for person in PEOPLE.values():
            flt = f"(uid={escape_filter_chars(person.login)})"
            entries = find(conn, flt, ["displayName", "telephoneNumber", "mail", "cn"])
            assert [e["dn"] for e in entries] == [person.dn], person.login
            entry = entries[0]
            assert entry["displayName"] == [person.display_name]
            assert tuple(entry["telephoneNumber"]) == person.phones
            assert entry["mail"] == [person.mail]
            assert entry["cn"] == [person.cn]


def test_people_are_exactly_the_module_data(slapd: SlapdServer) -> None:
    with bound(slapd) as conn:
        entries = find(conn, "(objectClass=inetOrgPerson)")
    assert {e["dn"] for e in entries} == {p.dn for p in PEOPLE.values()}


def test_shared_mail_matches_two_entries(slapd: SlapdServer) -> None:
    with bound(slapd) as conn:
        entries = find(conn, "(mail=shared@example.org)")
    assert {e["dn"] for e in entries} == {PEOPLE["twin1"].dn, PEOPLE["twin2"].dn}


def test_metacharacter_login_matches_only_itself(slapd: SlapdServer) -> None:
    """Unescaped, star*user is a wildcard matching several people; escaped, one."""
    with bound(slapd) as conn:
        assert len(find(conn, "(uid=*user*)")) > 1
        assert [e["dn"] for e in find(conn, r"(uid=star\2auser)")] == [PEOPLE["star*user"].dn]


def test_service_account_cannot_read_passwords(slapd: SlapdServer) -> None:
    with bound(slapd) as conn:
        entry = find(conn, "(uid=jdoe)", ["userPassword", "cn"])[0]
    assert entry["cn"] == ["Jane Doe"]
    assert not entry.get("userPassword")


def test_anonymous_search_returns_nothing(slapd: SlapdServer) -> None:
    with bound(slapd, None, None) as conn:
        conn.search(BASE_DN, "(objectClass=*)", SUBTREE, attributes=["*"])
        assert entries(conn) == []


# ------------------------------------------------------------------ binds


@pytest.mark.parametrize("person", USABLE, ids=[p.login for p in USABLE])
def test_person_binds_with_their_password(slapd: SlapdServer, person: Person) -> None:
    assert bind_result(slapd, person.dn, person.password) == SUCCESS


@pytest.mark.parametrize("login", ["jdoe", "ulrich", "punct", "spacey"])
def test_almost_right_password_is_rejected(slapd: SlapdServer, login: str) -> None:
    person = PEOPLE[login]
    right = person.password
    for wrong in {right + "x", right[:-1], right.strip(), right.upper()} - {right}:
        assert bind_result(slapd, person.dn, wrong) == INVALID_CREDENTIALS, wrong


def test_locked_person_is_refused_with_49_even_with_right_password(slapd: SlapdServer) -> None:
    person = PEOPLE["locked"]
    assert bind_result(slapd, person.dn, person.password) == INVALID_CREDENTIALS


def test_must_change_person_binds_but_may_do_nothing_else(slapd: SlapdServer) -> None:
    person = PEOPLE["mustchange"]
    with bound(slapd, person.dn, person.password) as conn:
        conn.search(person.dn, "(objectClass=*)", BASE, attributes=["cn"])
        assert conn.result["result"] == INSUFFICIENT_ACCESS


def test_empty_password_with_dn_is_unwilling(slapd: SlapdServer) -> None:
    """Documents slapd's default; ldap3 refuses to send it, so speak BER directly."""
    dn = PEOPLE["jdoe"].dn.encode()
    bind = b"\x02\x01\x03\x04" + bytes([len(dn)]) + dn + b"\x80\x00"
    message = b"\x02\x01\x01\x60" + bytes([len(bind)]) + bind
    with socket.create_connection(("127.0.0.1", slapd.port), timeout=2) as sock:
        sock.sendall(b"\x30" + bytes([len(message)]) + message)
        reply = sock.recv(128)
    # SEQUENCE len, message id (3 bytes), BindResponse tag len, ENUMERATED len, code
    assert (reply[5], reply[7:9]) == (0x61, b"\x0a\x01")
    assert reply[9] == UNWILLING_TO_PERFORM


# ------------------------------------------------------------------ groups


def test_member_of_lists_direct_groups_of_every_person(slapd: SlapdServer) -> None:
    with bound(slapd) as conn:
        for person in PEOPLE.values():
            assert member_of(conn, person.dn) == lower(person.groups), person.login


def test_nested_groups_carry_member_of_so_the_chain_can_be_walked(slapd: SlapdServer) -> None:
    with bound(slapd) as conn:
        assert member_of(conn, GROUP_DNS["sales"]) == {GROUP_DNS["ringotel-users"]}
        assert member_of(conn, GROUP_DNS["cycle-a"]) == {GROUP_DNS["cycle-b"]}
        assert member_of(conn, GROUP_DNS["cycle-b"]) == {GROUP_DNS["cycle-a"]}


def test_nested_group_dns_follows_nesting_and_survives_the_cycle() -> None:
    user01 = PEOPLE["user01"]
    assert GROUP_DNS["ringotel-users"] not in user01.groups
    assert nested_group_dns(user01) == {GROUP_DNS["sales"], GROUP_DNS["ringotel-users"]}
    cycle = {GROUP_DNS["cycle-a"], GROUP_DNS["cycle-b"]}
    assert nested_group_dns(PEOPLE["user09"]) == {GROUP_DNS["ringotel-users"], *cycle}


def test_group_members_match_the_module_data(slapd: SlapdServer) -> None:
    with bound(slapd) as conn:
        for group in GROUPS.values():
            conn.search(group.dn, "(objectClass=groupOfNames)", BASE, attributes=["member"])
            assert lower(entries(conn)[0]["attributes"]["member"]) == lower(group.members)


# ------------------------------------------------------------------ log counters


def test_count_ops_counts_connections_binds_and_searches(slapd: SlapdServer) -> None:
    slapd.reset_counts()
    with bound(slapd) as conn:
        find(conn, "(uid=jdoe)")
        find(conn, "(uid=user01)")
        counts = slapd.count_ops()
    assert (counts.connections, counts.binds, counts.searches) == (1, 1, 2)
    slapd.reset_counts()
    assert slapd.count_ops() == OpCounts(connections=0, binds=0, searches=0)


# ------------------------------------------------------------------ faults


def test_bench_users_exist_and_bind(fresh_slapd: SlapdServer) -> None:
    dn = f"uid={bench_login(25)},{PEOPLE_DN}"
    with bound(fresh_slapd) as conn:
        assert len(find(conn, "(uid=bench*)")) == 25
        assert member_of(conn, dn) == {GROUP_DNS["ringotel-users"]}
    assert bind_result(fresh_slapd, dn, BENCH_PASSWORD) == SUCCESS


def test_kill_then_restart_keeps_port_and_data(fresh_slapd: SlapdServer) -> None:
    jdoe = PEOPLE["jdoe"]
    port, old_pid = fresh_slapd.port, fresh_slapd.pid
    fresh_slapd.ldapmodify(f"dn: {jdoe.dn}\nchangetype: modify\nreplace: title\ntitle: CEO\n")
    fresh_slapd.kill()
    assert not fresh_slapd.running
    # A raw socket: ldap3 leaks its socket when the connection is refused.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    fresh_slapd.restart()
    assert (fresh_slapd.port, fresh_slapd.running) == (port, True)
    assert fresh_slapd.pid != old_pid
    with bound(fresh_slapd) as conn:
        assert find(conn, "(uid=jdoe)", ["title"])[0]["title"] == ["CEO"]
        assert member_of(conn, jdoe.dn) == lower(jdoe.groups)


def test_pause_makes_requests_time_out_and_resume_answers_them(
    fresh_slapd: SlapdServer,
) -> None:
    with bound(fresh_slapd, receive_timeout=1) as conn:
        fresh_slapd.pause()
        began = time.monotonic()
        with pytest.raises(LDAPSocketReceiveError):
            conn.search(PEOPLE_DN, "(uid=jdoe)", SUBTREE)
        assert 0.9 < time.monotonic() - began < 3
    fresh_slapd.resume()
    with bound(fresh_slapd) as conn:
        assert find(conn, "(uid=jdoe)")[0]["dn"] == PEOPLE["jdoe"].dn


def test_stop_ends_a_paused_server(fresh_slapd: SlapdServer) -> None:
    pid = fresh_slapd.pid
    fresh_slapd.pause()
    fresh_slapd.stop()
    assert not fresh_slapd.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_strict_policy_locks_after_failures_and_unlock_restores(fresh_slapd: SlapdServer) -> None:
    person = PEOPLE["fragile"]
    for _ in range(STRICT_MAX_FAILURES):
        assert bind_result(fresh_slapd, person.dn, "wrong") == INVALID_CREDENTIALS
    assert bind_result(fresh_slapd, person.dn, person.password) == INVALID_CREDENTIALS
    fresh_slapd.unlock(person.dn)
    assert bind_result(fresh_slapd, person.dn, person.password) == SUCCESS


def test_start_fails_fast_with_log_tail_when_slapd_dies(tmp_path: Path) -> None:
    server = SlapdServer(tmp_path)
    server.start()
    server.stop()
    server.conf_path.write_text(server.conf_path.read_text() + "\nnonsense-directive 1\n")
    began = time.monotonic()
    with pytest.raises(SlapdError, match="nonsense-directive"):
        server.start()
    assert time.monotonic() - began < 3
