"""Finding a domain's DCs the way Windows clients and SSSD do: SRV records, site first.

One ``locate()`` is one complete answer:

1. ``_ldap._tcp.dc._msdcs.DOMAIN``: every DC of the domain (the fallback list);
2. the site: ``site`` when configured, else a CLDAP netlogon ping to those DCs (the
   first to answer says which site this host's address belongs to);
3. ``_ldap._tcp.SITE._sites.dc._msdcs.DOMAIN``: the DCs of that site, first;
4. the configured ``urls`` last, unless DNS already named the same server.

Each list is in RFC 2782 order (priority, then weighted random); a list whose records
did not change keeps the order it had, so a re-resolution does not move the traffic
(and its pooled connections) from one DC to another for nothing. SRV records carry
port 389: with LDAPS the DC is reached on 636 of the same host, with StartTLS on the
SRV port; TLS checks the certificate against the SRV target's name either way.

Nothing here touches LDAP connections: ``bridge.directory.ldap.discovery`` applies the
answer to the failover list, keeps it fresh and keeps the last good one.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from bridge.directory.locator import cldap
from bridge.directory.locator.srv import Dns, DnsFailure, SrvAnswer, SrvTarget

#: Where a server in the failover list came from.
Source = Literal["srv_site", "srv_domain", "url"]
SOURCE_WORDS: dict[str, str] = {
    "srv_site": "SRV site",
    "srv_domain": "SRV domain",
    "url": "configured url",
}
LDAPS_PORT = 636
#: The CLDAP ping: ((host, address), ...), domain, seconds -> the first answer.
Pinger = Callable[[Sequence[tuple[str, str]], str, float], Awaitable[cldap.Pinged | None]]


class LocatorFailed(Exception):
    """DNS gave no usable answer; the last good list (or the configured urls) stays."""


@dataclass(frozen=True)
class LocatorSettings:
    """What the locator needs from ``[directory]``."""

    domain: str
    #: the configured site; None: ask the DCs with the CLDAP ping
    site: str | None
    nameservers: tuple[tuple[str, int], ...]
    #: StartTLS on the SRV port; else LDAPS on 636 of the same host
    start_tls: bool
    #: seconds for one DNS lookup, and for the whole CLDAP ping
    timeout: float
    urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Placement:
    """One server of the failover list: its URL, the address to dial (None: the
    system resolves the URL's host), and where it came from."""

    url: str
    address: str | None
    source: Source
    #: the record set it came from, for the administrator (empty for a configured url)
    record: str = ""

    @property
    def key(self) -> tuple[str, str | None]:
        return self.url, self.address


@dataclass(frozen=True)
class Located:
    """One complete answer."""

    servers: tuple[Placement, ...]
    site: str | None
    #: how the site was learnt: "configured", "CLDAP ping to HOST", or why it is unknown
    site_source: str
    #: seconds until the records expire (the shortest TTL met)
    ttl: float
    notes: tuple[str, ...] = ()


class Locator:
    """Resolves the DC list of one domain; keeps the previous order of unchanged sets."""

    def __init__(
        self, settings: LocatorSettings, dns: Dns | None = None, ping: Pinger | None = None
    ) -> None:
        self.settings = settings
        self.dns = dns or Dns(settings.nameservers, settings.timeout)
        self.ping = ping or cldap.first_answer
        self._previous: dict[str, SrvAnswer] = {}

    @property
    def domain_name(self) -> str:
        return f"_ldap._tcp.dc._msdcs.{self.settings.domain}"

    def site_name(self, site: str) -> str:
        return f"_ldap._tcp.{site}._sites.dc._msdcs.{self.settings.domain}"

    async def locate(self) -> Located:
        """Raises LocatorFailed when DNS failed or named no DC at all."""
        notes: list[str] = []
        try:
            domain = self._stable(await self.dns.srv(self.domain_name))
        except DnsFailure as exc:
            raise LocatorFailed(f"DNS lookup failed: {exc}") from None
        addresses = await self._addresses(domain.targets, notes)
        site, site_source = await self._site(domain.targets, addresses)
        answers = {domain.name: domain}
        site_targets: tuple[SrvTarget, ...] = ()
        if site:
            try:
                in_site = self._stable(await self.dns.srv(self.site_name(site)))
            except DnsFailure as exc:
                notes.append(f"the site's records could not be read ({exc}); domain list used")
            else:
                answers[in_site.name] = in_site
                site_targets = in_site.targets
                if not site_targets:
                    notes.append(f"no DC registered for site {site}; the domain's DCs are used")
                addresses.update(await self._addresses(site_targets, notes, addresses))
        servers = self._placements(site, site_targets, domain.targets, addresses)
        if not any(p.source != "url" for p in servers):
            raise LocatorFailed(f"DNS names no reachable DC: no usable records at {domain.name}")
        self._previous = answers
        ttls = [a.ttl for a in answers.values() if a.ttl is not None]
        return Located(servers, site, site_source, min(ttls, default=0.0), tuple(notes))

    def _stable(self, answer: SrvAnswer) -> SrvAnswer:
        """The previous order when the same records came back."""
        before = self._previous.get(answer.name)
        if before is not None and set(before.targets) == set(answer.targets):
            return SrvAnswer(answer.name, before.targets, answer.ttl)
        return answer

    async def _addresses(
        self,
        targets: Sequence[SrvTarget],
        notes: list[str],
        known: dict[str, str | None] | None = None,
    ) -> dict[str, str | None]:
        """The address each target is dialled at (None: the system resolves it when
        connecting); a target the configured name servers cannot resolve is left out."""
        found: dict[str, str | None] = {}
        for target in targets:
            if known is not None and target.host in known:
                continue
            if not self.dns.pins_addresses:
                found[target.host] = None
                continue
            try:
                addresses, _ = await self.dns.addresses(target.host)
            except DnsFailure as exc:
                notes.append(f"{target.host}: left out, address lookup failed ({exc})")
                continue
            if not addresses:
                notes.append(f"{target.host}: left out, the name servers know no address")
                continue
            found[target.host] = addresses[0]
        return found

    async def _site(
        self, targets: Sequence[SrvTarget], addresses: dict[str, str | None]
    ) -> tuple[str | None, str]:
        if self.settings.site:
            return self.settings.site, "configured"
        candidates = []
        for target in targets:
            if target.host not in addresses:
                continue
            address = addresses[target.host] or await _system_address(
                target.host, self.settings.timeout
            )
            if address is not None:
                candidates.append((target.host, address))
        if not candidates:
            return None, "unknown: no DC to ping"
        answer = await self.ping(candidates, self.settings.domain, self.settings.timeout)
        if answer is None:
            return None, "unknown: no DC answered the CLDAP ping"
        if not answer.reply.client_site:
            return None, f"unknown: {answer.host} knows no subnet for this host's address"
        return answer.reply.client_site, f"CLDAP ping answered by {answer.host}"

    def _placements(
        self,
        site: str | None,
        in_site: Sequence[SrvTarget],
        in_domain: Sequence[SrvTarget],
        addresses: dict[str, str | None],
    ) -> tuple[Placement, ...]:
        """Site DCs, then the rest of the domain, then the configured urls; each server
        once (the first place it was found wins)."""
        placed: dict[tuple[str, str, int], Placement] = {}
        lists: tuple[tuple[Source, Sequence[SrvTarget], str], ...] = (
            ("srv_site", in_site, self.site_name(site) if site else ""),
            ("srv_domain", in_domain, self.domain_name),
        )
        for source, targets, record in lists:
            for target in targets:
                if target.host not in addresses:
                    continue
                url = self._url(target)
                placement = Placement(url, addresses[target.host], source, record)
                placed.setdefault(_identity(url), placement)
        for url in self.settings.urls:
            placed.setdefault(_identity(url), Placement(url, None, "url"))
        return tuple(placed.values())

    def _url(self, target: SrvTarget) -> str:
        if self.settings.start_tls:
            port = "" if target.port == 389 else f":{target.port}"
            return f"ldap://{target.host}{port}"
        return f"ldaps://{target.host}"


def _identity(url: str) -> tuple[str, str, int]:
    """A server as a scheme, host and port, whatever the spelling of its URL."""
    parts = urlsplit(url)
    secure = parts.scheme == "ldaps"
    host = (parts.hostname or "").lower().rstrip(".")
    return parts.scheme, host, parts.port or (LDAPS_PORT if secure else 389)


async def _system_address(host: str, seconds: float) -> str | None:
    """The first address the system resolver gives ``host`` (for the ping only)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(seconds):
            infos = await loop.getaddrinfo(host, cldap.CLDAP_PORT, type=socket.SOCK_DGRAM)
    except (OSError, TimeoutError):
        return None
    return str(infos[0][4][0]) if infos else None


def fallback(urls: Sequence[str]) -> tuple[Placement, ...]:
    """The configured urls alone: before the first answer, or when DNS never gave one."""
    return tuple(Placement(url, None, "url") for url in urls)
