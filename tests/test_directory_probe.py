"""What the directory tells its administrator and the ops endpoint, against the real
servers: ``probe()`` (check-config --connect examines every server on its own) and
``stats()`` (servers up or down, connections in use, operations done).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bridge.commands.check_config import check_config
from bridge.config import Config
from bridge.core.ports import Directory
from bridge.process.directories import build_directory
from tests.harness import ad_people, dirsrv_people
from tests.harness import openldap_people as people
from tests.harness.auth_client import directory_of, login
from tests.harness.configs import ad_raw, deep_merge, dirsrv_raw, openldap_raw
from tests.harness.dirsrv import DirsrvServer
from tests.harness.in_process import StartBridgeFrom
from tests.harness.samba import SambaDC
from tests.harness.slapd import SlapdServer

DUMMY_FILTER_LINE = "user filter: OK, 0 entries for the dummy login 'ringotel-bridge-connect-check'"


def dead_url(host: str = "127.0.0.1", scheme: str = "ldap") -> str:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port = sock.getsockname()[1]
    return f"{scheme}://{host}:{port}"


@pytest.fixture
async def directory_for(
    make_config: Callable[..., Config],
) -> AsyncIterator[Callable[[dict[str, Any]], Directory]]:
    built: list[Directory] = []

    def build(raw: dict[str, Any]) -> Directory:
        built.append(build_directory(make_config(raw)))
        return built[-1]

    yield build
    for directory in built:
        await directory.close()


# -- probe ----------------------------------------------------------------------------
@pytest.mark.openldap
async def test_slapd_probe_reports_each_server_on_its_own(
    slapd: SlapdServer, tmp_path: Path, directory_for: Callable[..., Directory]
) -> None:
    dead = dead_url()
    raw = openldap_raw([slapd.url, dead], tmp_path)
    probe = await directory_for(raw).probe()
    good, bad = probe.servers
    assert good.subject == slapd.url
    assert good.failures == ()
    for line in (
        "TLS: none (plain LDAP)",
        f"bind: service account {people.SERVICE_DN} OK",
        f"RootDSE namingContexts: {people.BASE_DN}",
        DUMMY_FILTER_LINE,
        "username attributes: not checked (OpenLDAP publishes no ACL facts); make sure no "
        "slapd ACL gives 'by self write' on telephoneNumber",
    ):
        assert line in good.lines
    assert bad.subject == dead
    assert len(bad.failures) == 1
    assert bad.failures[0].startswith("cannot connect: ")
    assert probe.failed
    assert probe.lockout_notes == ()  # not read while a server fails; ppolicy has no PDC


@pytest.mark.openldap
async def test_slapd_probe_without_a_service_account(
    slapd: SlapdServer, tmp_path: Path, directory_for: Callable[..., Directory]
) -> None:
    raw = openldap_raw(slapd, tmp_path)
    del raw["directory"]["bind_dn"], raw["directory"]["bind_password_file"]
    raw["directory"]["bind_template"] = f"uid={{login}},{people.PEOPLE_DN}"
    probe = await directory_for(raw).probe()
    (found,) = probe.servers
    assert not probe.failed
    assert "bind: no service account (direct bind mode); search skipped" in found.lines
    assert "username attributes: not checked (no service account)" in found.lines
    assert f"RootDSE namingContexts: {people.BASE_DN}" in found.lines


@pytest.mark.openldap
async def test_slapd_probe_says_why_the_dry_run_fails(
    slapd: SlapdServer, tmp_path: Path, directory_for: Callable[..., Directory]
) -> None:
    raw = openldap_raw(slapd, tmp_path)
    raw["directory"]["base_dn"] = "ou=nowhere,dc=example,dc=org"
    (found,) = (await directory_for(raw).probe()).servers
    assert len(found.failures) == 1
    assert found.failures[0].startswith("user search under 'ou=nowhere,dc=example,dc=org' failed")
    assert "directory.base_dn does not exist" in found.failures[0]


@pytest.mark.samba
async def test_samba_probe_shows_tls_the_schema_verdict_and_the_pdc(
    samba_dc: SambaDC, tmp_path: Path, directory_for: Callable[..., Directory]
) -> None:
    raw = ad_raw(samba_dc, tmp_path)
    raw["usernames"] = [{"attribute": "employeeNumber"}]  # not self-writable
    probe = await directory_for(raw).probe()
    (found,) = probe.servers
    assert found.subject == samba_dc.ldaps_url
    assert found.failures == ()
    assert found.lines[0].startswith("TLS: TLSv1.")
    assert any(line.startswith("certificate expires: ") for line in found.lines)
    assert f"bind: service account {ad_people.SERVICE_ACCOUNT.dn} OK" in found.lines
    assert f"RootDSE defaultNamingContext: {ad_people.BASE_DN}" in found.lines
    assert DUMMY_FILTER_LINE in found.lines
    assert any(
        line.startswith("username attribute employeeNumber: users cannot write it")
        for line in found.lines
    )
    # the only DC is the PDC emulator: the counters are read on the configured server
    assert probe.lockout_notes == (
        f"PDC emulator (bad-password counters read there): {samba_dc.ldaps_url}",
    )


@pytest.mark.samba
async def test_samba_probe_names_each_self_writable_username_attribute(
    samba_dc: SambaDC, tmp_path: Path, directory_for: Callable[..., Directory]
) -> None:
    probe = await directory_for(ad_raw(samba_dc, tmp_path)).probe()  # ipPhone, otherIpPhone
    (found,) = probe.servers
    assert [f.partition(":")[0] for f in found.failures] == [
        "username attribute ipPhone",
        "username attribute otherIpPhone",
    ]
    assert probe.failed


@pytest.mark.samba
async def test_samba_check_config_reads_the_domain_policy_with_an_ou_base_dn(
    samba_dc: SambaDC,
    tmp_path: Path,
    make_config: Callable[..., Config],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """check-config reads the lockout policies with the start-up's reader: the domain
    root from the RootDSE, not base_dn (test_lockout_guard checks the start-up side)."""
    raw = deep_merge(
        ad_raw(samba_dc, tmp_path),
        {
            "directory": {"base_dn": ad_people.STAFF_OU},
            "usernames": [{"attribute": "employeeNumber"}],
            "protection": {"max_failures": 2},
        },
    )
    assert await check_config(make_config(raw), connect=True) == 0
    out = capsys.readouterr().out
    threshold = int((samba_dc.read_attr(ad_people.BASE_DN, "lockoutThreshold") or ["0"])[0])
    locks = "never locks" if threshold == 0 else f"locks at {threshold}"
    assert f"lockout policy: the default policy {ad_people.BASE_DN}: {locks}" in out, out
    assert f"lockout policy: the policy CN=PSO Lock Early,{ad_people.PSO_CONTAINER}" in out
    assert f"PDC emulator (bad-password counters read there): {samba_dc.ldaps_url}" in out


@pytest.mark.dirsrv
async def test_dirsrv_check_config_connects_and_reads_cn_config(
    dirsrv: DirsrvServer,
    tmp_path: Path,
    make_config: Callable[..., Config],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """check-config --connect against 389-ds: the service account, the RootDSE, the dry
    run, what to check by hand for the username attribute, and every lockout policy
    (cn=config's through the README's ACI, the per-user ones), under max_failures 1."""
    raw = deep_merge(dirsrv_raw(dirsrv, tmp_path), {"protection": {"max_failures": 1}})
    assert await check_config(make_config(raw), connect=True) == 0
    out = capsys.readouterr().out
    (strict_policy,) = dirsrv.read_attr(dirsrv_people.PEOPLE["strict"].dn, "pwdpolicysubentry")
    for line in (
        "directory: ldap, flavor 389ds",
        "user filter: (&(objectClass=inetOrgPerson)(uid={login}))",
        "groups: allow 1, deny 1, strategy member_of",
        f"bind: service account {dirsrv_people.SERVICE_DN} OK",
        "RootDSE vendorName: 389 Project",
        DUMMY_FILTER_LINE,
        "username attributes: not checked (389-ds publishes no ACI facts); make sure no ACI "
        'lets users write employeeNumber on their own entry (userdn="ldap:///self"; '
        'FreeIPA\'s "User Self service" permission covers telephoneNumber and mobile)',
        "lockout policy: the default policy cn=config: locks at 3, window 600s",
        f"lockout policy: the policy {strict_policy}: locks at 2, window 900s",
    ):
        assert line in out, (line, out)
    assert "FAILED" not in out


@pytest.mark.dirsrv
async def test_dirsrv_check_config_says_when_cn_config_is_hidden(
    dirsrv: DirsrvServer,
    tmp_path: Path,
    make_config: Callable[..., Config],
    capsys: pytest.CaptureFixture[str],
) -> None:
    raw = dirsrv_raw(dirsrv, tmp_path)
    raw["directory"]["bind_dn"] = dirsrv_people.LIMITED_DN
    secret = tmp_path / raw["directory"]["bind_password_file"]
    secret.write_text(dirsrv_people.LIMITED_PASSWORD)
    await check_config(make_config(raw), connect=True)
    out = capsys.readouterr().out
    assert (
        "lockout policy: the default policy cn=config (not visible): threshold not readable "
        "by the service account (guarded as the strictest)"
    ) in out, out


# -- stats ----------------------------------------------------------------------------
@pytest.mark.openldap
async def test_slapd_stats_say_who_answered_and_what_was_done(
    slapd: SlapdServer, tmp_path: Path, start_bridge_from: StartBridgeFrom
) -> None:
    dead, never = dead_url(), dead_url()
    client = await start_bridge_from(openldap_raw([dead, slapd.url, never], tmp_path))
    before = directory_of(client).stats()
    assert [s.up for s in before.servers] == [None, None, None]
    assert before.operations["binds"] == before.operations["searches"] == 0

    jane = people.PEOPLE["jdoe"]
    assert (await login(client, "jdoe", jane.password))[0] == 200
    stats = directory_of(client).stats()
    down, up, untried = stats.servers
    assert (down.name, down.up, down.attempts) == (dead, False, 1)
    assert down.last_error
    assert (up.name, up.up, up.in_use, up.last_error) == (slapd.url, True, 0, "")
    holders = len(jane.phones)  # each of her numbers: who else holds it
    assert up.attempts == 1 + 1 + holders  # the search, the bind, the holder searches
    assert (untried.up, untried.attempts) == (None, 0)
    assert stats.operations["binds"] == 1
    assert stats.operations["searches"] == 1 + holders
    assert stats.operations["username_searches"] == holders
