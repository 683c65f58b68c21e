"""DNS for the DC locator: SRV records in RFC 2782 order, and the targets' addresses.

Two outcomes are kept apart all the way up: a name that has no records (NXDOMAIN, or
no SRV at that name: an answer, e.g. a site with no DC of its own) and a lookup that
failed (timeout, SERVFAIL, refused, no resolver): only the second keeps the last
good list of servers.

With ``nameservers`` configured, the targets' addresses are asked of the same name
servers (the system resolver may not know the AD zone; that is why they were
configured) and the connection dials that address while TLS checks the target's
name. With the system resolver, the operating system resolves the name when it
connects, as for a configured URL (``/etc/hosts`` included).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver
import dns.rrset
from dns.rdtypes.IN.SRV import SRV


class DnsFailure(Exception):
    """The lookup failed: the answer, if any, is not known."""


@dataclass(frozen=True)
class SrvTarget:
    """One SRV record: a DC's host name (lowercase, no final dot) and port."""

    host: str
    port: int
    priority: int
    weight: int


@dataclass(frozen=True)
class SrvAnswer:
    """The records at one name, in RFC 2782 processing order; ``ttl`` None when the
    name has none (a negative answer)."""

    name: str
    targets: tuple[SrvTarget, ...]
    ttl: float | None


def parse_nameserver(text: str) -> tuple[str, int]:
    """``IP``, ``IP:PORT``, ``[IPv6]:PORT`` or a bare IPv6 address: (address, port)."""
    host, port = text.strip(), 53
    if host.startswith("["):
        inside, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"expected IP, IP:PORT or [IPv6]:PORT, got {text!r}")
        host, port = inside, _port(rest[1:], text) if rest else 53
    elif host.count(":") == 1:
        host, _, number = host.partition(":")
        port = _port(number, text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"expected an IP address (not a name), got {text!r}") from None
    return host, port


def _port(number: str, text: str) -> int:
    if not number.isdigit() or not 0 < int(number) < 65536:
        raise ValueError(f"expected a port from 1 to 65535, got {text!r}")
    return int(number)


def in_processing_order(rrset: dns.rrset.RRset) -> tuple[SrvTarget, ...]:
    """RFC 2782: lowest priority first, then weighted random within each priority
    (dnspython's ``processing_order``)."""
    ordered = []
    for record in rrset.processing_order():
        assert isinstance(record, SRV)
        host = record.target.to_text(omit_final_dot=True).lower()
        if host and host != ".":  # "." means: no such service here (RFC 2782)
            ordered.append(SrvTarget(host, record.port, record.priority, record.weight))
    return tuple(ordered)


class Dns:
    """SRV and address lookups through the system resolver or the configured servers."""

    def __init__(self, nameservers: Sequence[tuple[str, int]], timeout: float) -> None:
        self.nameservers = tuple(nameservers)
        self.timeout = timeout
        self._resolver: dns.asyncresolver.Resolver | None = None

    @property
    def pins_addresses(self) -> bool:
        """True: targets are resolved here too, not by the system at connect time."""
        return bool(self.nameservers)

    def _get_resolver(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            try:
                resolver = dns.asyncresolver.Resolver(configure=not self.nameservers)
            except dns.resolver.NoResolverConfiguration as exc:
                raise DnsFailure(f"no system resolver ({exc}); set directory.nameservers") from None
            if self.nameservers:
                resolver.nameservers = [
                    dns.nameserver.Do53Nameserver(address, port)
                    for address, port in self.nameservers
                ]
            resolver.lifetime = self.timeout
            resolver.timeout = self.timeout
            self._resolver = resolver
        return self._resolver

    async def _answer(self, name: str, kind: str) -> dns.resolver.Answer | None:
        """The answer, or None for NXDOMAIN / no records of that type."""
        try:
            return await self._get_resolver().resolve(
                name, kind, search=False, raise_on_no_answer=True
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        except dns.exception.DNSException as exc:
            raise DnsFailure(f"{kind} {name}: {_describe(exc)}") from None
        except OSError as exc:
            raise DnsFailure(f"{kind} {name}: {exc}") from None

    async def srv(self, name: str) -> SrvAnswer:
        answer = await self._answer(name, "SRV")
        if answer is None or answer.rrset is None:
            return SrvAnswer(name, (), None)
        return SrvAnswer(name, in_processing_order(answer.rrset), float(answer.rrset.ttl))

    async def addresses(self, host: str) -> tuple[tuple[str, ...], float | None]:
        """IPv4 then IPv6 addresses of ``host`` from the configured name servers, and
        the shortest TTL among them."""
        found: list[str] = []
        ttls: list[float] = []
        for kind in ("A", "AAAA"):
            answer = await self._answer(host, kind)
            if answer is not None and answer.rrset is not None:
                found += [record.to_text() for record in answer.rrset]
                ttls.append(float(answer.rrset.ttl))
        return tuple(found), min(ttls, default=None)


def _describe(exc: dns.exception.DNSException) -> str:
    if isinstance(exc, dns.resolver.LifetimeTimeout):
        return "no answer from the name servers within the timeout"
    if isinstance(exc, dns.resolver.NoNameservers):
        return f"no name server answered properly ({exc})"
    return f"{type(exc).__name__}: {exc}"
