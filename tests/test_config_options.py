"""What the loader resolves a config to (``Config.directory``), for each flavor and a
users file, with and without the keys that override a flavor's defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.config import from_mapping
from bridge.core.usernames import Rule
from bridge.directory.options import DirectoryOptions, FileBackend, LdapBackend
from bridge.directory.presets import PRESETS
from tests.harness.config_docs import basic_doc, write_secrets

AD_FILTER = (
    "(&(&(objectCategory=person)(objectClass=user))"
    "(|(sAMAccountName={login})(userPrincipalName={login})))"
)


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    return write_secrets(tmp_path)


def options_of(raw: dict[str, Any], folder: Path) -> DirectoryOptions:
    return from_mapping(raw, base_dir=folder, environ={}).directories[0]


def ldap_of(raw: dict[str, Any], folder: Path) -> tuple[DirectoryOptions, LdapBackend]:
    options = options_of(raw, folder)
    assert isinstance(options.backend, LdapBackend)
    return options, options.backend


def test_active_directory_defaults(secrets_dir: Path) -> None:
    options, ldap = ldap_of(basic_doc(), secrets_dir)
    assert ldap.flavor == "active_directory"
    assert ldap.preset is PRESETS["active_directory"]
    assert ldap.user_filter == AD_FILTER
    assert ldap.login_attributes == ("sAMAccountName", "userPrincipalName")
    assert ldap.group_strategy == "token_groups"  # nested = true by default
    assert ldap.attributes == (
        "employeeNumber",
        "displayName",
        "sAMAccountName",
        "userPrincipalName",
    )
    assert ldap.pool_size == 16  # max_concurrent_directory_ops
    assert options.accept_domain_prefix is True
    assert options.domain_names == ()
    assert options.mail_attribute is None
    assert options.username_rules == (Rule("employeeNumber"),)
    assert options.username_attributes == ("employeeNumber",)
    assert options.display_name_attribute == "displayName"
    assert options.needs_groups is False


def test_openldap_defaults(secrets_dir: Path) -> None:
    options, ldap = ldap_of(basic_doc(flavor="openldap"), secrets_dir)
    assert ldap.preset is PRESETS["openldap"]
    assert ldap.user_filter == "(&(objectClass=inetOrgPerson)(uid={login}))"
    assert ldap.login_attributes == ("uid",)
    assert ldap.group_strategy == "member_of"
    assert ldap.attributes == ("employeeNumber", "displayName", "uid")
    assert options.accept_domain_prefix is False
    assert options.display_name_attribute == "displayName"


@pytest.mark.parametrize("flavor", ["active_directory", "openldap"])
def test_accept_mail_adds_the_mail_attribute(secrets_dir: Path, flavor: str) -> None:
    options, ldap = ldap_of(basic_doc(flavor=flavor, accept_mail=True), secrets_dir)
    assert options.mail_attribute == "mail"
    assert "(mail={login})" in ldap.user_filter
    assert ldap.user_filter.startswith(f"(&{PRESETS[flavor].object_filter}(|")
    assert ldap.attributes[-1] == "mail"


def test_active_directory_with_every_override(secrets_dir: Path) -> None:
    raw = basic_doc(
        login_attributes=["sAMAccountName"],
        accept_mail=True,
        mail_attribute="proxyAddresses",
        accept_domain_prefix=False,
        pool_size=4,
    )
    raw["groups"] = {"allow": ["CN=Ringotel,DC=corp,DC=example"], "nested": False}
    raw["usernames"] = [
        {"attribute": "ipPhone", "transforms": ["digits_only"], "multi_valued": False},
        {"attribute": "employeeNumber"},
        {"attribute": "ipPhone"},
    ]
    raw["response"] = {"display_name_attribute": "cn"}
    raw["protection"] = {"max_concurrent_directory_ops": 32}
    options, ldap = ldap_of(raw, secrets_dir)
    assert ldap.user_filter == (
        "(&(&(objectCategory=person)(objectClass=user))"
        "(|(sAMAccountName={login})(proxyAddresses={login})))"
    )
    assert ldap.login_attributes == ("sAMAccountName",)
    assert ldap.group_strategy == "member_of"  # nested = false
    assert ldap.pool_size == 4
    assert ldap.attributes == (
        "ipPhone",
        "employeeNumber",
        "cn",
        "sAMAccountName",
        "proxyAddresses",
    )
    assert options.accept_domain_prefix is False
    assert options.mail_attribute == "proxyAddresses"
    assert options.username_rules[0] == Rule("ipPhone", ("digits_only",), multi_valued=False)
    assert options.username_attributes == ("ipPhone", "employeeNumber")
    assert options.display_name_attribute == "cn"
    assert options.needs_groups is True


def test_openldap_with_overrides(secrets_dir: Path) -> None:
    raw = basic_doc(
        flavor="openldap",
        user_filter="(&(objectClass=person)(cn={login}))",
        accept_domain_prefix=True,
        domain_names=["CORP"],
    )
    raw["groups"] = {"deny": ["cn=blocked,dc=corp,dc=example"], "strategy": "member_search"}
    options, ldap = ldap_of(raw, secrets_dir)
    assert ldap.user_filter == "(&(objectClass=person)(cn={login}))"
    assert ldap.login_attributes == ("uid",)  # still read with the entry
    assert ldap.group_strategy == "member_search"
    assert options.accept_domain_prefix is True
    assert options.domain_names == ("CORP",)
    assert options.needs_groups is True


def test_users_file_defaults(secrets_dir: Path) -> None:
    """Only the administrator writes the users file: nobody can forge a value there, so
    it keeps a username default; "DOMAIN\\name" is accepted as with Active Directory."""
    (secrets_dir / "users.toml").write_text("")
    raw = {
        "client_auth": {"mode": "basic", "password_file": "client-password"},
        "directory": {"type": "file", "users_file": "users.toml"},
    }
    options = options_of(raw, secrets_dir)
    assert options.backend == FileBackend(secrets_dir / "users.toml")
    assert options.username_rules == (Rule("ipPhone"), Rule("otherIpPhone"))
    assert options.display_name_attribute == "displayName"
    assert options.accept_domain_prefix is True
    assert options.mail_attribute is None


def test_users_file_with_overrides(secrets_dir: Path) -> None:
    (secrets_dir / "users.toml").write_text("")
    raw = {
        "client_auth": {"mode": "basic", "password_file": "client-password"},
        "directory": {
            "type": "file",
            "users_file": "users.toml",
            "accept_mail": True,
            "mail_attribute": "email",
            "accept_domain_prefix": False,
        },
        "usernames": [{"attribute": "telephoneNumber"}],
        "response": {"display_name_attribute": "cn"},
    }
    options = options_of(raw, secrets_dir)
    assert options.mail_attribute == "email"
    assert options.accept_domain_prefix is False
    assert options.username_rules == (Rule("telephoneNumber"),)
    assert options.display_name_attribute == "cn"
