"""Config documents for the suite's private servers, with secrets in files as production has.

A document is the plain mapping a TOML file would parse to; tests change it with
:func:`deep_merge` and load it with ``bridge.config.from_mapping`` (the ``make_config``
fixture) or write it out for a real process (:mod:`tests.harness.bridge_process`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.harness import ad_people, dirsrv_people, subsidiary_people
from tests.harness import openldap_people as people
from tests.harness.client_credentials import (
    CLIENT_PASSWORD,
    CLIENT_SECRET,
    CLIENT_USER,
    key_material,
)
from tests.harness.dirsrv import DirsrvServer
from tests.harness.samba import People, SambaDC
from tests.harness.slapd import SlapdServer


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` laid over ``base``. A table that switches its variant (another
    ``client_auth.mode`` or ``directory.type``) replaces the old one: the new variant
    refuses the old one's keys."""
    merged = dict(base)
    for key, value in overrides.items():
        if (
            isinstance(value, dict)
            and isinstance(merged.get(key), dict)
            and not _switches(merged[key], value)
        ):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _switches(table: dict[str, Any], overrides: dict[str, Any]) -> bool:
    return any(k in overrides and overrides[k] != table.get(k) for k in ("mode", "type"))


def write_secret(directory: Path, name: str, data: str | bytes) -> str:
    """A secret file as production has it (mode 0600); returns the relative name."""
    path = directory / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(0o600)
    return name


def without_service_account(raw: dict[str, Any], template: str) -> dict[str, Any]:
    """The document for direct bind: no service account, the login put into ``template``."""
    directory = {
        k: v for k, v in raw["directory"].items() if k not in ("bind_dn", "bind_password_file")
    }
    return {**raw, "directory": {**directory, "bind_template": template}}


def basic_client_auth(secret_dir: Path) -> dict[str, Any]:
    """``[client_auth]`` for Basic with the suite's client credentials."""
    return {
        "mode": "basic",
        "username": CLIENT_USER,
        "password_file": write_secret(secret_dir, "client-password", CLIENT_PASSWORD),
    }


def oauth2_section(
    directory: Path, algorithm: str, key_name: str = "signing-key"
) -> dict[str, Any]:
    """``[client_auth]`` for oauth2 mode with a fresh key and the test client secret."""
    return {
        "mode": "oauth2",
        "client_secret_file": write_secret(directory, "client-secret", CLIENT_SECRET.encode()),
        "signing_algorithm": algorithm,
        "signing_key_file": write_secret(directory, key_name, key_material(algorithm)),
    }


def openldap_raw(server: SlapdServer | list[str], secret_dir: Path) -> dict[str, Any]:
    """A config document for the private slapd(s), secrets in files like production."""
    urls = [server.url] if isinstance(server, SlapdServer) else server
    return {
        "server": {"listen": ["127.0.0.1:0"], "ops_listen": "", "request_deadline": "5s"},
        "client_auth": basic_client_auth(secret_dir),
        "directory": {
            "type": "ldap",
            "flavor": "openldap",
            "urls": urls,
            "allow_plaintext": True,
            "bind_dn": people.SERVICE_DN,
            "bind_password_file": write_secret(
                secret_dir, "bind-password", people.SERVICE_PASSWORD
            ),
            "base_dn": people.BASE_DN,
            "connect_timeout": "1s",
            "operation_timeout": "2s",
            "server_cooldown": "1s",
        },
        "usernames": [{"attribute": "telephoneNumber"}],
        "response": {"display_name_attribute": "displayName"},
    }


def ad_raw(dc: SambaDC, secret_dir: Path) -> dict[str, Any]:
    """A config document for the private Samba DC over LDAPS with the test CA."""
    return {
        "server": {"listen": ["127.0.0.1:0"], "ops_listen": "", "request_deadline": "10s"},
        "client_auth": basic_client_auth(secret_dir),
        "directory": {
            "type": "ldap",
            "flavor": "active_directory",
            "urls": [dc.ldaps_url],
            "ca_file": str(dc.ca_file),
            "bind_dn": ad_people.SERVICE_ACCOUNT.dn,
            "bind_password_file": write_secret(
                secret_dir, "bind-password", ad_people.SERVICE_ACCOUNT.password
            ),
            "base_dn": ad_people.BASE_DN,
            "connect_timeout": "3s",
            "operation_timeout": "5s",
        },
        # kept below lockme's own PSO threshold of 5
        "protection": {"max_failures": ad_people.LOCKME_THRESHOLD - 2},
        "usernames": [{"attribute": "ipPhone"}, {"attribute": "otherIpPhone"}],
        "response": {"display_name_attribute": "displayName"},
    }


