"""Two bridge processes, one Redis, one Samba DC: the guard is shared, so two instances
give AD one failure budget, not two; and when Redis stops answering, logins go on,
correct and within the deadline, with each instance's budget halved."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridge.config import from_mapping
from bridge.core.errors import ConfigError
from tests.harness import ad_people
from tests.harness.auth_client import AUTH
from tests.harness.bridge_process import BridgeProcess, write_config
from tests.harness.configs import ad_raw, deep_merge, openldap_raw, write_secret
from tests.harness.redis import RedisServer
from tests.harness.samba import SambaDC
from tests.harness.slapd import SlapdServer

LOCKME = ad_people.LOCKME


# ------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("protection", "key", "text"),
    [
        ({"store": "http://redis:6379"}, "protection.store", "expected"),
        ({"store": "redis://:pw@redis:6379/0"}, "protection.store", "store_password_file"),
        ({"store_password_file": "pw"}, "protection.store_password_file", "shared store"),
        (
            {"store": "redis://redis:6379/0", "store_ca_file": "ca.pem"},
            "protection.store_ca_file",
            "rediss://",
        ),
    ],
)
def test_store_settings_refuse_what_does_not_apply(
    slapd: SlapdServer, tmp_path: Path, protection: dict[str, Any], key: str, text: str
) -> None:
    raw = deep_merge(openldap_raw(slapd, tmp_path), {"protection": protection})
    with pytest.raises(ConfigError) as caught:
        from_mapping(raw, base_dir=tmp_path, environ={})
    problems = {p.key: p.message for p in caught.value.problems}
    assert key in problems, problems
    assert text in problems[key]


@pytest.mark.parametrize(
    "store", ["redis://127.0.0.1:6379/0", "rediss://redis.corp:6380/1", "unix:///run/r.sock"]
)
def test_store_urls_that_load(slapd: SlapdServer, tmp_path: Path, store: str) -> None:
    raw = deep_merge(openldap_raw(slapd, tmp_path), {"protection": {"store": store}})
    assert from_mapping(raw, base_dir=tmp_path, environ={}).settings.protection.store == store


# ----------------------------------------------------------------- two processes


def bad_password_count(dc: SambaDC) -> int:
    return int((dc.read_attr(LOCKME.dn, "badPwdCount") or ["0"])[0])


@pytest.fixture
def pair(
    samba_dc: SambaDC, redis_server: RedisServer, tmp_path: Path
) -> Iterator[list[BridgeProcess]]:
    """Two bridges on the suite's DC sharing the suite's Redis, lockme unlocked."""
    samba_dc.unlock(LOCKME.sam)
    processes = []
    try:
        for name in ("a", "b"):
            folder = tmp_path / name
            folder.mkdir()
            raw = ad_raw(samba_dc, folder)
            raw["server"] = {**raw["server"], "ops_listen": "127.0.0.1:0"}
            raw["protection"] = {
                "max_failures": 2,
                "store": redis_server.url,
                "store_password_file": write_secret(folder, "redis", redis_server.password),
                "store_timeout": "200ms",
                "expected_instances": 2,
            }
            raw["logging"] = {"format": "json"}
            # the same guard key in both: the same keys and fingerprints in Redis
            (folder / "guard-key").write_bytes(b"k" * 32)
            (folder / "guard-key").chmod(0o600)
            config = write_config(folder / "bridge.toml", raw)
            processes.append(BridgeProcess(config).start())
        yield processes
    finally:
        for process in processes:
            process.stop()
        samba_dc.unlock(LOCKME.sam)


async def login(url: str, username: str, password: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url + "/auth",
            json={"username": username, "password": password},
            headers={"Authorization": AUTH},
        ) as answer,
    ):
        return answer.status


@pytest.mark.samba
async def test_two_instances_give_ad_one_budget(
    pair: list[BridgeProcess], samba_dc: SambaDC, redis_server: RedisServer
) -> None:
    """Distinct wrong passwords alternated between the two reach the DC max_failures
    (2) times in total, not 2 per instance; one stale password repeated through both
    raises badPwdCount by exactly 1."""
    urls = [p.url() for p in pair]
    before = bad_password_count(samba_dc)
    stale = [await login(urls[i % 2], LOCKME.upn, "Old-Saved-Password-1") for i in range(20)]
    assert stale == [403] * 20
    assert bad_password_count(samba_dc) - before == 1
    # a success through the other one clears what both remember
    assert await login(urls[1], LOCKME.sam, LOCKME.password) == 200
    before = bad_password_count(samba_dc)
    statuses = [await login(urls[i % 2], LOCKME.sam, f"Guess-{i}-x") for i in range(10)]
    assert statuses == [403] * 10
    assert bad_password_count(samba_dc) - before == 2


@pytest.mark.samba
@pytest.mark.parametrize("outage", ["paused", "killed"])
async def test_redis_outage_never_fails_a_login_nor_opens_the_guard(
    pair: list[BridgeProcess], redis_server: RedisServer, outage: str
) -> None:
    urls = [p.url() for p in pair]
    good = ad_people.ALICE
    assert await login(urls[0], good.sam, good.password) == 200
    if outage == "paused":
        redis_server.pause()
    else:
        redis_server.kill()
    try:
        started = time.monotonic()
        answers = await asyncio.gather(
            *(login(urls[i % 2], good.sam, good.password) for i in range(20)),
            *(login(urls[i % 2], ad_people.BOB.sam, f"wrong-{i}") for i in range(6)),
        )
        elapsed = time.monotonic() - started
        assert list(answers[:20]) == [200] * 20  # correct: the right password works
        assert list(answers[20:]) == [403] * 6  # and a wrong one never does
        assert elapsed < 10  # within request_deadline, with room for a loaded machine
        for process in pair:
            down = process.wait_for_event("guard_store_down")
            assert down["budget_share"] == 2
    finally:
        if outage == "paused":
            redis_server.resume()
        else:
            redis_server.start()
    for process in pair:
        process.wait_for_event("guard_store_up", timeout=40)


def test_check_config_connect_pings_the_store(
    slapd: SlapdServer, redis_server: RedisServer, tmp_path: Path
) -> None:
    from tests.harness.bridge_process import run_command

    raw = openldap_raw(slapd, tmp_path)
    raw["protection"] = {
        "max_failures": 2,
        "store": redis_server.url,
        "store_password_file": write_secret(tmp_path, "redis", redis_server.password),
    }
    path = write_config(tmp_path / "bridge.toml", raw)
    answered = run_command("--config", str(path), "check-config", "--connect")
    assert answered.returncode == 0, answered.stdout + answered.stderr
    assert f"guard store {redis_server.url}:\n  OK (answers PING)" in answered.stdout
    redis_server.pause()
    try:
        silent = run_command("--config", str(path), "check-config", "--connect")
    finally:
        redis_server.resume()
    assert silent.returncode == 2
    assert "FAILED: TimeoutError" in silent.stdout
