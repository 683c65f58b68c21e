"""Ringotel's own credentials are guessed per source address, in every mode: a guessing
address gets 429 with Retry-After, Ringotel calling from its own address does not, and
neither a reload nor the client_id an attacker sends changes that. Over real HTTP, with
the private slapd behind."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from bridge.config import load
from bridge.web.keys import RUNTIME
from tests.harness import openldap_people as people
from tests.harness.auth_client import AUTH
from tests.harness.bridge_process import write_config
from tests.harness.client_credentials import CLIENT_PASSWORD, CLIENT_USER
from tests.harness.clock import FakeClock
from tests.harness.configs import openldap_raw, write_secret
from tests.harness.in_process import StartBridge
from tests.harness.logs import log_events
from tests.harness.slapd import SlapdServer

JANE = people.PEOPLE["jdoe"]
ATTACKER = {"X-Forwarded-For": "203.0.113.9"}
RINGOTEL = {"X-Forwarded-For": "198.51.100.7"}
BEARER_TOKEN = "bearer-token-for-tests-0123456789"
LIMITS = {"client_max_failures": 5, "client_failure_window": "10m"}


@pytest.fixture
def raw(slapd: SlapdServer, tmp_path: Path) -> dict[str, Any]:
    return openldap_raw(slapd, tmp_path)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def modes(tmp_path: Path) -> dict[str, tuple[dict[str, Any], str, str]]:
    """mode -> ([client_auth], the right header, a wrong one)."""
    token_file = write_secret(tmp_path, "bearer-token", BEARER_TOKEN)
    return {
        "basic": (
            {
                "mode": "basic",
                "username": CLIENT_USER,
                "password_file": write_secret(tmp_path, "client-password", CLIENT_PASSWORD),
            },
            AUTH,
            basic(CLIENT_USER, "guessed-password-123"),
        ),
        "bearer": (
            {"mode": "bearer", "token_file": token_file},
            f"Bearer {BEARER_TOKEN}",
            "Bearer guessed-token-0123456789",
        ),
    }


async def post(client: Any, authorization: str, source: dict[str, str]) -> Any:
    return await client.post(
        "/auth",
        json={"username": JANE.login, "password": JANE.password},
        headers={"Authorization": authorization, **source},
    )


@pytest.mark.openldap
@pytest.mark.parametrize("mode", ["basic", "bearer"])
async def test_a_guessing_address_gets_429_and_ringotel_does_not(
    start_bridge: StartBridge, tmp_path: Path, log_stream: Any, mode: str
) -> None:
    """The found bug: 100 wrong Basic passwords were all answered, and the right one
    still worked. Now the fifth wrong one spends the address's budget."""
    section, right, wrong = modes(tmp_path)[mode]
    client = await start_bridge(
        client_auth=section,
        server={"trusted_proxies": ["127.0.0.1/32"]},
        protection=LIMITS,
    )
    clock = FakeClock()
    runtime = client.server.app[RUNTIME]
    runtime.guard.clock = runtime.guard.store.clock = clock

    statuses = [(await post(client, wrong, ATTACKER)).status for _ in range(100)]
    assert statuses == [401] * 5 + [429] * 95
    refused = await post(client, right, ATTACKER)  # the right secret waits too
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "600"
    assert (await refused.json())["error"] == "too_many_attempts"
    assert (await post(client, right, RINGOTEL)).status == 200  # Ringotel is unaffected

    missing = await client.post("/auth", json={}, headers=RINGOTEL)
    assert missing.status == 401  # no credentials at all is not a guess
    clock.advance(601)
    assert (await post(client, right, ATTACKER)).status == 200
    failures = runtime.metrics.client_auth_failures
    assert failures.labels(mode, "too_many_attempts")._value.get() == 96
    logged = [e for e in log_events(log_stream) if e["event"] == "client_auth_failed"]
    assert {e["client"] for e in logged} == {"203.0.113.9", "198.51.100.7"}


@pytest.mark.openldap
async def test_the_limit_survives_a_reload(
    slapd: SlapdServer, tmp_path: Path, bridge_client: Any
) -> None:
    section, right, wrong = modes(tmp_path)["basic"]
    raw = {
        **openldap_raw(slapd, tmp_path),
        "client_auth": section,
        "protection": LIMITS,
    }
    raw["server"] = {**raw["server"], "trusted_proxies": ["127.0.0.1/32"]}
    path = write_config(tmp_path / "bridge.toml", raw)
    client = await bridge_client(load(path, environ={}))
    for _ in range(5):
        assert (await post(client, wrong, ATTACKER)).status == 401
    raw["usernames"] = [{"attribute": "uid"}]
    write_config(path, raw)
    assert await client.server.app[RUNTIME].reload()
    assert (await post(client, right, ATTACKER)).status == 429
    assert (await post(client, right, RINGOTEL)).status == 200
