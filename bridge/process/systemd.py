"""Talking to systemd: readiness, reload, stop and watchdog notifications.

The unit runs with ``Type=notify`` so that ``systemctl start`` returns only once
the listeners are bound and the config is loaded, and with ``WatchdogSec=`` so
that a wedged event loop is restarted instead of silently answering nothing.
Both need the sd_notify protocol, which is one datagram per message on the
AF_UNIX socket named by ``$NOTIFY_SOCKET``. It is small enough to speak in pure
Python, which keeps the service free of libsystemd bindings and C extensions.

Every function here is a no-op that returns ``False`` outside systemd, so the
same ``serve`` code runs unchanged in a terminal, in tests and under the unit.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import time
from collections.abc import Awaitable, Callable

__all__ = [
    "notify",
    "ready",
    "reloading",
    "status",
    "stopping",
    "watchdog_interval",
    "watchdog_loop",
    "watchdog_ping",
]


def _socket_address(raw: str) -> str | None:
    """Translate ``$NOTIFY_SOCKET`` into an address ``socket.connect`` accepts.

    systemd writes abstract-namespace sockets with a leading ``@`` because an
    environment variable cannot carry the NUL byte that Linux uses. Anything
    else that is not an absolute path (e.g. the ``vsock:`` form of newer
    systemd, meant for VMs) is not something this service can be run under.
    """
    if raw.startswith("@") and len(raw) > 1:
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    return None


def notify(state: str) -> bool:
    """Send one sd_notify message; ``True`` when systemd accepted the datagram.

    ``False`` means "nobody is listening": not under systemd, or the socket is
    gone. Notification is advisory, so a failure is reported rather than raised:
    a missed READY=1 already makes systemd fail the start on its own timeout,
    and crashing the service over a lost STATUS= line would be worse than the
    loss.
    """
    address = _socket_address(os.environ.get("NOTIFY_SOCKET", ""))
    if address is None or not state:
        return False
    payload = state.encode("utf-8")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            return sock.send(payload) == len(payload)
    except OSError:
        return False


def _one_line(text: str) -> str:
    """Keep free text from smuggling extra assignments into a message.

    The protocol is newline-separated ``KEY=value`` lines; a status built from
    an error message containing ``\\nREADY=1`` must not be able to declare us
    ready.
    """
    return " ".join(text.splitlines())


def ready(status: str | None = None) -> bool:
    """Declare start-up (or a reload) complete, optionally with a status line.

    Also sent after a SIGHUP reload has finished: with ``Type=notify-reload``
    (systemd 253+) the reload job waits for exactly this.
    """
    message = "READY=1"
    if status is not None:
        message += f"\nSTATUS={_one_line(status)}"
    return notify(message)


def reloading() -> bool:
    """Announce that a config reload started; call ``ready()`` when it is done.

    systemd 253+ requires ``MONOTONIC_USEC`` with ``RELOADING=1`` to tell this
    reload apart from a stale one; systemd 252 ignores the extra field.
    """
    now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify(f"RELOADING=1\nMONOTONIC_USEC={now_usec}")


def stopping() -> bool:
    """Tell systemd the drain has begun, so ``systemctl status`` says so."""
    return notify("STOPPING=1")


def status(text: str) -> bool:
    """Publish a one-line human status shown by ``systemctl status``."""
    return notify(f"STATUS={_one_line(text)}")


def watchdog_ping() -> bool:
    """Reset systemd's watchdog timer for this service."""
    return notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """Seconds between watchdog pings, or ``None`` when no watchdog is armed.

    Half the ``$WATCHDOG_USEC`` period, as sd_watchdog_enabled(3) advises, so a
    single late ping does not get the service killed. ``$WATCHDOG_PID`` is
    honoured because the variables are inherited: a child process must not
    believe the watchdog is its own.
    """
    raw_usec = os.environ.get("WATCHDOG_USEC", "")
    try:
        usec = int(raw_usec)
    except ValueError:
        return None
    if usec <= 0:
        return None
    raw_pid = os.environ.get("WATCHDOG_PID")
    if raw_pid is not None:
        try:
            if int(raw_pid) != os.getpid():
                return None
        except ValueError:
            return None
    return usec / 2 / 1_000_000


async def _is_healthy(healthy: Callable[[], bool | Awaitable[bool]], limit: float) -> bool:
    """Evaluate the health check, counting a hang or an exception as unhealthy.

    A check that never returns is exactly the wedge the watchdog exists for,
    so it gets no more than one ping interval.
    """
    try:
        async with asyncio.timeout(limit):
            result = healthy()
            if inspect.isawaitable(result):
                result = await result
            return bool(result)
    except TimeoutError:
        return False
    except Exception:  # noqa: BLE001 - any failing check means "do not vouch for us"
        return False


async def watchdog_loop(
    healthy: Callable[[], bool | Awaitable[bool]],
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] | None = None,
) -> None:
    """Ping the systemd watchdog for as long as the service is healthy.

    Returns at once when no watchdog is armed; otherwise runs until cancelled.
    While ``healthy()`` is false the pings stop, and after ``WatchdogSec=``
    systemd kills and restarts the service. Pass a liveness check (the event
    loop and the process work), not readiness: a directory outage is answered
    with 503 and must not turn into a restart loop. Because the pings come from
    the event loop itself, a loop blocked by synchronous code also stops them.

    ``sleep`` and ``clock`` (default: the running loop's time) are parameters so
    that a test can step the loop one ping interval at a time and count exactly.
    """
    interval = watchdog_interval()
    if interval is None:
        return
    now = clock if clock is not None else asyncio.get_running_loop().time
    while True:
        started = now()
        if await _is_healthy(healthy, interval):
            watchdog_ping()
        await sleep(max(0.0, started + interval - now()))
