"""Domain controllers from DNS, against the suite's Samba DC and its own DNS server.

The DC publishes what every AD DC publishes (``_ldap._tcp.dc._msdcs.example.test``,
its site's records) on its loopback address, port ``DNS_PORT``, and answers the
CLDAP netlogon ping on UDP 389. The bridge is given that name server and the domain,
no URL, and must find ``dc1.example.test``, dial it at the address DNS gives and check
its certificate against that name; follow DNS when a DC leaves it; keep the last good
list when DNS goes down; and learn its site from the ping.

Records and sites changed here are put back when the test ends: the whole session
shares this DC.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.commands.check_config import check_config
from bridge.config import Config
from bridge.directory.ldap.discovery import Discovery
from bridge.directory.locator import cldap
from bridge.directory.locator.locator import Locator, LocatorSettings
from bridge.directory.locator.srv import parse_nameserver
from bridge.web.keys import RUNTIME
from tests.harness import ad_people
from tests.harness.ad_people import BOB
from tests.harness.auth_client import audit, directory_of, login
from tests.harness.configs import ad_raw
from tests.harness.dns_relay import DnsRelay
from tests.harness.in_process import StartBridge
from tests.harness.samba import DC_NAME, DNS_PORT, SambaDC, free_loopback_host

pytestmark = pytest.mark.samba

DOMAIN = ad_people.REALM
MSDCS = f"_msdcs.{DOMAIN}"
DEFAULT_SITE = "Default-First-Site-Name"
DC_URL = f"ldaps://{DC_NAME}"
#: (zone, name) of each record that names dc1 as an LDAP server
DC1_RECORDS = (
    (MSDCS, "_ldap._tcp.dc"),
    (MSDCS, f"_ldap._tcp.{DEFAULT_SITE}._sites.dc"),
)
DC1_SRV = f"{DC_NAME} 389 0 100"


@pytest.fixture
def raw(samba_dc: SambaDC, tmp_path: Path) -> dict[str, Any]:
    """The Samba DC found by DNS only: no URL."""
    document = ad_raw(samba_dc, tmp_path)
    document["directory"].update(
        urls=[], domain=DOMAIN, nameservers=[samba_dc.nameserver], connect_timeout="2s"
    )
    return document


def discovery_of(client: Any) -> Discovery:
    found = directory_of(client)._sessions.discovery
    assert found is not None
    return found


async def until(condition: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.1)):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("not within the time allowed")


# --- found, dialled, checked -------------------------------------------------------


def test_the_dcs_zone_points_at_its_own_address(samba_dc: SambaDC) -> None:
    assert samba_dc.dns_records(DOMAIN, "dc1", "A") == [samba_dc.host]
    # samba-tool shows SRV data as "target. (port, priority, weight)"
    assert samba_dc.dns_records(MSDCS, "_ldap._tcp.dc", "SRV") == [f"{DC_NAME}. (389, 0, 100)"]


async def test_a_login_goes_to_the_dc_that_dns_names(
    start_bridge: StartBridge, samba_dc: SambaDC, log_stream: Any
) -> None:
    # tls_server_name is for configured URLs: a found DC is checked against its SRV name
    client = await start_bridge(directory={"tls_server_name": "wrong.example"})
    assert (await login(client, BOB.sam, BOB.password))[0] == 200
    assert audit(log_stream, BOB.sam)["server"] == DC_URL
    (server,) = directory_of(client).servers.servers
    assert (server.url, server.address) == (DC_URL, samba_dc.host)
    # one site, so Samba puts this host in it, and the site's records list dc1
    assert server.source == "srv_site"
    located = discovery_of(client).located
    assert located is not None
    assert located.site == DEFAULT_SITE
    assert located.site_source == f"CLDAP ping answered by {DC_NAME}"


async def test_starttls_goes_to_the_srv_port(start_bridge: StartBridge, log_stream: Any) -> None:
    client = await start_bridge(directory={"start_tls": True, "site": DEFAULT_SITE})
    assert (await login(client, BOB.sam, BOB.password))[0] == 200
    assert audit(log_stream, BOB.sam)["server"] == f"ldap://{DC_NAME}"
    assert discovery_of(client).located.site_source == "configured"  # type: ignore[union-attr]


async def test_metrics_show_where_each_server_came_from(start_bridge: StartBridge) -> None:
    client = await start_bridge(ops=True)
    assert (await client.get("/readyz")).status == 200
    text = await (await client.get("/metrics")).text()
    wanted = (
        "ringotel_bridge_directory_server_discovered"
        f'{{directory="default",server="{DC_URL}",source="srv_site"}} 1.0'
    )
    assert wanted in text, text


# --- DNS changes, DNS fails ----------------------------------------------------------


@pytest.fixture
def dead_dc(samba_dc: SambaDC) -> Iterator[str]:
    """A second DC in DNS, ``dc9`` on a loopback address nothing listens on, behind dc1
    (priority 10); dc1's own records are put back whatever the test did to them."""
    address = free_loopback_host()
    samba_dc.samba_tool_dns("add", DOMAIN, "dc9", "A", address)
    samba_dc.samba_tool_dns("add", MSDCS, "_ldap._tcp.dc", "SRV", f"dc9.{DOMAIN} 389 10 100")
    try:
        yield f"ldaps://dc9.{DOMAIN}"
    finally:
        samba_dc.samba_tool_dns("delete", MSDCS, "_ldap._tcp.dc", "SRV", f"dc9.{DOMAIN} 389 10 100")
        samba_dc.samba_tool_dns("delete", DOMAIN, "dc9", "A", address)
        for zone, name in DC1_RECORDS:
            if not any(DC_NAME in r for r in samba_dc.dns_records(zone, name, "SRV")):
                samba_dc.samba_tool_dns("add", zone, name, "SRV", DC1_SRV)