def dirsrv_raw(server: DirsrvServer, secret_dir: Path) -> dict[str, Any]:
    """A config document for the private 389-ds, as the README's 389 section has it."""
    return {
        "server": {"listen": ["127.0.0.1:0"], "ops_listen": "", "request_deadline": "5s"},
        "client_auth": basic_client_auth(secret_dir),
        "directory": {
            "type": "ldap",
            "flavor": "389ds",
            "urls": [server.url],
            "allow_plaintext": True,
            "bind_dn": dirsrv_people.SERVICE_DN,
            "bind_password_file": write_secret(
                secret_dir, "bind-password", dirsrv_people.SERVICE_PASSWORD
            ),
            "base_dn": dirsrv_people.BASE_DN,
            "connect_timeout": "1s",
            "operation_timeout": "3s",
        },
        "groups": {"allow": [dirsrv_people.ALLOWED_GROUP], "deny": [dirsrv_people.DENIED_GROUP]},
        "usernames": [{"attribute": "employeeNumber"}],
        "response": {"display_name_attribute": "displayName"},
    }


def ad_directory(name: str, dc: SambaDC, domain: People, secret_dir: Path) -> dict[str, Any]:
    """One ``[[directories]]`` table for a private Samba DC: routed by its NetBIOS name
    and its realm as a suffix, its own service account in its own secret file."""
    return {
        "name": name,
        "type": "ldap",
        "flavor": "active_directory",
        "urls": [dc.ldaps_url],
        "ca_file": str(dc.ca_file),
        "bind_dn": domain.SERVICE_ACCOUNT.dn,
        "bind_password_file": write_secret(
            secret_dir, f"{name}-bind-password", domain.SERVICE_ACCOUNT.password
        ),
        "base_dn": domain.BASE_DN,
        "domain_names": [domain.NETBIOS_DOMAIN],
        "suffixes": [domain.REALM],
        "connect_timeout": "3s",
        "operation_timeout": "5s",
    }


def openldap_directory(name: str, server: SlapdServer, secret_dir: Path) -> dict[str, Any]:
    """One ``[[directories]]`` table for the private slapd: mail logins, routed by the
    mail domain, its own usernames and groups."""
    section = openldap_raw(server, secret_dir)
    return {
        **section["directory"],
        "name": name,
        "bind_password_file": write_secret(
            secret_dir, f"{name}-bind-password", people.SERVICE_PASSWORD
        ),
        "accept_mail": True,
        "suffixes": ["example.org"],
        "usernames": section["usernames"],
        "groups": {"allow": [people.group_dn(people.ALLOWED_GROUP)]},
    }


def several_raw(
    corp: SambaDC, subsidiary: SambaDC, slapd: SlapdServer, secret_dir: Path
) -> dict[str, Any]:
    """Three directories: ``corp`` (EXAMPLE.TEST, the default), ``sub`` (SUBSIDIARY.TEST,
    its own groups and usernames) and ``contractors`` (slapd, reached by mail)."""
    sub = ad_directory("sub", subsidiary, subsidiary_people, secret_dir)
    return {
        "server": {"listen": ["127.0.0.1:0"], "ops_listen": "", "request_deadline": "10s"},
        "client_auth": basic_client_auth(secret_dir),
        "directories": [
            {**ad_directory("corp", corp, ad_people, secret_dir), "default": True},
            {
                **sub,
                "groups": {"allow": [subsidiary_people.RINGOTEL_USERS]},
                "usernames": [{"attribute": "ipPhone"}],
            },
            openldap_directory("contractors", slapd, secret_dir),
        ],
        "groups": {"allow": [ad_people.RINGOTEL_USERS]},
        "usernames": [{"attribute": "ipPhone"}, {"attribute": "otherIpPhone"}],
        "protection": {"max_failures": 3},
    }
