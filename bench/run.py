"""Benchmark: what a steady-state login costs the bridge, next to the LDAP library's own
cost and to nginx-ldap-auth, all against one private slapd in the same run.

    .venv/bin/python bench/run.py [--seconds 8] [--concurrency 16] [--workers 1 2]
                                  [--users 50] [--no-peer]

Steps, on whatever cores the machine has (the load generator, slapd and the bridge
share them, as they would share a small VM):

1. slapd with 1,000 bench users.
2. The reference: a plain ldap3 loop rebinding on one open connection (the password as
   bytes, as the bridge sends it); CPU microseconds per bind from ``time.process_time``.
3. For each ``--workers`` value: a bridge process (memory guard), warmed with one login
   of each user at the benchmark's concurrency (so the entry cache and the connection
   pools are full), then ``wrk`` for ``--seconds`` over those users. Bridge CPU is read
   from ``/proc/PID/stat`` (utime + stime, the supervisor and its workers together)
   around the run; LDAP operations and new connections per login are counted by slapd
   itself (its stats log).
4. nginx-ldap-auth (``shared/peers``) on the same slapd, driven the same way; it needs
   python-ldap, installed into a venv of its own under ``~/.cache`` on first use
   (Debian: ``apt-get install libldap2-dev libsasl2-dev``).

A script, not a test: nothing here asserts a speed. Requires ``wrk`` (Debian package).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import ldap3  # noqa: E402

from tests.harness import openldap_people as people  # noqa: E402
from tests.harness.bridge_loadgen import Attempt, bridge_document, drive  # noqa: E402
from tests.harness.bridge_process import BridgeProcess, write_config  # noqa: E402
from tests.harness.client_credentials import CLIENT_PASSWORD, CLIENT_USER  # noqa: E402
from tests.harness.loopback import free_port  # noqa: E402
from tests.harness.slapd import SlapdServer  # noqa: E402

USERS = 1000
PEER = REPO.parent / "shared" / "peers" / "nginx-ldap-auth" / "nginx-ldap-auth-daemon.py"
PEER_VENV = Path.home() / ".cache" / "ringotel-bridge-bench" / "peer-venv"
TICK = os.sysconf("SC_CLK_TCK")

WRK_SCRIPT = """
local n = tonumber(os.getenv("BENCH_USERS"))
local counter, bad = 0, 0
request = function()
  counter = counter + 1
  local login = string.format("bench%04d", (counter % n) + 1)
  if os.getenv("BENCH_MODE") == "peer" then
    local creds = login .. ":" .. os.getenv("BENCH_PASSWORD")
    return wrk.format("GET", "/", {["Authorization"] = "Basic " .. base64(creds)})
  end
  local body = string.format('{"username":"%s","password":"%s"}',
                             login, os.getenv("BENCH_PASSWORD"))
  return wrk.format("POST", "/auth", {["Content-Type"] = "application/json",
                                      ["Authorization"] = os.getenv("BENCH_AUTH")}, body)
