"""Concurrent logins over real HTTP, for the fault suite and the benchmark.

Workers share one keep-alive aiohttp session; each asks a *plan* which login to send
next, so a fault test can mix good and bad passwords and the benchmark can walk
through never-seen users. Every request becomes a :class:`Result`, including the
ones that got no HTTP answer at all (those are failures of the bridge, not data).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.harness import openldap_people as people
from tests.harness.auth_client import AUTH
from tests.harness.configs import deep_merge, openldap_raw
from tests.harness.slapd import SlapdServer


@dataclass(frozen=True)
class Attempt:
    login: str
    password: str
    good: bool  # is this the user's right password?


#: Given (worker number, request number) the next attempt, or None to stop the worker.
Plan = Callable[[int, int], Attempt | None]


@dataclass(frozen=True)
class Result:
    attempt: Attempt
    status: int | None  # None: no HTTP answer
    latency: float
    started: float
    error: str = ""

    @property
    def wrong(self) -> bool:
        """A wrong answer: 200 for a bad password, or 403 for a good one."""
        return (self.status == 200 and not self.attempt.good) or (
            self.status == 403 and self.attempt.good
        )


async def drive(
    url: str,
    plan: Plan,
    *,
    concurrency: int,
    duration: float,
    request_timeout: float = 15.0,
    auth: str = AUTH,
    tls: ssl.SSLContext | None = None,
) -> list[Result]:
    """Run ``concurrency`` workers for ``duration`` seconds (or until the plan ends)."""
    results: list[Result] = []
    stop_at = time.monotonic() + duration
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False, ssl=tls or True)
    client_timeout = aiohttp.ClientTimeout(total=request_timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:

        async def worker(number: int) -> None:
            for index in itertools.count():
                if time.monotonic() >= stop_at:
                    return
                attempt = plan(number, index)
                if attempt is None:
                    return
                results.append(await one(session, url, attempt, auth))

        await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return results


async def one(session: aiohttp.ClientSession, url: str, attempt: Attempt, auth: str) -> Result:
    body = {"username": attempt.login, "password": attempt.password}
    started = time.monotonic()
    try:
        async with session.post(
            url + "/auth", json=body, headers={"Authorization": auth}
        ) as response:
            await response.read()
            status: int | None = response.status
            error = ""
    except (aiohttp.ClientError, TimeoutError) as exc:
        status, error = None, type(exc).__name__
    return Result(attempt, status, time.monotonic() - started, started, error)


def mixed_plan(good: Iterable[people.Person], bad: Iterable[people.Person]) -> Plan:
    """Good users always send their password, bad users always a wrong one (varying, so
    some reach the directory before the failure budget is spent). Kept apart so that a
    throttled bad user can never make a good password look refused."""
    good_users, bad_users = list(good), list(bad)

    def plan(worker: int, index: int) -> Attempt:
        if (worker + index) % 3 == 2:
            person = bad_users[(worker * 7 + index) % len(bad_users)]
            return Attempt(person.login, f"wrong-{worker}-{index % 11}", good=False)
        person = good_users[(worker * 5 + index) % len(good_users)]
        return Attempt(person.login, person.password, good=True)

    return plan


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass(frozen=True)
class Summary:
    name: str
    requests: int
    by_status: dict[str, int]
    wrong: int
    no_answer: int
    max_latency: float
    p99_latency: float

    def row(self) -> str:
        statuses = " ".join(f"{k}:{v}" for k, v in sorted(self.by_status.items()))
        return (
            f"{self.name:<28} {self.requests:>8} {statuses:<34} {self.wrong:>5} "
            f"{self.no_answer:>9} {self.p99_latency * 1000:>8.0f} {self.max_latency * 1000:>8.0f}"
        )


HEADER = (
    f"{'fault':<28} {'requests':>8} {'answers by status':<34} {'wrong':>5} "
    f"{'no answer':>9} {'p99 ms':>8} {'max ms':>8}"
)


def summarize(name: str, results: list[Result]) -> Summary:
    counts = Counter("none" if r.status is None else str(r.status) for r in results)
    latencies = [r.latency for r in results]
    return Summary(
        name=name,
        requests=len(results),
        by_status=dict(counts),
        wrong=sum(r.wrong for r in results),
        no_answer=counts.get("none", 0),
        max_latency=max(latencies, default=0.0),
        p99_latency=percentile(latencies, 0.99),
    )


def table(summaries: Iterable[Summary]) -> str:
    return "\n".join([HEADER, *(s.row() for s in summaries)])


def bridge_document(
    urls: list[str], secret_dir: Path, **sections: dict[str, Any]
) -> dict[str, Any]:
    """A config for ``python -m bridge serve`` against private slapds; secrets in 0600 files."""
    document = deep_merge(
        openldap_raw(urls, secret_dir),
        {
            "server": {"ops_listen": "127.0.0.1:0", "request_deadline": "3s"},
            "directory": {"operation_timeout": "1s"},
            "logging": {"format": "json", "level": "info"},
        },
    )
    return deep_merge(document, sections)


def with_idle_timeout(server: SlapdServer, seconds: int) -> None:
    """Make a started private slapd close idle connections (slapd.conf ``idletimeout``),
    like AD's MaxConnIdleTime; takes effect at the next restart."""
    text = server.conf_path.read_text()
    if "idletimeout" not in text:
        text = text.replace("loglevel stats\n", f"loglevel stats\nidletimeout {seconds}\n", 1)
        server.conf_path.write_text(text)
    server.restart()


def dump_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=str))