async def test_a_dc_that_leaves_dns_leaves_the_list_with_its_connections(
    start_bridge: StartBridge, samba_dc: SambaDC, dead_dc: str
) -> None:
    client = await start_bridge(directory={"dns_min_ttl": "1s", "dns_max_ttl": "1s"})
    assert (await login(client, BOB.sam, BOB.password))[0] == 200
    servers = directory_of(client).servers
    dc1, dc9 = servers.servers
    assert (dc1.url, dc1.source, dc9.url, dc9.source) == (DC_URL, "srv_site", dead_dc, "srv_domain")
    assert dc1._search.qsize() == 1  # the service account's connection, pooled
    binder = directory_of(client)._sessions.binder
    assert len(binder._idle[DC_URL]) == 1  # the user bind's link, pooled
    link = binder._idle[DC_URL][0]

    for zone, name in DC1_RECORDS:
        samba_dc.samba_tool_dns("delete", zone, name, "SRV", DC1_SRV)
    await until(lambda: [s.url for s in servers.servers] == [dead_dc])
    assert dc1.retired
    await until(lambda: dc1._search.qsize() == 0)
    assert DC_URL not in binder._idle
    assert link.writer.is_closing()
    assert (await login(client, BOB.sam, "x"))[0] == 503  # dc9 is all DNS names now

    for zone, name in DC1_RECORDS:
        samba_dc.samba_tool_dns("add", zone, name, "SRV", DC1_SRV)
    await until(lambda: servers.servers[0].url == DC_URL)
    assert servers.servers[0] is not dc1  # a new one: the retired one stays retired
    assert (await login(client, BOB.sam, BOB.password))[0] == 200


async def test_dns_down_keeps_the_last_good_list(
    start_bridge: StartBridge, samba_dc: SambaDC, log_stream: Any
) -> None:
    relay = await DnsRelay((samba_dc.host, DNS_PORT)).start()
    try:
        directory = {"nameservers": [relay.nameserver], "dns_min_ttl": "1s", "dns_max_ttl": "1s"}
        client = await start_bridge(directory=directory)
        assert (await login(client, BOB.sam, BOB.password))[0] == 200
        assert relay.queries > 0
        before = directory_of(client).servers.servers
        relay.stop()
        refresher = discovery_of(client)
        await until(lambda: refresher.error is not None)
        assert "DNS lookup failed" in str(refresher.error)
        assert directory_of(client).servers.servers == before
        assert (await login(client, BOB.sam, BOB.password))[0] == 200
        metrics = client.server.app[RUNTIME].metrics
        assert metrics.discovery_failures.labels("default")._value.get() >= 1
    finally:
        relay.stop()


def dead_udp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


async def test_configured_urls_serve_while_dns_has_never_answered(
    start_bridge: StartBridge, samba_dc: SambaDC, log_stream: Any
) -> None:
    nameserver = f"127.0.0.1:{dead_udp_port('127.0.0.1')}"
    directory = {"nameservers": [nameserver], "urls": [samba_dc.ldaps_url]}
    client = await start_bridge(directory=directory)
    assert (await login(client, BOB.sam, BOB.password))[0] == 200
    assert audit(log_stream, BOB.sam)["server"] == samba_dc.ldaps_url
    assert discovery_of(client).located is None
    assert "DNS lookup failed" in str(discovery_of(client).error)