end
response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("BENCH non200 %d\\n", bad))
end
-- base64 for the peer's Basic header (wrk's Lua has none)
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
function base64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return alphabet:sub(c + 1, c + 1)
  end) .. ({"", "==", "="})[#data % 3 + 1])
end
"""


@dataclass
class Row:
    name: str
    logins: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    ops: float
    conns: float
    non200: int

    @property
    def rate(self) -> float:
        return self.logins / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (
            f"{self.name:<22} {self.rate:>9.0f} {self.p50_ms:>7.1f} {self.p99_ms:>7.1f} "
            f"{self.cpu_us:>12.0f} {self.ops:>8.2f} {self.conns:>9.3f} {self.non200:>6}"
        )


HEADER = (
    f"{'':<22} {'logins/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'CPU us/login':>12} "
    f"{'ops/lgn':>8} {'conns/lgn':>9} {'non200':>6}"
)


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def family(pid: int) -> list[int]:
    """The process and its children (the supervisor's workers)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def ldap3_reference(slapd: SlapdServer, seconds: float) -> tuple[float, float]:
    """(binds per second, CPU microseconds per bind) of a plain ldap3 rebind loop."""
    server = ldap3.Server("127.0.0.1", port=slapd.port, get_info=ldap3.NONE)
    connection = ldap3.Connection(server, raise_exceptions=False)
    connection.open()
    password = people.BENCH_PASSWORD.encode()
    dns = [person.dn for person in people.bench_people(50)]
    binds, cpu_started, started = 0, time.process_time(), time.monotonic()
    while time.monotonic() - started < seconds:
        assert connection.rebind(user=dns[binds % len(dns)], password=password)
        binds += 1
    cpu = time.process_time() - cpu_started
    elapsed = time.monotonic() - started
    connection.unbind()
    return binds / elapsed, cpu / binds * 1e6


def wrk(
    url: str, seconds: float, concurrency: int, env: dict[str, str]
) -> tuple[int, float, float, float, int]:
    """(requests, seconds, p50 ms, p99 ms, non-200) from one wrk run."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{concurrency}",
                f"-d{round(seconds)}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    requests = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    assert requests, out
    elapsed = float(requests.group(2)) / (1000 if requests.group(3) == "ms" else 1)
    return (
        int(requests.group(1)),
        elapsed,
        _latency(out, "50%"),
        _latency(out, "99%"),
        int(re.search(r"BENCH non200 (\d+)", out).group(1)),  # type: ignore[union-attr]
    )


def _latency(out: str, label: str) -> float:
    match = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)", out, re.MULTILINE)
    assert match, out
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def measure(
    name: str,
    url: str,
    pids: list[int],
    slapd: SlapdServer,
    args: argparse.Namespace,
    env: dict[str, str],
) -> Row:
    slapd.reset_counts()
    cpu_before = cpu_seconds(pids)
    requests, elapsed, p50, p99, non200 = wrk(url, args.seconds, args.concurrency, env)
    cpu = cpu_seconds(pids) - cpu_before
    ops = slapd.count_ops()
    return Row(
        name, requests, elapsed, p50, p99, cpu / requests * 1e6,
        (ops.binds + ops.searches) / requests, ops.connections / requests, non200,
    )  # fmt: skip


async def bridge_row(base: Path, slapd: SlapdServer, workers: int, args: argparse.Namespace) -> Row:
    directory = base / f"bridge-{workers}"
    directory.mkdir(parents=True)
    document = bridge_document(
        [slapd.url],
        directory,
        server={"workers": workers, "request_deadline": "10s"},
        protection={"user_cache_ttl": "10m", "username_check_ttl": "10m"},
        logging={"format": "json", "level": "info"},
    )
    bridge = BridgeProcess(write_config(directory / "bridge.toml", document))
    bridge.start(event="workers_listening" if workers > 1 else "listening")
    try:
        plan = iter(
            [
                Attempt(people.bench_login(i), people.BENCH_PASSWORD, True)
                for i in range(1, args.users + 1)
            ]
            * 2
        )
        warm = await drive(
            bridge.url(), lambda w, i: next(plan, None), concurrency=args.concurrency, duration=30
        )
        assert all(r.status == 200 for r in warm), [r for r in warm if r.status != 200][:3]
        auth = "Basic " + base64.b64encode(f"{CLIENT_USER}:{CLIENT_PASSWORD}".encode()).decode()
        env = _env(args, BENCH_MODE="bridge", BENCH_AUTH=auth)
        assert bridge.process is not None
        return measure(
            f"bridge, workers={workers}", bridge.url(), family(bridge.process.pid), slapd, args, env
        )
    finally:
        bridge.stop()


def peer_row(slapd: SlapdServer, args: argparse.Namespace) -> Row | None:
    python = _peer_python()
    if python is None:
        return None
    port = free_port()
    daemon = subprocess.Popen(
        [str(python), str(PEER), "--host", "127.0.0.1", "-p", str(port), "-u", slapd.url,
         "-b", people.BASE_DN, "-D", people.SERVICE_DN, "-w", people.SERVICE_PASSWORD,
         "-f", "(uid=%(username)s)"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                subprocess.run(
                    ["wrk", "-t1", "-c1", "-d1s", f"http://127.0.0.1:{port}/"],
                    capture_output=True,
                    check=True,
                    timeout=5,
                )
                break
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                time.sleep(0.2)
        env = _env(args, BENCH_MODE="peer")
        return measure(
            "nginx-ldap-auth", f"http://127.0.0.1:{port}", [daemon.pid], slapd, args, env
        )
    finally:
        daemon.terminate()
        daemon.wait(10)


def _peer_python() -> Path | None:
    python = PEER_VENV / "bin" / "python"
    if python.exists():
        return python
    print("installing python-ldap for nginx-ldap-auth into", PEER_VENV)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "python-ldap"], check=True)
    except subprocess.CalledProcessError:
        print("  could not build python-ldap (apt-get install libldap2-dev libsasl2-dev); skipped")
        shutil.rmtree(PEER_VENV, ignore_errors=True)
        return None
    return python


def _env(args: argparse.Namespace, **extra: str) -> dict[str, str]:
    return {"BENCH_USERS": str(args.users), "BENCH_PASSWORD": people.BENCH_PASSWORD, **extra}


async def main(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("bench/run.py needs wrk (apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as scratch:
        base = Path(scratch)
        slapd = SlapdServer(base / "slapd", extra_users=USERS)
        slapd.start()
        try:
            rate, reference_us = ldap3_reference(slapd, 3.0)
            print(
                f"slapd with {USERS} users; {os.cpu_count()} cores; "
                f"c={args.concurrency}, {args.seconds:g} s per run"
            )
            print(
                f"plain ldap3 rebind loop, one connection: {rate:.0f} binds/s, "
                f"{reference_us:.0f} us CPU per bind"
            )
            rows = [await bridge_row(base, slapd, w, args) for w in args.workers]
            if not args.no_peer:
                peer = peer_row(slapd, args)
                if peer is not None:
                    rows.append(peer)
        finally:
            slapd.stop()
    print()
    print(HEADER)
    for row in rows:
        print(row.line())
    print()
    bridges = [r for r in rows if r.name.startswith("bridge")]
    peers = [r for r in rows if r.name == "nginx-ldap-auth"]
    first = bridges[0]
    print(f"CPU ratio, bridge ({first.name}) / plain ldap3 bind: {first.cpu_us / reference_us:.2f}")
    if peers:
        best = max(bridges, key=lambda r: r.rate)
        print(f"throughput vs nginx-ldap-auth: {best.rate / peers[0].rate:.2f}x ({best.name})")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--users", type=int, default=50, help="distinct users in the load")
    parser.add_argument("--no-peer", action="store_true", help="skip nginx-ldap-auth")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(_arguments()))
