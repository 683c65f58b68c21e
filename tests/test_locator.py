"""The DC locator's logic without a network: RFC 2782 order, which DC comes first and
from where, what a failure keeps, and the refresh that applies each answer.

DNS is a fake here (pure logic); ``test_discovery.py`` runs the same code against the
suite's Samba DC and its own DNS server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Sequence

import dns.rrset
import pytest

from bridge.directory.ldap.binder import Binder
from bridge.directory.ldap.discovery import RETRY_AFTER_FAILURE, Discovery, DiscoverySettings
from bridge.directory.ldap.transport import ServerList, TransportOptions
from bridge.directory.locator.cldap import Pinged
from bridge.directory.locator.locator import (
    Located,
    Locator,
    LocatorFailed,
    LocatorSettings,
    Placement,
)
from bridge.directory.locator.netlogon import NetlogonReply
from bridge.directory.locator.srv import (
    Dns,
    DnsFailure,
    SrvAnswer,
    SrvTarget,
    in_processing_order,
    parse_nameserver,
)

DOMAIN = "corp.example"
DOMAIN_NAME = f"_ldap._tcp.dc._msdcs.{DOMAIN}"
SITE_NAME = f"_ldap._tcp.HQ._sites.dc._msdcs.{DOMAIN}"


def srv(*records: str) -> dns.rrset.RRset:
    return dns.rrset.from_text(DOMAIN_NAME, 600, "IN", "SRV", *records)


def firsts(rrset: dns.rrset.RRset, rounds: int = 4000) -> Counter[str]:
    return Counter(in_processing_order(rrset)[0].host for _ in range(rounds))


# --- RFC 2782 order ----------------------------------------------------------------


def test_lower_priority_always_comes_first() -> None:
    rrset = srv("10 100 389 backup.corp.example.", "0 1 389 main.corp.example.")
    for _ in range(500):
        assert [t.host for t in in_processing_order(rrset)] == [
            "main.corp.example",
            "backup.corp.example",
        ]


def test_weights_share_the_first_place_in_proportion() -> None:
    counts = firsts(srv("0 300 389 big.corp.example.", "0 100 389 small.corp.example."))
    share = counts["big.corp.example"] / sum(counts.values())
    assert 0.70 < share < 0.80  # 3 of 4, give or take what 4000 draws allow


def test_zero_weight_is_rarely_first_but_never_lost() -> None:
    rrset = srv("0 100 389 weighted.corp.example.", "0 0 389 zero.corp.example.")
    counts = firsts(rrset)
    assert counts["zero.corp.example"] / sum(counts.values()) < 0.05
    assert {t.host for t in in_processing_order(rrset)} == {
        "weighted.corp.example",
        "zero.corp.example",
    }


def test_a_dot_target_means_no_service() -> None:
    assert in_processing_order(srv("0 0 0 .")) == ()


def test_targets_are_lowercase_without_the_final_dot() -> None:
    (target,) = in_processing_order(srv("0 100 389 DC1.Corp.Example."))
    assert target == SrvTarget("dc1.corp.example", 389, 0, 100)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("10.0.0.53", ("10.0.0.53", 53)),
        ("10.0.0.53:5353", ("10.0.0.53", 5353)),
        ("::1", ("::1", 53)),
        ("[::1]:10053", ("::1", 10053)),
        ("[fd00::53]", ("fd00::53", 53)),
    ],
)
def test_nameservers(text: str, parsed: tuple[str, int]) -> None:
    assert parse_nameserver(text) == parsed


@pytest.mark.parametrize(
    "text", ["dns.corp.example", "10.0.0.53:0", "10.0.0.53:x", "[::1", "1.2.3"]
)
def test_bad_nameservers(text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_nameserver(text)


# --- the locator, on a fake DNS ----------------------------------------------------


class FakeDns(Dns):
    """Answers from a table; a name mapped to an exception raises it."""

    def __init__(self, table: dict[str, object], addresses: dict[str, str] | None = None) -> None:
        super().__init__([("192.0.2.53", 53)] if addresses is not None else [], 1.0)
        self.table = table
        self.known = addresses or {}
        self.asked: list[str] = []

    async def srv(self, name: str) -> SrvAnswer:
        self.asked.append(name)
        found = self.table.get(name, ())
        if isinstance(found, Exception):
            raise found
        assert isinstance(found, tuple)
        return SrvAnswer(name, found, 600.0 if found else None)

    async def addresses(self, host: str) -> tuple[tuple[str, ...], float | None]:
        if host == "broken.corp.example":
            raise DnsFailure("A broken.corp.example: timeout")
        address = self.known.get(host)
        return ((address,), 600.0) if address else ((), None)


def target(host: str, port: int = 389, priority: int = 0) -> SrvTarget:
    return SrvTarget(f"{host}.corp.example", port, priority, 100)


def settings(**changes: object) -> LocatorSettings:
    values: dict[str, object] = {
        "domain": DOMAIN,
        "site": "HQ",
        "nameservers": (),
        "start_tls": False,
        "timeout": 1.0,
        "urls": (),
    }
    values.update(changes)
    return LocatorSettings(**values)  # type: ignore[arg-type]


async def test_site_dcs_first_then_the_domain_then_the_configured_urls() -> None:
    table = {
        SITE_NAME: (target("hq1"),),
        DOMAIN_NAME: (target("far1"), target("hq1"), target("far2")),
    }
    urls = ("ldaps://FAR2.corp.example:636", "ldaps://old.corp.example")
    located = await Locator(settings(urls=urls), FakeDns(table)).locate()
    assert [(p.url, p.source) for p in located.servers] == [
        ("ldaps://hq1.corp.example", "srv_site"),
        ("ldaps://far1.corp.example", "srv_domain"),
        ("ldaps://far2.corp.example", "srv_domain"),  # the configured spelling is the same DC
        ("ldaps://old.corp.example", "url"),
    ]
    assert located.site == "HQ"
    assert located.site_source == "configured"
    assert located.servers[0].record == SITE_NAME


async def test_starttls_keeps_the_srv_port() -> None:
    table = {DOMAIN_NAME: (target("dc1"), target("dc2", port=3389))}
    located = await Locator(settings(start_tls=True), FakeDns(table)).locate()
    assert {p.url for p in located.servers} == {
        "ldap://dc1.corp.example",
        "ldap://dc2.corp.example:3389",
    }


async def test_a_site_without_dcs_falls_back_to_the_domain_and_says_so() -> None:
    located = await Locator(settings(), FakeDns({DOMAIN_NAME: (target("dc1"),)})).locate()
    assert [p.source for p in located.servers] == ["srv_domain"]
    assert located.notes == ("no DC registered for site HQ; the domain's DCs are used",)


async def test_a_failed_site_lookup_still_gives_the_domain() -> None:
    table = {SITE_NAME: DnsFailure("SRV: timeout"), DOMAIN_NAME: (target("dc1"),)}
    located = await Locator(settings(), FakeDns(table)).locate()
    assert [p.url for p in located.servers] == ["ldaps://dc1.corp.example"]
    assert "could not be read" in located.notes[0]


async def test_a_failed_domain_lookup_is_a_failure() -> None:
    table = {DOMAIN_NAME: DnsFailure("SRV: no name server answered")}
    with pytest.raises(LocatorFailed, match="no name server answered"):
        await Locator(settings(), FakeDns(table)).locate()


async def test_no_records_at_all_is_a_failure_even_with_urls() -> None:
    """An empty answer is far likelier a DNS mistake than a domain without DCs: the
    last good list must stay, so this does not count as an answer."""
    with pytest.raises(LocatorFailed, match="no usable records"):
        await Locator(settings(urls=("ldaps://dc.corp.example",)), FakeDns({})).locate()


async def test_the_same_records_keep_their_order() -> None:
    first = (target("a"), target("b"), target("c"))
    fake = FakeDns({DOMAIN_NAME: first})
    locator = Locator(settings(), fake)
    await locator.locate()
    fake.table[DOMAIN_NAME] = tuple(reversed(first))  # a new random draw, same records
    again = await locator.locate()
    assert [p.url.split("//")[1].split(".")[0] for p in again.servers] == ["a", "b", "c"]
    fake.table[DOMAIN_NAME] = (target("c"), target("b"))  # a DC left: the new order
    changed = await locator.locate()
    assert [p.url.split("//")[1].split(".")[0] for p in changed.servers] == ["c", "b"]


async def test_with_nameservers_the_addresses_come_from_them_too() -> None:
    table = {DOMAIN_NAME: (target("dc1"), target("ghost"), target("broken"))}
    fake = FakeDns(table, addresses={"dc1.corp.example": "192.0.2.10"})
    located = await Locator(settings(), fake).locate()
    assert [(p.url, p.address) for p in located.servers] == [
        ("ldaps://dc1.corp.example", "192.0.2.10")
    ]
    assert any("ghost.corp.example: left out" in note for note in located.notes)
    assert any("broken.corp.example: left out" in note for note in located.notes)


def reply(client_site: str) -> NetlogonReply:
    return NetlogonReply(
        23,
        0,
        uuid.uuid4(),
        DOMAIN,
        DOMAIN,
        "dc1.corp.example",
        "CORP",
        "DC1",
        "",
        "HQ",
        client_site,
        5,
    )


class FakePing:
    """The CLDAP ping, answered from a table: what was asked is kept."""

    def __init__(self, client_site: str | None) -> None:
        self.client_site = client_site
        self.asked: list[tuple[tuple[tuple[str, str], ...], str]] = []

    async def __call__(
        self, candidates: Sequence[tuple[str, str]], domain: str, seconds: float
    ) -> Pinged | None:
        self.asked.append((tuple(candidates), domain))
        if self.client_site is None:
            return None
        host, address = candidates[0]
        return Pinged(host, address, reply(self.client_site))


async def test_the_site_is_learnt_from_the_ping_to_the_domains_dcs() -> None:
    table = {SITE_NAME: (target("hq1"),), DOMAIN_NAME: (target("far1"), target("hq1"))}
    addresses = {"far1.corp.example": "192.0.2.1", "hq1.corp.example": "192.0.2.2"}
    ping = FakePing("HQ")
    located = await Locator(settings(site=None), FakeDns(table, addresses), ping).locate()
    assert ping.asked == [
        ((("far1.corp.example", "192.0.2.1"), ("hq1.corp.example", "192.0.2.2")), DOMAIN)
    ]
    assert located.site == "HQ"
    assert located.site_source == "CLDAP ping answered by far1.corp.example"
    assert [(p.url, p.source) for p in located.servers] == [
        ("ldaps://hq1.corp.example", "srv_site"),
        ("ldaps://far1.corp.example", "srv_domain"),
    ]


@pytest.mark.parametrize(
    ("client_site", "said"),
    [
        (None, "unknown: no DC answered the CLDAP ping"),
        ("", "unknown: far1.corp.example knows no subnet for this host's address"),
    ],
)
async def test_without_a_site_the_domain_list_is_all(client_site: str | None, said: str) -> None:
    table = {DOMAIN_NAME: (target("far1"),)}
    fake = FakeDns(table, {"far1.corp.example": "192.0.2.1"})
    located = await Locator(settings(site=None), fake, FakePing(client_site)).locate()
    assert located.site is None
    assert located.site_source == said
    assert SITE_NAME not in fake.asked
    assert [p.source for p in located.servers] == ["srv_domain"]


# --- the refresh that applies answers ----------------------------------------------


OPTIONS = TransportOptions(
    start_tls=False,
    ca_file=None,
    tls_server_name="configured.name",
    connect_timeout=1.0,
    operation_timeout=1.0,
    pool_size=2,
    max_age=60.0,
    cooldown=30.0,
)


class ScriptedLocator(Locator):
    """Hands out prepared answers (or failures) in turn."""

    def __init__(self, answers: list[Located | LocatorFailed]) -> None:
        super().__init__(settings(), FakeDns({}))
        self.answers = answers

    async def locate(self) -> Located:
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, LocatorFailed):
            raise answer
        return answer


def located(*hosts: str, ttl: float = 600.0) -> Located:
    servers = tuple(Placement(f"ldaps://{h}.corp.example", None, "srv_domain") for h in hosts)
    return Located(servers, None, "configured", ttl)


def discovery(answers: list[Located | LocatorFailed], failures: list[int]) -> Discovery:
    servers = ServerList(["ldaps://fallback.corp.example"], OPTIONS, discovering=True)
    return Discovery(
        DiscoverySettings(settings(), min_ttl=60.0, max_ttl=3600.0),
        servers,
        Binder(servers),
        locator=ScriptedLocator(answers),
        on_failure=lambda: failures.append(1),
    )


async def test_an_answer_replaces_the_list_and_keeps_servers_that_stay() -> None:
    failures: list[int] = []
    refresher = discovery([located("dc1", "dc2"), located("dc2", "dc3", ttl=5.0)], failures)
    assert [s.name for s in refresher.servers.servers] == ["ldaps://fallback.corp.example"]
    assert await refresher.refresh() == 600.0
    dc1, dc2 = refresher.servers.servers
    assert dc2.tls is refresher.servers.tls
    assert dc2.options.tls_server_name is None  # checked against the SRV target
    assert await refresher.refresh() == 60.0  # a 5 s TTL is held at the floor
    now = refresher.servers.servers
    assert [s.name for s in now] == ["ldaps://dc2.corp.example", "ldaps://dc3.corp.example"]
    assert now[0] is dc2  # its pools and cool-down carried over
    assert dc1.retired
    assert not dc2.retired
    assert failures == []


async def test_a_failure_keeps_the_last_good_list() -> None:
    failures: list[int] = []
    refresher = discovery([located("dc1"), LocatorFailed("DNS lookup failed: timeout")], failures)
    await refresher.refresh()
    before = refresher.servers.servers
    assert await refresher.refresh() == RETRY_AFTER_FAILURE
    assert refresher.servers.servers == before
    assert refresher.error == "DNS lookup failed: timeout"
    assert failures == [1]
    lines, problems = refresher.report()
    assert problems == []
    assert any("last good list kept" in line for line in lines)


async def test_until_dns_answers_the_configured_urls_are_the_list() -> None:
    failures: list[int] = []
    refresher = discovery([LocatorFailed("DNS lookup failed: refused")], failures)
    await refresher.ready(1.0)
    assert [s.source for s in refresher.servers.servers] == ["url"]
    _, problems = refresher.report()
    assert problems == [
        "no answer from DNS (DNS lookup failed: refused); using the configured urls"
    ]
    await refresher.close()


async def test_the_refresh_task_runs_again_after_the_ttl() -> None:
    failures: list[int] = []
    refresher = discovery([located("dc1", ttl=0.0), located("dc2")], failures)
    refresher.settings = DiscoverySettings(settings(), min_ttl=0.05, max_ttl=0.05)
    await refresher.ready(1.0)
    assert [s.name for s in refresher.servers.servers] == ["ldaps://dc1.corp.example"]
    for _ in range(100):
        await asyncio.sleep(0.02)
        if refresher.servers.servers[0].name == "ldaps://dc2.corp.example":
            break
    assert [s.name for s in refresher.servers.servers] == ["ldaps://dc2.corp.example"]
    await refresher.close()
