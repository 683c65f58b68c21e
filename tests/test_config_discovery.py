"""``[directory] domain``, ``site``, ``nameservers``, ``dns_min_ttl``, ``dns_max_ttl``:
DCs from DNS instead of (or before) ``urls``; each problem names its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.config import from_mapping
from bridge.process.directories import discovery_settings
from tests.harness.config_docs import basic_doc, keys_of, problems_of, secret


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    for name in ("ldap-bind-password", "client-password"):
        secret(tmp_path / name, f"{name}-value-0123456789")
    return tmp_path


def test_a_domain_alone_is_enough(secrets_dir: Path) -> None:
    config = from_mapping(basic_doc(urls=[], domain="Corp.Example."), base_dir=secrets_dir)
    directory = config.settings.directory
    assert (directory.domain, directory.site, directory.nameservers) == ("corp.example", None, ())
    assert (directory.dns_min_ttl, directory.dns_max_ttl) == (60.0, 3600.0)
    discovery = discovery_settings(config.settings.directory)
    assert discovery is not None
    assert discovery.locator.domain == "corp.example"
    assert discovery.locator.start_tls is False
    assert discovery.locator.urls == ()


def test_urls_become_the_fallback(secrets_dir: Path) -> None:
    raw = basic_doc(
        domain="corp.example",
        site="HQ",
        nameservers=["10.0.0.53", "[fd00::53]:5353"],
        dns_min_ttl="30s",
        dns_max_ttl="10m",
        start_tls=True,
        urls=["ldap://dc9.corp.example"],
    )
    settings = from_mapping(raw, base_dir=secrets_dir).settings
    discovery = discovery_settings(settings.directory)
    assert discovery is not None
    assert discovery.locator.nameservers == (("10.0.0.53", 53), ("fd00::53", 5353))
    assert discovery.locator.site == "HQ"
    assert discovery.locator.urls == ("ldap://dc9.corp.example",)
    assert (discovery.min_ttl, discovery.max_ttl) == (30.0, 600.0)


def test_without_a_domain_there_is_no_discovery(secrets_dir: Path) -> None:
    assert (
        discovery_settings(from_mapping(basic_doc(), base_dir=secrets_dir).settings.directory)
        is None
    )


def test_neither_urls_nor_domain(secrets_dir: Path) -> None:
    problems = problems_of(basic_doc(urls=[]), secrets_dir)
    assert keys_of(problems) == {"directory"}
    assert "needs at least one entry in urls, or domain" in problems[0].message


@pytest.mark.parametrize(
    ("directory", "key", "said"),
    [
        ({"domain": "corp"}, "directory.domain", "expected a DNS domain"),
        ({"domain": "corp..example"}, "directory.domain", "expected a DNS domain"),
        ({"domain": "-corp.example"}, "directory.domain", "expected a DNS domain"),
        ({"site": "Head Office"}, "directory.site", "expected an AD site name"),
        ({"site": "hq.corp"}, "directory.site", "expected an AD site name"),
        ({"nameservers": ["10.0.0.53", "dns.corp"]}, "directory.nameservers[1]", "IP address"),
        ({"nameservers": ["10.0.0.53:99999"]}, "directory.nameservers[0]", "port"),
        ({"dns_min_ttl": "0s"}, "directory.dns_min_ttl", "greater than 0"),
        ({"dns_min_ttl": "2h"}, "directory", "dns_min_ttl must not be longer than dns_max_ttl"),
    ],
)
def test_each_problem_names_its_key(
    secrets_dir: Path,
    directory: dict[str, Any],
    key: str,
    said: str,
) -> None:
    problems = problems_of(basic_doc(**{"domain": "corp.example", **directory}), secrets_dir)
    assert keys_of(problems) == {key}, problems
    assert said in problems[0].message, problems
