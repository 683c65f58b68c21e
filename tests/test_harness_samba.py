"""The Samba AD harness itself: the domain behaves the way ad_people says.

ldap3 is only a client here; the DC was seeded with ldapmodify and samba-tool.
These tests pin down the AD behaviour the bridge relies on (bind forms, the
``data XXX`` codes, nested groups, badPwdCount), so a Samba upgrade that
changes any of it fails here, not somewhere deep in a bridge test.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

# ldap3 2.9 imports pyasn1 names that pyasn1 now deprecates; with warnings as
# errors that import would fail. Only the import is excused, not later warnings.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="ldap3")
    from ldap3 import BASE, NONE, SUBTREE, Connection, Server, Tls
    from ldap3.core.exceptions import (
        LDAPException,
        LDAPSocketOpenError,
        LDAPSocketReceiveError,
    )
    from ldap3.utils.conv import escape_filter_chars

from tests.harness import ad_people, subsidiary_people
from tests.harness.ad_people import (
    ALICE,
    BOB,
    BULK_GROUP_COUNT,
    CAROL,
    DANA,
    ENABLED_PEOPLE,
    GROUPIE,
    JSMITH,
    LOCKED_OUT,
    LOCKME,
    REFUSED_PEOPLE,
    SERVICE_ACCOUNT,
    WRONG_PASSWORD_DATA,
    AccountState,
    Person,
    effective_groups,
)
from tests.harness.samba import (
    _PROVISION_ARGS,
    SambaDC,
    default_template_cache,
    free_loopback_host,
    live_group_members,
)
from tests.harness.tls import make_ca

pytestmark = [
    pytest.mark.samba,
    # ldap3 checks certificate names with ssl.match_hostname, deprecated since
    # Python 3.7; the check itself is what these tests rely on, so only the
    # warning is silenced.
    pytest.mark.filterwarnings("ignore:ssl.match_hostname:DeprecationWarning"),
]

INVALID_CREDENTIALS = 49
STRONGER_AUTH_REQUIRED = 8
IN_CHAIN = "1.2.840.113556.1.4.1941"
PAGED_RESULTS = "1.2.840.113556.1.4.319"


@pytest.fixture(scope="module")
def samba_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaDC]:
    """This module's own DC, overriding conftest's session DC.

    The tests here kill, pause, restart and reconfigure the DC; the rest of
    the suite should not share one that went through that. It runs on a loopback
    address of its own, next to the session DC, and stops with the module.
    """
    dc = SambaDC(
        tmp_path_factory.mktemp("samba-dc"),
        template_cache=default_template_cache(),
        host=free_loopback_host(),
    )
    dc.start()
    yield dc
    dc.stop()


def _tls(dc: SambaDC) -> Tls:
    return Tls(ca_certs_file=str(dc.ca_file), validate=ssl.CERT_REQUIRED)


def _ldaps_server(dc: SambaDC) -> Server:
    return Server(dc.host, port=636, use_ssl=True, tls=_tls(dc), get_info=NONE)


def _close(conn: Connection) -> None:
    """ldap3 leaves its socket open when open() fails or an answer times out."""
    with contextlib.suppress(LDAPException):
        conn.unbind()
    if conn.socket is not None:
        conn.socket.close()


@contextlib.contextmanager
def _connection(
    server: Server, user: str | None = None, password: str | None = None, timeout: int = 10
) -> Iterator[Connection]:
    """The password goes as UTF-8 bytes, as AD compares it: ldap3 would SASLprep a ``str``."""
    typed = None if password is None else password.encode()
    conn = Connection(
        server, user, typed, auto_referrals=False, receive_timeout=timeout, read_only=True
    )
    try:
        yield conn
    finally:
        _close(conn)


@contextlib.contextmanager
def _bound(dc: SambaDC, user: str, password: str, timeout: int = 10) -> Iterator[Connection]:
    with _connection(_ldaps_server(dc), user, password, timeout) as conn:
        assert conn.bind(), (user, conn.result)
        yield conn


def _admin(dc: SambaDC) -> contextlib.AbstractContextManager[Connection]:
    return _bound(dc, dc.admin_bind, dc.admin_password)


def _service(dc: SambaDC) -> contextlib.AbstractContextManager[Connection]:
    return _bound(dc, SERVICE_ACCOUNT.upn, SERVICE_ACCOUNT.password)


def _bind_failure(dc: SambaDC, user: str, password: str) -> dict[str, object]:
    with _connection(_ldaps_server(dc), user, password) as conn:
        assert not conn.bind(), f"{user} bound with {password!r}"
        return dict(conn.result)


# --- transport -----------------------------------------------------------


def test_ldaps_verifies_the_certificate_against_the_test_ca(samba_dc: SambaDC) -> None:
    with _service(samba_dc) as conn:
        assert conn.server.ssl


def test_ldaps_without_the_test_ca_is_refused(samba_dc: SambaDC) -> None:
    tls = Tls(validate=ssl.CERT_REQUIRED)  # the system trust store only
    server = Server(samba_dc.host, port=636, use_ssl=True, tls=tls, get_info=NONE)
    with (
        _connection(server, SERVICE_ACCOUNT.upn, SERVICE_ACCOUNT.password) as conn,
        pytest.raises(LDAPSocketOpenError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        conn.open()


def test_starttls_on_389_works(samba_dc: SambaDC) -> None:
    server = Server(samba_dc.host, port=389, tls=_tls(samba_dc), get_info=NONE)
    with _connection(server, BOB.upn, BOB.password) as conn:
        conn.open()
        assert conn.start_tls(), conn.result
        assert conn.bind(), conn.result


def _plain_bind(dc: SambaDC, user: str, password: str) -> dict[str, object]:
    server = Server(dc.host, port=389, get_info=NONE)
    with _connection(server, user, password) as conn:
        conn.bind()
        return dict(conn.result)


def test_plain_simple_bind_is_refused_by_default(samba_dc: SambaDC) -> None:
    result = _plain_bind(samba_dc, BOB.upn, BOB.password)
    assert result["result"] == STRONGER_AUTH_REQUIRED
    assert "Transport encryption required" in str(result["message"])


def test_plain_simple_bind_works_without_strong_auth(samba_dc: SambaDC) -> None:
    samba_dc.set_require_strong_auth(False)
    try:
        assert _plain_bind(samba_dc, BOB.upn, BOB.password)["result"] == 0
    finally:
        samba_dc.set_require_strong_auth(True)
    assert _plain_bind(samba_dc, BOB.upn, BOB.password)["result"] == STRONGER_AUTH_REQUIRED


# --- people --------------------------------------------------------------


@pytest.mark.parametrize("person", ENABLED_PEOPLE, ids=lambda p: p.sam)
@pytest.mark.parametrize("form", ["upn-style", "down-level"])
def test_enabled_people_bind_with_both_login_forms(
    samba_dc: SambaDC, person: Person, form: str
) -> None:
    name = person.bind_names[0 if form == "upn-style" else 1]
    with _bound(samba_dc, name, person.password):
        pass


@pytest.mark.parametrize("name", [JSMITH.upn, JSMITH.upn.upper(), JSMITH.dn])
def test_distinct_upn_and_escaped_dn_bind(samba_dc: SambaDC, name: str) -> None:
    with _bound(samba_dc, name, JSMITH.password):
        pass


@pytest.mark.parametrize("person", REFUSED_PEOPLE, ids=lambda p: p.state.name.lower())
def test_right_password_on_a_refused_account_names_the_state(
    samba_dc: SambaDC, person: Person
) -> None:
    result = _bind_failure(samba_dc, person.bind_names[0], person.password)
    assert result["result"] == INVALID_CREDENTIALS
    assert f"data {person.state.bind_data}," in str(result["message"])


@pytest.mark.parametrize("person", REFUSED_PEOPLE, ids=lambda p: p.state.name.lower())
def test_wrong_password_hides_the_state_except_lockout(samba_dc: SambaDC, person: Person) -> None:
    result = _bind_failure(samba_dc, person.bind_names[0], "Not-The-Password-9")
    expected = "775" if person.state is AccountState.LOCKED_OUT else WRONG_PASSWORD_DATA
    assert f"data {expected}," in str(result["message"])


def test_unknown_user_is_52e(samba_dc: SambaDC) -> None:
    result = _bind_failure(samba_dc, f"nobody@{ad_people.REALM}", "Whatever-Pass-1")
    assert f"data {WRONG_PASSWORD_DATA}," in str(result["message"])


def test_locked_account_has_lockout_time(samba_dc: SambaDC) -> None:
    assert int(samba_dc.read_attr(LOCKED_OUT.dn, "lockoutTime")[0]) > 0


def test_people_carry_their_usernames_and_mail(samba_dc: SambaDC) -> None:
    attrs = ["sAMAccountName", "ipPhone", "otherIpPhone", "mail", "displayName"]
    with _service(samba_dc) as conn:
        conn.search(ad_people.STAFF_OU, "(objectClass=user)", SUBTREE, attributes=attrs)
        found = {e.sAMAccountName.value: e for e in conn.entries}
    assert set(found) == set(ad_people.PEOPLE)
    for sam, entry in found.items():
        person = ad_people.PEOPLE[sam]
        other = sorted(entry.otherIpPhone.values)
        assert tuple(filter(None, [entry.ipPhone.value, *other])) == person.usernames
        assert entry.mail.value == person.mail
        assert entry.displayName.value == person.display_name


# --- groups --------------------------------------------------------------


def _in_chain_groups(conn: Connection, person: Person) -> set[str]:
    flt = f"(&(objectClass=group)(member:{IN_CHAIN}:={escape_filter_chars(person.dn)}))"
    conn.search(ad_people.GROUPS_OU, flt, SUBTREE, attributes=["1.1"])
    return {e.entry_dn for e in conn.entries}


@pytest.mark.parametrize("person", [ALICE, JSMITH, DANA, CAROL], ids=lambda p: p.sam)
def test_in_chain_rule_finds_nested_groups(samba_dc: SambaDC, person: Person) -> None:
    with _service(samba_dc) as conn:
        assert _in_chain_groups(conn, person) == effective_groups(person)


def test_member_of_lists_only_direct_groups(samba_dc: SambaDC) -> None:
    assert samba_dc.read_attr(ALICE.dn, "memberOf") == [ad_people.SALES_TEAM]


def test_token_groups_include_nested_groups(samba_dc: SambaDC) -> None:
    with _service(samba_dc) as conn:
        conn.search(ALICE.dn, "(objectClass=*)", BASE, attributes=["tokenGroups"])
        token_sids = set(conn.entries[0].entry_raw_attributes["tokenGroups"])
        for group_dn in effective_groups(ALICE):
            conn.search(group_dn, "(objectClass=*)", BASE, attributes=["objectSid"])
            assert conn.entries[0].entry_raw_attributes["objectSid"][0] in token_sids
    # plus Domain Users and BUILTIN\Users
    assert len(token_sids) == len(effective_groups(ALICE)) + 2


# --- lockout bookkeeping ---------------------------------------------------


def test_bad_pwd_count_counts_and_unlock_resets(samba_dc: SambaDC) -> None:
    assert samba_dc.read_attr(LOCKME.dn, "badPwdCount") == ["0"]
    _bind_failure(samba_dc, LOCKME.bind_names[0], "Wrong-Password-1")
    _bind_failure(samba_dc, LOCKME.bind_names[1], "Wrong-Password-2")
    assert samba_dc.read_attr(LOCKME.dn, "badPwdCount") == ["2"]
    samba_dc.unlock(LOCKME.sam)
    assert samba_dc.read_attr(LOCKME.dn, "badPwdCount") == ["0"]


def test_service_account_can_read_bad_pwd_count(samba_dc: SambaDC) -> None:
    with _service(samba_dc) as conn:
        conn.search(LOCKME.dn, "(objectClass=*)", BASE, attributes=["badPwdCount"])
        assert conn.entries[0].badPwdCount.value == "0"


def test_lockme_has_its_own_policy(samba_dc: SambaDC) -> None:
    pso = next(p for p in ad_people.PASSWORD_POLICIES if p.applies_to == LOCKME.dn)
    assert samba_dc.read_attr(LOCKME.dn, "msDS-ResultantPSO") == [pso.dn]
    assert pso.lockout_threshold == ad_people.LOCKME_THRESHOLD


# --- process control -------------------------------------------------------


def test_pause_stalls_answers_and_resume_brings_them_back(samba_dc: SambaDC) -> None:
    with _bound(samba_dc, SERVICE_ACCOUNT.upn, SERVICE_ACCOUNT.password, timeout=1) as conn:
        samba_dc.pause()
        try:
            # The kernel still completes the TCP handshake: a hung DC, not a dead one.
            socket.create_connection((samba_dc.host, 636), timeout=1).close()
            began = time.monotonic()
            with pytest.raises(LDAPSocketReceiveError):
                conn.search(ALICE.dn, "(objectClass=*)", BASE, attributes=["cn"])
            assert time.monotonic() - began < 3
        finally:
            samba_dc.resume()
    with _service(samba_dc) as conn:
        assert conn.search(ALICE.dn, "(objectClass=*)", BASE, attributes=["cn"])


def _open_paths(pid: int) -> set[str]:
    paths = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            paths.add(os.readlink(fd))
    return {p for p in paths if p.startswith("/")}


def test_everything_lives_under_the_directory(samba_dc: SambaDC) -> None:
    assert samba_dc.pid is not None
    assert (samba_dc.directory / "run" / "samba.pid").read_text().strip() == str(samba_dc.pid)
    opened = set().union(*(_open_paths(pid) for pid in live_group_members(samba_dc.pid)))
    assert str(samba_dc.log_path) in opened
    outside = {p for p in opened if not p.startswith(f"{samba_dc.directory}/")}
    assert outside <= {"/dev/null"}


def test_restart_keeps_the_data(samba_dc: SambaDC) -> None:
    old = samba_dc.pid
    samba_dc.restart()
    assert samba_dc.pid != old
    with _bound(samba_dc, ALICE.upn, ALICE.password):
        pass


def test_kill_leaves_no_process_and_start_recovers(samba_dc: SambaDC) -> None:
    old = samba_dc.pid
    assert old is not None
    assert len(live_group_members(old)) > 1  # the master and the prefork workers
    samba_dc.kill()
    assert live_group_members(old) == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((samba_dc.host, 636), timeout=1)
    samba_dc.start()
    with _bound(samba_dc, ALICE.upn, ALICE.password):
        pass


# --- the opt-in bulk groups --------------------------------------------------


def _count_pages(conn: Connection, base: str, flt: str, size: int) -> tuple[int, int]:
    pages = entries = 0
    cookie: bytes | None = None
    while cookie != b"":
        conn.search(base, flt, SUBTREE, attributes=["1.1"], paged_size=size, paged_cookie=cookie)
        pages += 1
        entries += len(conn.entries)
        cookie = conn.result["controls"][PAGED_RESULTS]["value"]["cookie"]
    return pages, entries


@pytest.mark.slow
def test_bulk_groups_page_and_samba_has_no_max_page_size(samba_dc: SambaDC, tmp_path: Path) -> None:
    """A second DC on another loopback address, next to the session DC.

    Windows AD answers a non-paged search with at most MaxPageSize (1000)
    entries and sizeLimitExceeded; Samba 4.17 returns everything. The bridge
    must page because AD needs it, and this DC cannot prove that it does.
    """
    host = free_loopback_host()
    second = SambaDC(tmp_path, big_group=True, template_cache=default_template_cache(), host=host)
    with second:
        expected = BULK_GROUP_COUNT + len(effective_groups(GROUPIE))
        flt = f"(member:{IN_CHAIN}:={escape_filter_chars(GROUPIE.dn)})"
        with _service(second) as conn:
            assert conn.server.host == host != samba_dc.host
            assert _count_pages(conn, ad_people.GROUPS_OU, flt, 500) == (3, expected)
            conn.search(ad_people.GROUPS_OU, flt, SUBTREE, attributes=["1.1"])
            assert conn.result["description"] == "success"
            assert len(conn.entries) == expected
        with _service(samba_dc) as conn:  # the session DC never noticed
            assert _in_chain_groups(conn, GROUPIE) == effective_groups(GROUPIE)


# --- the seed as data ----------------------------------------------------------


def test_seed_ldif_base64_encodes_what_ldif_cannot_carry_as_text() -> None:
    ldif = ad_people.seed_ldif()
    assert "Zoë" not in ldif  # UTF-8 DN and CN travel as base64
    assert "dn:: " in ldif
    policies = len(ad_people.PASSWORD_POLICIES)
    assert ldif.count("changetype: add") == 3 + 1 + len(ad_people.PEOPLE) + 3 + policies


def test_big_group_adds_one_group_per_bulk_dn() -> None:
    small = ad_people.seed_ldif().count("objectClass: group")
    big = ad_people.seed_ldif(big_group=True).count("objectClass: group")
    assert big - small == BULK_GROUP_COUNT == len(set(ad_people.bulk_group_dns()))


# --- a second domain ---------------------------------------------------------


def test_a_second_realm_has_its_own_templates(tmp_path: Path) -> None:
    """Provisioned and seeded templates are keyed by the realm and its people: the
    second domain never restores the first one's database."""
    first = SambaDC(tmp_path / "a", template_cache=tmp_path / "cache")
    second = SambaDC(tmp_path / "b", template_cache=tmp_path / "cache", people=subsidiary_people)
    assert set(first._template_keys()).isdisjoint(second._template_keys())
    assert "--realm=SUBSIDIARY.TEST" in second._provision_args()
    assert "--domain=SUBSIDIARY" in second._provision_args()
    assert first._provision_args() == _PROVISION_ARGS  # the first realm as before


