"""Several directories as the administrator sees them: ``check-config`` (each directory's
summary and probe), ``test-login`` (which directory, and why), and a global catalog.

The global catalog runs on the suite's EXAMPLE.TEST DC (Samba answers on 3268/3269 with
its ``ldap`` service). Samba hosts a second domain only as a second forest, so no
catalog here knows two domains: what is tested against a real one is that a bare name
goes through the catalog to the directory serving the DN's domain, that a name only the
other forest holds is not guessed, and that the catalog shows up wherever a directory
does. Finds in two domains and in an unserved one are tested with a fake catalog
(``test_login_routing``).
"""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bridge.commands.check_config import check_config
from bridge.commands.test_login import test_login as run_test_login
from bridge.config import Config
from tests.harness import ad_people, subsidiary_people
from tests.harness.auth_client import audit, login
from tests.harness.configs import several_raw
from tests.harness.in_process import Pair
from tests.harness.samba import SambaDC
from tests.harness.slapd import SlapdServer

pytestmark = [pytest.mark.samba, pytest.mark.openldap]

GC_TLS_PORT = 3269
SUB_ALICE = subsidiary_people.ALICE


@pytest.fixture
def raw(
    samba_dc: SambaDC, subsidiary_dc: SambaDC, slapd: SlapdServer, tmp_path: Path
) -> dict[str, Any]:
    return several_raw(samba_dc, subsidiary_dc, slapd, tmp_path)


@pytest.fixture
def checked(raw: dict[str, Any]) -> dict[str, Any]:
    return passing_checks(raw)


def passing_checks(raw: dict[str, Any]) -> dict[str, Any]:
    """What check-config --connect passes: usernames users cannot write on themselves
    (AD's ipPhone is self-writable, a FAILED line) and a budget below slapd's strict
    policy."""
    raw["usernames"] = [{"attribute": "employeeNumber"}]
    raw["directories"][1]["usernames"] = [{"attribute": "employeeNumber"}]
    raw["protection"]["max_failures"] = 2
    return raw


def catalog_of(dc: SambaDC) -> str:
    """The DC's global catalog over TLS, once it listens (a moment after 389/636)."""
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection((dc.host, GC_TLS_PORT), timeout=0.5).close()
        except OSError:
            assert time.monotonic() < deadline, f"no global catalog on {dc.host}:{GC_TLS_PORT}"
            time.sleep(0.1)
        else:
            return f"ldaps://{dc.host}:{GC_TLS_PORT}"


@pytest.fixture
def forest(raw: dict[str, Any], samba_dc: SambaDC) -> dict[str, Any]:
    """``corp`` finds bare names through its forest's global catalog."""
    raw["directories"][0]["global_catalog"] = catalog_of(samba_dc)
    return raw


# -- check-config ---------------------------------------------------------------------
async def test_check_config_summarises_and_probes_every_directory(
    checked: dict[str, Any],
    make_config: Callable[..., Config],
    capsys: pytest.CaptureFixture[str],
    samba_dc: SambaDC,
    subsidiary_dc: SambaDC,
    slapd: SlapdServer,
) -> None:
    assert await check_config(make_config(checked), connect=False) == 0
    summary = capsys.readouterr().out
    for name in ("corp", "sub", "contractors"):
        assert f"  directory {name}:\n" in summary
    assert "    routed here: SUBSIDIARY\\name" in summary
    assert "    routed here: name@example.org" in summary
    assert "    bare names: asked here (default)" in summary
    assert f"    base DN: {subsidiary_people.BASE_DN}" in summary

    assert await check_config(make_config(checked), connect=True) == 0
    probed = capsys.readouterr().out
    sections = probed.split("directory ")
    for name, url in (
        ("corp", samba_dc.ldaps_url),
        ("sub", subsidiary_dc.ldaps_url),
        ("contractors", slapd.url),
    ):
        (section,) = [s for s in sections if s.startswith(f"{name}:\n{url}:")]
        assert "bind: service account" in section
        assert "  OK" in section
    assert f"bind: service account {subsidiary_people.SERVICE_ACCOUNT.dn} OK" in probed


