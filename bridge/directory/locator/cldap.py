"""The CLDAP netlogon ping over UDP 389: which AD site this host is in.

Pinged in batches as SSSD does (``ad_cldap_ping``): the first five DCs of the domain
list, a 400 ms wait; five more, 200 ms; then the rest, until the timeout. The first
DC that answers decides: every DC of a domain knows the same sites and subnets, so
the first answer is as good as any, and a DC that is down costs nothing but its
share of the wait. A datagram that is not a proper answer is ignored (logged at
debug level): any host may send one to our port.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from bridge.directory.locator.netlogon import (
    NetlogonError,
    NetlogonReply,
    parse_ping_reply,
    ping_request,
)

_log = structlog.get_logger("bridge.directory.locator")

CLDAP_PORT = 389
#: (DCs pinged at once, seconds to wait before the next batch), as SSSD; then the rest.
BATCHES: tuple[tuple[int, float], ...] = ((5, 0.4), (5, 0.2))


@dataclass(frozen=True)
class Pinged:
    """Who answered the ping, at which address, and what it said."""

    host: str
    address: str
    reply: NetlogonReply


class _Answer(asyncio.DatagramProtocol):
    def __init__(self, message_id: int, host: str) -> None:
        self.message_id = message_id
        self.host = host
        self.reply: asyncio.Future[NetlogonReply | None] = (
            asyncio.get_running_loop().create_future()
        )

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if self.reply.done():
            return
        try:
            self.reply.set_result(parse_ping_reply(data, self.message_id))
        except NetlogonError as exc:
            _log.debug("cldap_ping_unreadable", dc=self.host, detail=str(exc))

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable
        if not self.reply.done():
            self.reply.set_exception(exc)


async def ping(host: str, address: str, domain: str, port: int = CLDAP_PORT) -> Pinged | None:
    """One netlogon ping; None when the DC said nothing useful (it serves no such
    domain). Waits until cancelled or answered; OSError when the address refuses."""
    message_id = secrets.randbelow(2_000_000_000) + 1
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _Answer(message_id, host), remote_addr=(address, port)
    )
    try:
        transport.sendto(ping_request(message_id, domain))
        reply = await protocol.reply
    finally:
        transport.close()
    return Pinged(host, address, reply) if reply is not None else None


async def first_answer(
    candidates: Sequence[tuple[str, str]], domain: str, seconds: float, port: int = CLDAP_PORT
) -> Pinged | None:
    """Ping ``(host, address)`` candidates in batches; the first proper answer, or None
    when none came within ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    pending: set[asyncio.Task[Pinged | None]] = set()
    waves = _waves(len(candidates))
    start = 0
    try:
        for count, wait in waves:
            batch = candidates[start : start + count]
            start += count
            pending |= {asyncio.create_task(ping(h, a, domain, port)) for h, a in batch}
            window = min(deadline, loop.time() + wait)
            while pending and (left := window - loop.time()) > 0:
                done, pending = await asyncio.wait(
                    pending, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    answer = _result(task)
                    if answer is not None:
                        return answer
            if loop.time() >= deadline:
                break
        return None
    finally:
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task


def _waves(total: int) -> list[tuple[int, float]]:
    """How many to ping in each batch and how long to wait for it; the last waits
    until the deadline."""
    waves: list[tuple[int, float]] = []
    left = total
    for count, wait in BATCHES:
        if left <= 0:
            break
        waves.append((min(count, left), wait))
        left -= count
    if left > 0:
        waves.append((left, float("inf")))
    elif waves:
        waves[-1] = (waves[-1][0], float("inf"))
    return waves


def _result(task: asyncio.Task[Pinged | None]) -> Pinged | None:
    try:
        return task.result()
    except OSError as exc:
        _log.debug("cldap_ping_failed", detail=str(exc))
        return None