def test_the_second_dc_is_another_domain(subsidiary_dc: SambaDC) -> None:
    alice = subsidiary_people.ALICE
    assert subsidiary_dc.base_dn == subsidiary_people.BASE_DN
    bind_name = f"SUBSIDIARY\\{alice.sam}"
    assert subsidiary_dc.simple_bind_result(bind_name, alice.password).returncode == 0
    other = subsidiary_dc.simple_bind_result(bind_name, ad_people.ALICE.password)
    assert "data 52e" in other.stderr
    assert subsidiary_dc.read_attr(alice.dn, "ipPhone") == [alice.ip_phone]


# --- tls.py ------------------------------------------------------------------


def _handshake_error(ca_file: Path, cert: Path, key: Path) -> ssl.SSLError | None:
    """Serve one TLS handshake with *cert* and report what a verifying client thinks."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        sock, _ = listener.accept()
        # The client aborts bad handshakes; the server side's view of that is noise.
        with sock, contextlib.suppress(ssl.SSLError, OSError):
            server_ctx.wrap_socket(sock, server_side=True).close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(ca_file))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            client_ctx.wrap_socket(raw, server_hostname="127.0.0.1").close()
    except ssl.SSLError as exc:
        return exc
    finally:
        thread.join(5)
        listener.close()
    return None


def test_tls_certificates_verify_only_when_valid_and_named(tmp_path: Path) -> None:
    ca = make_ca(tmp_path)
    good = ca.issue_server_cert(tmp_path)
    assert good[1].stat().st_mode & 0o777 == 0o600
    assert _handshake_error(ca.cert_path, *good) is None
    expired = _handshake_error(ca.cert_path, *ca.issue_expired_server_cert(tmp_path))
    assert expired is not None
    assert "certificate has expired" in str(expired)
    wrong = _handshake_error(ca.cert_path, *ca.issue_wrong_name_server_cert(tmp_path))
    assert wrong is not None
    assert "IP address mismatch" in str(wrong)