async def test_check_config_fails_for_one_broken_directory(
    checked: dict[str, Any],
    make_config: Callable[..., Config],
    capsys: pytest.CaptureFixture[str],
) -> None:
    checked["directories"][1]["bind_dn"] = "CN=nobody,DC=subsidiary,DC=test"
    assert await check_config(make_config(checked), connect=True) == 2
    probed = capsys.readouterr().out.split("directory corp:\n")[-1]  # after the summary
    corp, rest = probed.split("directory sub:\n")
    sub, contractors = rest.split("directory contractors:\n")
    assert "FAILED: service account bind failed" in sub
    assert "FAILED" not in corp
    assert "FAILED" not in contractors


# -- test-login ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "password", "said"),
    [
        ("SUBSIDIARY\\alice", SUB_ALICE.password, "directory sub: NetBIOS prefix SUBSIDIARY"),
        ("alice@subsidiary.test", SUB_ALICE.password, "directory sub: suffix @subsidiary.test"),
        ("alice", ad_people.ALICE.password, "bare name: default directory corp"),
    ],
)
async def test_test_login_says_which_directory_and_why(
    raw: dict[str, Any],
    make_config: Callable[..., Config],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    typed: str,
    password: str,
    said: str,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    assert await run_test_login(make_config(raw), typed, password_stdin=True) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[1] == f"  {said}"
    directory = "sub" if "sub" in said else "corp"
    assert f"directory: {directory}" in lines
    assert "ACCEPTED" in lines


# -- a global catalog ---------------------------------------------------------------------
async def test_a_bare_name_is_found_through_the_global_catalog(
    forest: dict[str, Any],
    samba_dc: SambaDC,
    start_pair: Callable[..., Awaitable[Pair]],
    log_stream: io.StringIO,
) -> None:
    bridge = await start_pair(forest)
    alice = ad_people.ALICE
    assert (await login(bridge.main, "alice", alice.password))[0] == 200
    assert audit(log_stream, "alice")["directory"] == "corp"
    # sven lives in the other forest: this catalog has not heard of him, and he is not
    # looked for anywhere else (the subsidiary is reached by prefix or suffix)
    assert (await login(bridge.main, "sven", subsidiary_people.SVEN.password))[0] == 403
    assert audit(log_stream, "sven")["reason"] == "unknown_user"
    sven = subsidiary_people.SVEN
    assert (await login(bridge.main, "SUBSIDIARY\\sven", sven.password))[0] == 200
    # alice's other password is no good for the alice the catalog found
    assert (await login(bridge.main, "alice", SUB_ALICE.password))[0] == 403
    assert audit(log_stream, "alice")["reason"] == "bad_password"

    catalog = forest["directories"][0]["global_catalog"]
    ready = await (await bridge.ops.get("/readyz")).json()
    assert ready["directories"]["corp (global catalog)"]["server"] == catalog
    samples = await bridge.samples()
    searches = "ringotel_bridge_directory_operation_duration_seconds_count"
    labels = {
        ("directory", "corp"),
        ("server", catalog),
        ("operation", "catalog_search"),
        ("result", "ok"),
    }
    assert samples[(searches, frozenset(labels))] == 3
    server = frozenset({("directory", "corp"), ("server", catalog)})
    assert samples[("ringotel_bridge_directory_server_up", server)] == 1


async def test_test_login_and_check_config_show_the_catalog(
    forest: dict[str, Any],
    make_config: Callable[..., Config],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalog = forest["directories"][0]["global_catalog"]
    monkeypatch.setattr("sys.stdin", io.StringIO(ad_people.ALICE.password + "\n"))
    assert await run_test_login(make_config(forest), "alice", password_stdin=True) == 0
    out = capsys.readouterr().out
    assert "  bare name: default directory corp's global catalog\n" in out
    assert f"  corp's global catalog: {ad_people.ALICE.dn}: directory corp\n" in out
    assert "directory: corp\n" in out

    assert await check_config(make_config(passing_checks(forest)), connect=True) == 0
    out = capsys.readouterr().out
    assert f"    bare names: located forest-wide in {catalog}" in out
    section = out.split("directory corp (global catalog):\n")[1].split("directory sub:")[0]
    assert section.startswith(f"{catalog}:\n")
    assert "bind: service account" in section
    assert "user filter: OK" in section
