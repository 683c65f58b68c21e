"""Several directories against real servers: two Samba domains and slapd.

``EXAMPLE.TEST`` (the suite's DC, directory ``corp``), ``SUBSIDIARY.TEST`` (a second
DC on another loopback address, directory ``sub``) and the slapd (directory
``contractors``, reached by mail address). ``alice`` lives in both domains with other
passwords and extensions; ``jsmith`` in EXAMPLE and in slapd.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.harness import ad_people, subsidiary_people
from tests.harness import openldap_people as people
from tests.harness.auth_client import audit, login
from tests.harness.bridge_process import write_config
from tests.harness.clock import FakeClock
from tests.harness.configs import deep_merge, several_raw
from tests.harness.in_process import Pair
from tests.harness.loopback import free_port
from tests.harness.samba import SambaDC
from tests.harness.slapd import SlapdServer

pytestmark = [pytest.mark.samba, pytest.mark.openldap]

ALICE = ad_people.ALICE
SUB_ALICE = subsidiary_people.ALICE
SVEN = subsidiary_people.SVEN
JDOE = people.PEOPLE["jdoe"]
StartPair = Callable[..., Awaitable[Pair]]


@pytest.fixture
def raw(
    samba_dc: SambaDC, subsidiary_dc: SambaDC, slapd: SlapdServer, tmp_path: Path
) -> dict[str, Any]:
    return several_raw(samba_dc, subsidiary_dc, slapd, tmp_path)


def usernames(body: dict[str, Any]) -> list[str]:
    return [value["username"] for value in body["values"]]


# -- routing ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "password", "directory", "expected"),
    [
        ("SUBSIDIARY\\alice", SUB_ALICE.password, "sub", ["7201"]),
        ("EXAMPLE\\alice", ALICE.password, "corp", ["201", "202", "203"]),
        ("alice@subsidiary.test", SUB_ALICE.password, "sub", ["7201"]),
        ("Alice@Example.Test", ALICE.password, "corp", ["201", "202", "203"]),
        ("alice", ALICE.password, "corp", ["201", "202", "203"]),  # bare: the default
        ("jane.doe@example.org", JDOE.password, "contractors", list(JDOE.usernames)),
    ],
)
async def test_each_login_reaches_its_own_directory(
    start_pair: StartPair,
    raw: dict[str, Any],
    log_stream: io.StringIO,
    typed: str,
    password: str,
    directory: str,
    expected: list[str],
) -> None:
    bridge = await start_pair(raw)
    status, body = await login(bridge.main, typed, password)
    assert (status, usernames(body)) == (200, expected)
    assert audit(log_stream, typed)["directory"] == directory


@pytest.mark.parametrize(
    ("typed", "password", "directory", "reason"),
    [
        ("alice", SUB_ALICE.password, "corp", "bad_password"),  # bare alice is corp's
        ("EXAMPLE\\alice", SUB_ALICE.password, "corp", "bad_password"),
        ("SUBSIDIARY\\alice", ALICE.password, "sub", "bad_password"),
        ("sven", SVEN.password, "corp", "unknown_user"),  # only sub has sven: not guessed
        ("OTHER\\alice", ALICE.password, "corp", "invalid_login"),  # no directory's prefix
    ],
)
async def test_the_other_directorys_password_or_user_does_not_count(
    start_pair: StartPair,
    raw: dict[str, Any],
    log_stream: io.StringIO,
    typed: str,
    password: str,
    directory: str,
    reason: str,
) -> None:
    bridge = await start_pair(raw)
    assert (await login(bridge.main, typed, password))[0] == 403
    event = audit(log_stream, typed)
    assert (event["directory"], event["reason"]) == (directory, reason)
    assert (await login(bridge.main, "SUBSIDIARY\\sven", SVEN.password))[0] == 200


async def test_a_bare_name_in_two_default_directories_is_refused(
    start_pair: StartPair, raw: dict[str, Any], samba_dc: SambaDC, log_stream: io.StringIO
) -> None:
    """jsmith is in EXAMPLE and in slapd: with both asked for bare names, neither wins."""
    raw["directories"][2]["default"] = True
    bridge = await start_pair(raw)
    smith = ad_people.JSMITH
    before = samba_dc.read_attr(smith.dn, "badPwdCount")
    assert (await login(bridge.main, "jsmith", smith.password))[0] == 403
    event = audit(log_stream, "jsmith")
    assert event["reason"] == "ambiguous_directory"
    assert event["detail"] == "found in directory corp, directory contractors"
    assert "directory" not in event
    assert samba_dc.read_attr(smith.dn, "badPwdCount") == before  # no password went out
    # a name found in one of them goes there; a prefix or suffix needs no guess
    assert (await login(bridge.main, "jdoe", JDOE.password))[0] == 200
    assert audit(log_stream, "jdoe")["directory"] == "contractors"
    assert (await login(bridge.main, "bob", ad_people.BOB.password))[0] == 200
    assert (await login(bridge.main, "EXAMPLE\\jsmith", smith.password))[0] == 200


async def test_failure_budgets_are_kept_per_directory(
    start_pair: StartPair, raw: dict[str, Any], log_stream: io.StringIO
) -> None:
    clock = FakeClock()
    bridge = await start_pair(raw, clock)
    for guess in ("guess-1", "guess-2", "guess-3"):
        assert (await login(bridge.main, "SUBSIDIARY\\alice", guess))[0] == 403
    assert audit(log_stream, "SUBSIDIARY\\alice")["reason"] == "bad_password"
    assert (await login(bridge.main, "SUBSIDIARY\\alice", SUB_ALICE.password))[0] == 403
    spent = audit(log_stream, "SUBSIDIARY\\alice")
    assert (spent["reason"], spent["guarded"], spent["directory"]) == ("throttled", True, "sub")
    # the other alice, by prefix and bare, has her own budget
    assert (await login(bridge.main, "EXAMPLE\\alice", ALICE.password))[0] == 200
    assert (await login(bridge.main, "alice", ALICE.password))[0] == 200
    clock.advance(bridge.runtime.config.settings.protection.failure_window + 1)
    assert (await login(bridge.main, "SUBSIDIARY\\alice", SUB_ALICE.password))[0] == 200


# -- the operator's view: readiness, metrics ----------------------------------------------
async def test_readyz_and_metrics_cover_every_directory(
    start_pair: StartPair, raw: dict[str, Any], subsidiary_dc: SambaDC, slapd: SlapdServer
) -> None:
    bridge = await start_pair(raw)
    ready = await bridge.ops.get("/readyz")
    body = await ready.json()
    assert (ready.status, body["status"]) == (200, "ready")
    assert {name: each["status"] for name, each in body["directories"].items()} == {
        "corp": "ready",
        "sub": "ready",
        "contractors": "ready",
    }
    assert body["directories"]["sub"]["server"] == subsidiary_dc.ldaps_url
    assert (await login(bridge.main, "SUBSIDIARY\\alice", SUB_ALICE.password))[0] == 200
    assert (await login(bridge.main, "jane.doe@example.org", JDOE.password))[0] == 200
    samples = await bridge.samples()
    up = "ringotel_bridge_directory_server_up"
    assert samples[(up, frozenset({("directory", "sub"), ("server", subsidiary_dc.ldaps_url)}))]
    assert samples[(up, frozenset({("directory", "contractors"), ("server", slapd.url)}))]
    logins = "ringotel_bridge_logins_total"
    for directory in ("sub", "contractors"):
        labels = {("outcome", "accepted"), ("reason", "ok"), ("directory", directory)}
        assert samples[(logins, frozenset(labels))] == 1
    binds = "ringotel_bridge_directory_operation_duration_seconds_count"
    assert any(
        name == binds and ("directory", "sub") in labels and ("operation", "bind") in labels
        for name, labels in samples
    )


async def test_readyz_is_degraded_while_one_directory_is_down(
    start_pair: StartPair, raw: dict[str, Any]
) -> None:
    dead = f"ldaps://127.0.0.1:{free_port()}"
    raw["directories"][1]["urls"] = [dead]
    bridge = await start_pair(raw)
    ready = await bridge.ops.get("/readyz")
    body = await ready.json()
    assert (ready.status, body["status"]) == (200, "degraded")
    assert body["directories"]["sub"]["status"] == "unavailable"
    assert dead in body["directories"]["sub"]["detail"]
    assert body["directories"]["corp"]["status"] == "ready"
    # its logins are unavailable, the others' work
    assert (await login(bridge.main, "SUBSIDIARY\\alice", SUB_ALICE.password))[0] == 503
    assert (await login(bridge.main, "EXAMPLE\\alice", ALICE.password))[0] == 200
    none_up = deep_merge(raw, {})
    for directory in none_up["directories"]:
        directory["urls"] = [dead]
    silent = await start_pair(none_up)
    assert (await silent.ops.get("/readyz")).status == 503


async def test_a_reload_that_drops_a_directory_drops_its_series(
    start_pair: StartPair, raw: dict[str, Any], tmp_path: Path
) -> None:
    bridge = await start_pair(raw)
    assert (await login(bridge.main, "SUBSIDIARY\\alice", SUB_ALICE.password))[0] == 200

    def directories(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> set[str]:
        return {
            value
            for name, labels in samples
            if name == "ringotel_bridge_directory_server_up"
            for label, value in labels
            if label == "directory"
        }

    assert "sub" in directories(await bridge.samples())
    fewer = {**raw, "directories": [raw["directories"][0], raw["directories"][2]]}
    assert await bridge.runtime.reload(write_config(tmp_path / "bridge.toml", fewer))
    assert list(bridge.runtime.service.directories) == ["corp", "contractors"]
    assert "sub" not in directories(await bridge.samples())
    assert (await login(bridge.main, "SUBSIDIARY\\alice", SUB_ALICE.password))[0] == 403
