"""A UDP relay in front of the Samba DC's DNS server, that a test can switch off.

"DNS is down" must be real for the bridge, yet the session DC must keep answering
LDAP for every other test: this relay listens on a loopback port of its own and
passes each query to the DC's DNS server and each answer back. ``stop()`` closes
its socket, so the port refuses from then on, as a dead name server does. It runs
on the test's event loop, beside the in-process bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast


class _Upstream(asyncio.DatagramProtocol):
    """One query's way to the DNS server and its answer's way back."""

    def __init__(self, reply: Any, client: tuple[str, int]) -> None:
        self.reply = reply
        self.client = client
        self.answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.reply(data, self.client)
        if not self.answered.done():
            self.answered.set_result(None)


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, relay: DnsRelay) -> None:
        self.relay = relay
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a datagram endpoint's transport (3.11's selector one does not say so by type)
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.relay.queries += 1
        task = asyncio.get_running_loop().create_task(self.relay.forward(data, addr))
        self.relay.tasks.add(task)
        task.add_done_callback(self.relay.tasks.discard)

    def answer(self, data: bytes, client: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, client)


class DnsRelay:
    """``await DnsRelay(upstream).start()``; ``nameserver`` is what the bridge is given."""

    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self.host = host
        self.port = 0
        self.queries = 0
        self._listener: _Listener | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def nameserver(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> DnsRelay:
        loop = asyncio.get_running_loop()
        transport, listener = await loop.create_datagram_endpoint(
            lambda: _Listener(self), local_addr=(self.host, 0)
        )
        self._listener = listener
        self.port = transport.get_extra_info("sockname")[1]
        return self

    async def forward(self, data: bytes, client: tuple[str, int]) -> None:
        listener = self._listener
        if listener is None:
            return
        loop = asyncio.get_running_loop()
        transport, upstream = await loop.create_datagram_endpoint(
            lambda: _Upstream(listener.answer, client), remote_addr=self.upstream
        )
        try:
            transport.sendto(data)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):  # an answer that never comes: give up
                    await upstream.answered
        finally:
            transport.close()

    def stop(self) -> None:
        """Close the listening socket: the port refuses from now on."""
        if self._listener is not None and self._listener.transport is not None:
            self._listener.transport.close()
        self._listener = None
        for task in self.tasks:
            task.cancel()
