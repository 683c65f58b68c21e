"""Benchmark: the bridge as a real process against a private slapd with 1,000 users.

    .venv/bin/python bench/run.py [--seconds 4] [--concurrency 1 16 64] [--pool-size N]

For each concurrency: a fresh bridge process (empty caches), then a *cold* phase
(every login a user the bridge has not seen: search + bind) and a *steady* phase
(repeat logins within the user-entry TTL: one bind on a pooled connection). LDAP
operations and new TCP connections are counted by slapd itself (its stats log), not
by the bridge. The reference is the same LDAP work done by a plain single-threaded
ldap3 loop in the same run. A script, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import ldap3  # noqa: E402

from tests.harness import openldap_people as people  # noqa: E402
from tests.harness.bridge_loadgen import Attempt, Plan, Result, bridge_document, drive  # noqa: E402
from tests.harness.bridge_process import BridgeProcess, write_config  # noqa: E402
from tests.harness.slapd import SlapdServer  # noqa: E402

USERS = 1000
STEADY_USERS = 200


@dataclass
class Row:
    phase: str
    concurrency: int
    logins: int
    seconds: float
    p50: float
    p99: float
    ops: float
    conns: float
    non200: int
    reference: float | None = None

    @property
    def rate(self) -> float:
        return self.logins / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        ratio = f"{self.rate / self.reference:6.2f}" if self.reference else "     -"
        return (
            f"{self.phase:<7} {self.concurrency:>4} {self.logins:>7} {self.rate:>9.0f} "
            f"{self.p50 * 1000:>8.1f} {self.p99 * 1000:>8.1f} {self.ops:>8.2f} {self.conns:>9.3f} "
            f"{self.non200:>6} {self.reference or 0:>10.0f} {ratio}"
        )


HEADER = (
    f"{'phase':<7} {'conc':>4} {'logins':>7} {'logins/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
    f"{'ops/lgn':>8} {'conns/lgn':>9} {'non200':>6} {'ldap3 /s':>10} {'ratio':>6}"
)


def cold_plan(limit: int) -> Plan:
    """Each login a different bench user, never seen by this bridge process."""
    counter = iter(range(1, limit + 1))

    def plan(worker: int, index: int) -> Attempt | None:
        number = next(counter, None)
        if number is None:
            return None
        return Attempt(people.bench_login(number), people.BENCH_PASSWORD, good=True)

    return plan


def steady_plan(users: int) -> Plan:
    def plan(worker: int, index: int) -> Attempt:
        number = 1 + (worker * 31 + index) % users
        return Attempt(people.bench_login(number), people.BENCH_PASSWORD, good=True)

    return plan


async def phase(
    name: str,
    bridge: BridgeProcess,
    slapd: SlapdServer,
    plan: Plan,
    concurrency: int,
    seconds: float,
) -> Row:
    slapd.reset_counts()
    started = time.monotonic()
    results: list[Result] = await drive(
        bridge.url(), plan, concurrency=concurrency, duration=seconds
    )
    elapsed = time.monotonic() - started
    counts = slapd.count_ops()
    latencies = sorted(r.latency for r in results)
    n = len(results) or 1
    return Row(
        phase=name,
        concurrency=concurrency,
        logins=len(results),
        seconds=elapsed,
        p50=statistics.median(latencies) if latencies else 0.0,
        p99=latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else 0.0,
        ops=(counts.binds + counts.searches) / n,
        conns=counts.connections / n,
        non200=sum(r.status != 200 for r in results),
    )


def ldap3_reference(slapd: SlapdServer, seconds: float) -> tuple[float, float]:
    """Logins/s of a plain ldap3 loop: search+bind (cold work) and bind only (steady)."""
    # get_info=NONE as in the bridge: ldap3's default re-reads the schema on every bind
    server = ldap3.Server("127.0.0.1", port=slapd.port, get_info=ldap3.NONE)
    service = ldap3.Connection(
        server, people.SERVICE_DN, people.SERVICE_PASSWORD, auto_bind=True, read_only=True
    )
    binder = ldap3.Connection(server, read_only=True)
    binder.open()
    attributes = ["telephoneNumber", "displayName", "uid"]
    done, stop = 0, time.monotonic() + seconds
    started = time.monotonic()
    while time.monotonic() < stop and done < USERS:
        login = people.bench_login(done + 1)
        service.search(
            people.BASE_DN, f"(&(objectClass=inetOrgPerson)(uid={login}))", attributes=attributes
        )
        dn = service.response[0]["dn"]
        assert binder.rebind(dn, people.BENCH_PASSWORD)
        done += 1
    cold = done / (time.monotonic() - started)
    dns = [f"uid={people.bench_login(i)},{people.PEOPLE_DN}" for i in range(1, STEADY_USERS + 1)]
    done, stop = 0, time.monotonic() + seconds
    started = time.monotonic()
    while time.monotonic() < stop:
        assert binder.rebind(dns[done % len(dns)], people.BENCH_PASSWORD)
        done += 1
    steady = done / (time.monotonic() - started)
    service.unbind()
    binder.unbind()
    return cold, steady


def start_bridge(directory: Path, slapd: SlapdServer, pool_size: int | None) -> BridgeProcess:
    directory.mkdir(parents=True, exist_ok=True)
    extra = {"pool_size": pool_size} if pool_size else {}
    document = bridge_document(
        [slapd.url],
        directory,
        server={"request_deadline": "10s"},
        directory={**bridge_document([slapd.url], directory)["directory"], **extra},
    )
    return BridgeProcess(write_config(directory / "bridge.toml", document)).start()


async def warm_up(bridge: BridgeProcess) -> None:
    """One login of a non-bench user: opens the pooled search and bind connections."""
    jane = people.PEOPLE["jdoe"]
    plan = iter([Attempt(jane.login, jane.password, good=True)])
    results = await drive(bridge.url(), lambda w, i: next(plan, None), concurrency=1, duration=5)
    assert results[0].status == 200, results


async def main(arguments: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as scratch:
        base = Path(scratch)
        began = time.monotonic()
        slapd = SlapdServer(base / "slapd", extra_users=USERS)
        slapd.start()
        try:
            print(f"slapd with {USERS} bulk users ready in {time.monotonic() - began:.1f}s")
            ref_cold, ref_steady = ldap3_reference(slapd, arguments.seconds)
            print(
                f"plain ldap3 loop (1 thread): search+bind {ref_cold:.0f}/s, "
                f"bind only {ref_steady:.0f}/s"
            )
            rows: list[Row] = []
            for concurrency in arguments.concurrency:
                bridge = start_bridge(base / f"bridge-{concurrency}", slapd, arguments.pool_size)
                try:
                    await warm_up(bridge)
                    cold = await phase(
                        "cold", bridge, slapd, cold_plan(USERS), concurrency, arguments.seconds
                    )
                    cold.reference = ref_cold
                    steady = await phase(
                        "steady",
                        bridge,
                        slapd,
                        steady_plan(min(STEADY_USERS, cold.logins)),
                        concurrency,
                        arguments.seconds,
                    )
                    steady.reference = ref_steady
                    rows += [cold, steady]
                    print(f"  concurrency {concurrency}: done")
                finally:
                    bridge.stop()
            print()
            print(HEADER)
            for row in rows:
                print(row.line())
            print(f"\ntotal {time.monotonic() - began:.0f}s")
        finally:
            slapd.stop()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each phase")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--pool-size", type=int, default=None, help="directory.pool_size")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(_arguments()))
