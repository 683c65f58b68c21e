"""The ops listener against the private slapd: liveness, readiness, Prometheus metrics,
and the counters that must survive a reload.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from bridge.config import Config, LdapDirectorySettings, load
from bridge.process.runtime import Runtime
from bridge.web.app import create_app
from bridge.web.ops import create_ops_app
from tests.harness import openldap_people as people
from tests.harness.bridge_process import write_config
from tests.harness.client_credentials import CLIENT_PASSWORD, CLIENT_USER
from tests.harness.configs import deep_merge, openldap_raw
from tests.harness.loopback import free_port
from tests.harness.slapd import SlapdServer

pytestmark = pytest.mark.openldap

AUTH = "Basic " + base64.b64encode(f"{CLIENT_USER}:{CLIENT_PASSWORD}".encode()).decode()
JANE = people.PEOPLE["jdoe"]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def raw(slapd: SlapdServer, tmp_path: Path) -> dict[str, Any]:
    return openldap_raw(slapd, tmp_path)


class Bridge:
    """The Ringotel-facing app and the ops app sharing one Runtime, as in ``serve``."""

    def __init__(self, runtime: Runtime, main: TestClient[Any, Any], ops: TestClient[Any, Any]):
        self.runtime, self.main, self.ops = runtime, main, ops

    async def login(self, username: str, password: str) -> int:
        body = {"username": username, "password": password}
        answer = await self.main.post("/auth", json=body, headers={"Authorization": AUTH})
        return answer.status

    async def samples(self) -> Samples:
        answer = await self.ops.get("/metrics")
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = await answer.text()
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Callable[[dict[str, Any]], Any]]:
    bridges: list[Bridge] = []

    async def run(document: dict[str, Any]) -> Bridge:
        runtime = Runtime(load(write_config(tmp_path / "bridge.toml", document)))
        clients = []
        for app in (create_app(runtime), create_ops_app(runtime)):
            client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
            await client.start_server()
            clients.append(client)
        bridges.append(Bridge(runtime, *clients))
        return bridges[-1]

    yield run
    for bridge in bridges:
        await bridge.main.close()
        await bridge.ops.close()
        await bridge.runtime.close()


async def test_healthz_and_readyz_with_the_directory_up(start: Any, raw: dict[str, Any]) -> None:
    bridge = await start(raw)
    health = await bridge.ops.get("/healthz")
    assert (health.status, await health.json()) == (200, {"status": "ok"})
    ready = await bridge.ops.get("/readyz")
    assert ready.status == 200
    found = {
        "status": "ready",
        "server": raw["directory"]["urls"][0],
        "detail": "service account bound",
    }
    assert await ready.json() == {**found, "directories": {"default": found}}


async def test_ops_paths_are_not_on_the_ringotel_listener(start: Any, raw: dict[str, Any]) -> None:
    bridge = await start(raw)
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await bridge.main.get(path)).status == 404


async def test_readyz_is_503_when_no_directory_answers(start: Any, raw: dict[str, Any]) -> None:
    dead = deep_merge(raw, {"directory": {"urls": [f"ldap://127.0.0.1:{free_port()}"]}})
    bridge = await start(dead)
    answer = await bridge.ops.get("/readyz")
    body = await answer.json()
    assert answer.status == 503
    assert body["status"] == "unavailable"
    assert dead["directory"]["urls"][0] in body["detail"]
    assert (await bridge.ops.get("/healthz")).status == 200  # alive, just not ready


async def test_readyz_names_a_wrong_service_account_password(
    start: Any, raw: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "bind-password").write_text("not the service password")
    bridge = await start(raw)
    answer = await bridge.ops.get("/readyz")
    body = await answer.json()
    assert answer.status == 503
    assert "service account could not bind" in body["detail"]
    assert "invalidCredentials" in body["detail"]


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_after_a_few_logins(start: Any, raw: dict[str, Any]) -> None:
    grouped = deep_merge(raw, {"groups": {"allow": [people.GROUP_DNS[people.ALLOWED_GROUP]]}})
    bridge = await start(grouped)
    server = raw["directory"]["urls"][0]
    assert [
        await bridge.login("jdoe", JANE.password),
        await bridge.login("jdoe", JANE.password),
        await bridge.login("jdoe", "a wrong password"),
        await bridge.login("jdoe", "a wrong password"),  # stale: not sent to the directory
        await bridge.login("nobody-at-all", "whatever"),
    ] == [200, 200, 403, 403, 403]
    samples = await bridge.samples()

    prefix = "ringotel_bridge_"
    logins = prefix + "logins_total"
    assert value(samples, logins, outcome="accepted", reason="ok", directory="default") == 2
    rejected = {
        reason: value(samples, logins, outcome="rejected", reason=reason, directory="default")
        for reason in ("bad_password", "stale_password", "unknown_user")
    }
    assert rejected == {"bad_password": 1, "stale_password": 1, "unknown_user": 1}
    assert value(samples, prefix + "throttled_logins_total", reason="stale_password") == 1
    assert value(samples, prefix + "request_duration_seconds_count", endpoint="auth") == 5
    assert value(samples, prefix + "request_duration_seconds_bucket", endpoint="auth", le="+Inf")
    for operation in ("search", "bind"):
        assert value(
            samples,
            prefix + "directory_operation_duration_seconds_count",
            directory="default",
            server=server,
            operation=operation,
            result="ok",
        )
    labels = {"directory": "default", "server": server}
    assert value(samples, prefix + "directory_server_up", **labels) == 1
    assert (prefix + "directory_connections_in_use", frozenset(labels.items())) in samples
    assert value(samples, prefix + "group_cache_misses_total") == 1
    assert value(samples, prefix + "group_cache_hits_total") == 1


async def test_guard_and_cache_counters_survive_a_reload(
    start: Any, raw: dict[str, Any], tmp_path: Path
) -> None:
    grouped = deep_merge(raw, {"groups": {"allow": [people.GROUP_DNS[people.ALLOWED_GROUP]]}})
    bridge = await start(grouped)
    assert await bridge.login("jdoe", JANE.password) == 200
    assert await bridge.login("jdoe", "stale saved password") == 403
    before = bridge.runtime.service

    write_config(
        tmp_path / "bridge.toml", deep_merge(grouped, {"usernames": [{"attribute": "uid"}]})
    )
    assert await bridge.runtime.reload()
    assert bridge.runtime.service is not before
    assert bridge.runtime.service.login.guard is before.login.guard is bridge.runtime.guard
    assert await bridge.login("jdoe", "stale saved password") == 403
    assert await bridge.login("jdoe", JANE.password) == 200
    samples = await bridge.samples()
    assert value(samples, "ringotel_bridge_throttled_logins_total", reason="stale_password") == 1
    assert value(samples, "ringotel_bridge_group_cache_misses_total") == 2  # new cache, kept count
    assert value(samples, "ringotel_bridge_config_reloads_total", result="ok") == 1

    # the guard is the Runtime's: a stricter budget applies to the memory it already has
    stricter = deep_merge(grouped, {"protection": {"max_failures": 3}})
    write_config(tmp_path / "bridge.toml", stricter)
    assert await bridge.runtime.reload()
    assert bridge.runtime.service.login.guard is bridge.runtime.guard
    assert bridge.runtime.guard.limits.max_failures == 3
    for guess in ("one", "two", "three"):
        assert await bridge.login("jdoe", guess) == 403
    assert await bridge.login("jdoe", JANE.password) == 403  # 3 failures: spent


def test_config_fixture_shape_matches_loaded_config(raw: dict[str, Any], tmp_path: Path) -> None:
    """The TOML writer round-trips the documents these tests build."""
    config: Config = load(write_config(tmp_path / "bridge.toml", raw))
    assert isinstance(config.settings.directory, LdapDirectorySettings)
    assert config.settings.directory.urls == tuple(raw["directory"]["urls"])
    assert config.settings.usernames[0].attribute == "telephoneNumber"


async def test_server_gauges_come_from_the_directory_at_scrape_time(
    start: Any, raw: dict[str, Any]
) -> None:
    """Up or down as the last operation sent to each server went; a server asked
    nothing yet has no up/down series, but its connections in use are shown."""
    dead, alive = f"ldap://127.0.0.1:{free_port()}", raw["directory"]["urls"][0]
    untried = f"ldap://127.0.0.1:{free_port()}"
    bridge = await start(deep_merge(raw, {"directory": {"urls": [dead, alive, untried]}}))
    assert await bridge.login("jdoe", JANE.password) == 200
    samples = await bridge.samples()
    up = "ringotel_bridge_directory_server_up"
    assert value(samples, up, directory="default", server=dead) == 0
    assert value(samples, up, directory="default", server=alive) == 1
    assert (up, frozenset({("directory", "default"), ("server", untried)})) not in samples
    for server in (dead, alive, untried):
        labels = frozenset({("directory", "default"), ("server", server)})
        assert samples[("ringotel_bridge_directory_connections_in_use", labels)] == 0