async def test_no_dns_and_no_urls_is_unavailable_and_says_why(
    start_bridge: StartBridge, log_stream: Any
) -> None:
    nameserver = f"127.0.0.1:{dead_udp_port('127.0.0.1')}"
    client = await start_bridge(directory={"nameservers": [nameserver]})
    assert (await login(client, BOB.sam, BOB.password))[0] == 503
    assert "no domain controller found: DNS lookup failed" in audit(log_stream, BOB.sam)["detail"]


# --- the site, from the CLDAP ping ------------------------------------------------------


async def test_the_ping_reaches_the_dc(samba_dc: SambaDC) -> None:
    answer = await cldap.first_answer([(DC_NAME, samba_dc.host)], DOMAIN, 2.0)
    assert answer is not None
    reply = answer.reply
    assert (reply.dc_host, reply.domain, reply.netbios_domain) == (DC_NAME, DOMAIN, "EXAMPLE")
    assert reply.dc_site == DEFAULT_SITE
    assert await cldap.first_answer([(DC_NAME, samba_dc.host)], "other.test", 1.0) is None


@pytest.fixture
def hq_site(samba_dc: SambaDC) -> Iterator[None]:
    """A second site HQ, with no DC; 127.0.0.0/8 in it."""
    samba_dc.samba_tool("sites", "create", "HQ")
    samba_dc.samba_tool("sites", "subnet", "create", "127.0.0.0/8", "HQ")
    try:
        yield
    finally:
        samba_dc.samba_tool("sites", "subnet", "remove", "127.0.0.0/8")
        samba_dc.samba_tool("sites", "remove", "HQ")


def locator(samba_dc: SambaDC) -> Locator:
    nameserver = parse_nameserver(samba_dc.nameserver)
    settings = LocatorSettings(DOMAIN, None, (nameserver,), start_tls=False, timeout=2.0)
    return Locator(settings)


async def test_the_site_comes_from_the_subnet_of_this_hosts_address(
    samba_dc: SambaDC, hq_site: None
) -> None:
    found = await locator(samba_dc).locate()
    assert found.site == "HQ"
    assert found.site_source == f"CLDAP ping answered by {DC_NAME}"
    # no DC in HQ: the domain's DCs serve, and the administrator is told
    assert [(p.url, p.source) for p in found.servers] == [(DC_URL, "srv_domain")]
    assert found.notes == ("no DC registered for site HQ; the domain's DCs are used",)

    samba_dc.samba_tool("sites", "subnet", "set-site", "127.0.0.0/8", DEFAULT_SITE)
    found = await locator(samba_dc).locate()
    assert found.site == DEFAULT_SITE
    assert [(p.url, p.source) for p in found.servers] == [(DC_URL, "srv_site")]

    samba_dc.samba_tool("sites", "subnet", "remove", "127.0.0.0/8")
    try:
        found = await locator(samba_dc).locate()
    finally:
        samba_dc.samba_tool("sites", "subnet", "create", "127.0.0.0/8", "HQ")
    assert found.site is None  # two sites and no subnet: nobody knows
    assert found.site_source == f"unknown: {DC_NAME} knows no subnet for this host's address"
    assert [p.source for p in found.servers] == ["srv_domain"]


# --- check-config --connect ----------------------------------------------------------


async def test_check_config_says_which_dcs_dns_gave_and_from_where(
    raw: dict[str, Any],
    make_config: Callable[..., Config],
    samba_dc: SambaDC,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = make_config(
        raw,
        directory={"base_dn": ad_people.STAFF_OU},
        usernames=[{"attribute": "employeeNumber"}],
        protection={"max_failures": 2},
    )
    assert await check_config(config, connect=True) == 0
    out = capsys.readouterr().out
    assert (
        f"domain controllers: from DNS SRV records for {DOMAIN} (site from the CLDAP ping; "
        f"asking {samba_dc.nameserver}), LDAPS"
    ) in out, out
    assert f"domain controllers from DNS ({DOMAIN}):" in out
    assert f"site: {DEFAULT_SITE} (CLDAP ping answered by {DC_NAME})" in out
    record = f"_ldap._tcp.{DEFAULT_SITE}._sites.dc._msdcs.{DOMAIN}"
    assert f"server: {DC_URL} <- SRV site {record}, dialled at {samba_dc.host}" in out
    assert f"{DC_URL} (SRV site):\n" in out
    assert f"PDC emulator (bad-password counters read there): {DC_URL}" in out
