"""Reaching Active Directory safely: LDAPS, StartTLS, TLS failures, plaintext, failover.

Each failure must be a 503 (never a wrong password) plus a log line an administrator
can act on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridge.config import Config
from bridge.core.errors import ConfigError
from tests.harness import ad_people
from tests.harness.auth_client import DENIED, audit, directory_of, login
from tests.harness.configs import ad_raw
from tests.harness.in_process import StartBridge
from tests.harness.logs import log_events
from tests.harness.loopback import free_port
from tests.harness.samba import SambaDC
from tests.harness.tls import make_ca

pytestmark = pytest.mark.samba

BOB = ad_people.BOB
UNAVAILABLE = {"error": "directory_unavailable"}


@pytest.fixture
def raw(samba_dc: SambaDC, tmp_path: Path) -> dict[str, Any]:
    return ad_raw(samba_dc, tmp_path)


def logged(stream: Any, text: str) -> list[dict[str, Any]]:
    """Log events whose JSON mentions ``text`` (case-insensitive)."""
    return [e for e in log_events(stream) if text.lower() in json.dumps(e).lower()]


async def test_ldaps_with_ca_verification(start_bridge: StartBridge) -> None:
    client = await start_bridge()
    assert (await login(client, BOB.sam, BOB.password))[0] == 200


async def test_starttls_on_plain_port(start_bridge: StartBridge, samba_dc: SambaDC) -> None:
    client = await start_bridge(directory={"urls": [samba_dc.ldap_url], "start_tls": True})
    assert (await login(client, BOB.sam, BOB.password))[0] == 200


async def test_tls_server_name_that_the_certificate_carries(start_bridge: StartBridge) -> None:
    client = await start_bridge(directory={"tls_server_name": "localhost"})
    assert (await login(client, BOB.sam, BOB.password))[0] == 200


async def test_wrong_ca_is_503_and_says_chain_not_trusted(
    start_bridge: StartBridge, log_stream: Any, tmp_path: Path
) -> None:
    other = make_ca(tmp_path / "other-ca", common_name="some other CA")
    client = await start_bridge(directory={"ca_file": str(other.cert_path)})
    assert await login(client, BOB.sam, BOB.password) == (503, UNAVAILABLE)
    assert logged(log_stream, "certificate chain not trusted; check ca_file")
    assert audit(log_stream, BOB.sam)["reason"] == "directory_unavailable"


async def test_name_mismatch_is_503_and_says_so(start_bridge: StartBridge, log_stream: Any) -> None:
    client = await start_bridge(directory={"tls_server_name": "wrong.example"})
    assert await login(client, BOB.sam, BOB.password) == (503, UNAVAILABLE)
    assert logged(log_stream, "the certificate does not name this server")
    assert logged(log_stream, "wrong.example")


async def test_starttls_name_mismatch_is_503(
    start_bridge: StartBridge, log_stream: Any, samba_dc: SambaDC
) -> None:
    directory = {"urls": [samba_dc.ldap_url], "start_tls": True, "tls_server_name": "wrong.example"}
    client = await start_bridge(directory=directory)
    assert await login(client, BOB.sam, BOB.password) == (503, UNAVAILABLE)
    assert logged(log_stream, "the certificate does not name this server")


def test_plaintext_is_refused_at_config_load(
    raw: dict[str, Any], make_config: Callable[..., Config], samba_dc: SambaDC
) -> None:
    with pytest.raises(ConfigError) as refused:
        make_config(raw, directory={"urls": [samba_dc.ldap_url]})
    assert "allow_plaintext" in str(refused.value)
    assert "directory" in str(refused.value)


async def test_plaintext_against_strong_auth_dc_says_use_tls(
    start_bridge: StartBridge, log_stream: Any, samba_dc: SambaDC
) -> None:
    """Samba (like a hardened Windows DC) refuses simple binds without encryption."""
    directory = {"urls": [samba_dc.ldap_url], "allow_plaintext": True}
    client = await start_bridge(directory=directory)
    assert await login(client, BOB.sam, BOB.password) == (503, UNAVAILABLE)
    assert audit(log_stream, BOB.sam)["reason"] == "directory_misconfigured"
    assert logged(log_stream, "use an ldaps:// URL or set start_tls = true")


async def test_failover_skips_dead_server_for_the_cooldown(
    start_bridge: StartBridge, samba_dc: SambaDC
) -> None:
    dead_url = f"ldaps://{samba_dc.host}:{free_port(samba_dc.host)}"
    directory = {"urls": [dead_url, samba_dc.ldaps_url], "server_cooldown": "30s"}
    client = await start_bridge(directory=directory)
    servers = directory_of(client).servers
    offset = [0.0]
    servers.clock = lambda: time.monotonic() + offset[0]
    dead, alive = servers.servers

    assert (await login(client, BOB.sam, BOB.password))[0] == 200
    assert dead.attempts == 1
    assert dead.down_until > servers.clock()
    assert "refused" in dead.last_error.lower() or "socket" in dead.last_error.lower()

    assert (await login(client, BOB.sam, BOB.password))[0] == 200
    assert dead.attempts == 1, "the dead server was tried again inside its cool-down"
    assert alive.attempts >= 2

    offset[0] = 31.0  # the cool-down is over: the dead server is probed again
    assert (await login(client, BOB.sam, BOB.password))[0] == 200
    assert dead.attempts == 2


async def test_base_dn_outside_the_domain_says_what_to_change(
    start_bridge: StartBridge, log_stream: Any
) -> None:
    client = await start_bridge(directory={"base_dn": "DC=other,DC=test"})
    assert await login(client, BOB.sam, BOB.password) == (503, UNAVAILABLE)
    event = audit(log_stream, BOB.sam)
    assert event["reason"] == "directory_misconfigured", event
    assert "directory.base_dn" in event["detail"]


async def test_referrals_from_the_domain_root_are_not_chased(start_bridge: StartBridge) -> None:
    """The root search answers referrals (DomainDnsZones, Configuration): ignored."""
    client = await start_bridge(groups={"allow": [ad_people.RINGOTEL_USERS]})
    assert (await login(client, BOB.sam, BOB.password))[0] == 200
    assert await login(client, ad_people.CAROL.sam, ad_people.CAROL.password) == (403, DENIED)


async def test_lockout_threshold_is_read_from_the_domain(
    start_bridge: StartBridge, samba_dc: SambaDC
) -> None:
    client = await start_bridge()
    expected = int((samba_dc.read_attr(ad_people.BASE_DN, "lockoutThreshold") or ["0"])[0])
    policies = await directory_of(client).lockout_policies()
    assert policies[0].source == f"the default policy {ad_people.BASE_DN}"
    assert policies[0].threshold == expected
