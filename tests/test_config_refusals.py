"""Keys that do not apply are refused by name, never ignored: a key of another
``client_auth.mode`` or ``directory.type``, and a key another key would override."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.config import BasicAuthSettings, BearerAuthSettings, OAuth2Settings, from_mapping
from bridge.directory.options import LdapBackend
from tests.harness.config_docs import (
    USERNAMES,
    basic_doc,
    ldap_directory,
    problems_of,
    write_secrets,
)

MODES: dict[str, dict[str, Any]] = {
    "basic": {"mode": "basic", "password_file": "client-password"},
    "bearer": {"mode": "bearer", "token_file": "token"},
    "oauth2": {
        "mode": "oauth2",
        "client_secret_file": "client-secret",
        "signing_key_file": "jwt-signing-key",
    },
}
#: One key of each mode that no other mode has, with a valid value.
MODE_KEYS: dict[str, tuple[str, object]] = {
    "basic": ("password_file", "client-password"),
    "bearer": ("token_files", ["token"]),
    "oauth2": ("token_ttl", "1h"),
}
LDAP_ONLY = {
    "urls": ["ldaps://dc1.corp.example"],
    "bind_dn": "CN=svc,DC=corp,DC=example",
    "flavor": "openldap",
    "user_filter": "(uid={login})",
    "login_attributes": ["uid"],
    "pool_size": 8,
    "password_policy_dn": "cn=default,ou=policies,dc=corp,dc=example",
}


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    (tmp_path / "users.toml").write_text("")
    return write_secrets(tmp_path)


def file_doc(**directory: Any) -> dict[str, Any]:
    return {
        "client_auth": MODES["basic"],
        "directory": {"type": "file", "users_file": "users.toml", **directory},
    }


def refused(raw: dict[str, Any], folder: Path) -> dict[str, str]:
    return {p.key: p.message for p in problems_of(raw, folder)}


def loads(raw: dict[str, Any], folder: Path) -> None:
    from_mapping(raw, base_dir=folder, environ={})


# --- a key of another mode or type ------------------------------------------------------


@pytest.mark.parametrize(("mode", "owner"), [(m, o) for m in MODES for o in MODES if m != o])
def test_a_key_of_another_mode_is_refused_naming_its_mode(
    secrets_dir: Path, mode: str, owner: str
) -> None:
    key, value = MODE_KEYS[owner]
    raw = {**basic_doc(), "client_auth": {**MODES[mode], key: value}}
    assert refused(raw, secrets_dir) == {f"client_auth.{key}": f'only for mode "{owner}"'}


def test_each_mode_has_only_its_own_keys() -> None:
    """The models behind the messages: every key but mode and client_id is one mode's."""
    models = (BasicAuthSettings, BearerAuthSettings, OAuth2Settings)
    shared = set.intersection(*(set(m.model_fields) for m in models))
    assert shared == {"mode", "client_id"}


def test_the_example_in_the_issue(secrets_dir: Path) -> None:
    raw = {**basic_doc(), "client_auth": {**MODES["basic"], "token_file": "token"}}
    assert refused(raw, secrets_dir) == {"client_auth.token_file": 'only for mode "bearer"'}


def test_every_foreign_key_is_named_at_once(secrets_dir: Path) -> None:
    raw = file_doc(**LDAP_ONLY)
    raw["client_auth"] = {**MODES["bearer"], "password": "x" * 20, "issuer": "me", "typo": 1}
    assert refused(raw, secrets_dir) == {
        **{f"directory.{key}": 'only for type "ldap"' for key in LDAP_ONLY},
        "client_auth.password": 'only for mode "basic"',
        "client_auth.issuer": 'only for mode "oauth2"',
        "client_auth.typo": "unknown key",
    }


def test_users_file_in_an_ldap_directory_is_refused(secrets_dir: Path) -> None:
    raw = basic_doc(users_file="users.toml")
    assert refused(raw, secrets_dir) == {"directory.users_file": 'only for type "file"'}


@pytest.mark.parametrize("key", ["nested", "strategy"])
def test_group_strategy_keys_are_refused_with_a_users_file(secrets_dir: Path, key: str) -> None:
    """A users file lists each user's groups: there is nothing to choose."""
    raw = {**file_doc(), "groups": {key: "member_of" if key == "strategy" else False}}
    assert refused(raw, secrets_dir) == {f"groups.{key}": 'only for directory type "ldap"'}
    loads({**file_doc(), "groups": {"allow": ["staff"], "cache_ttl": "1m"}}, secrets_dir)


@pytest.mark.parametrize(
    ("section", "value", "message"),
    [
        ("client_auth", "digest", """expected "basic", "bearer" or "oauth2", got 'digest'"""),
        ("client_auth", 3, 'expected "basic", "bearer" or "oauth2", got \'3\''),
        ("directory", "ad", """expected "ldap" or "file", got 'ad'"""),
    ],
)
def test_an_unknown_variant_names_its_key(
    secrets_dir: Path, section: str, value: object, message: str
) -> None:
    raw = basic_doc()
    key = "mode" if section == "client_auth" else "type"
    raw[section] = {**raw[section], key: value}
    assert refused(raw, secrets_dir) == {f"{section}.{key}": message}


def test_a_variant_is_still_checked_as_a_whole(secrets_dir: Path) -> None:
    """A section-wide problem keeps its key and message (no variant name in the key)."""
    raw = {**basic_doc(), "client_auth": {"mode": "bearer"}}
    assert refused(raw, secrets_dir) == {"client_auth": "mode 'bearer' needs token_file"}
    raw = {**file_doc(), "directory": {"type": "file"}}
    assert refused(raw, secrets_dir) == {"directory": "type 'file' needs users_file"}


def test_omitted_variant_keys_keep_their_defaults(secrets_dir: Path) -> None:
    raw = {
        "client_auth": {k: v for k, v in MODES["oauth2"].items() if k != "mode"},
        "directory": {k: v for k, v in ldap_directory().items() if k != "type"},
        "usernames": USERNAMES,
    }
    config = from_mapping(raw, base_dir=secrets_dir, environ={})
    assert config.settings.client_auth.mode == "oauth2"
    assert isinstance(config.directories[0].backend, LdapBackend)


# --- a key another key would override -----------------------------------------------------


def test_groups_nested_and_strategy_together_are_refused(secrets_dir: Path) -> None:
    raw = {**basic_doc(), "groups": {"nested": True, "strategy": "in_chain"}}
    problems = refused(raw, secrets_dir)
    assert list(problems) == ["groups.nested"]
    assert "strategy is set and decides alone" in problems["groups.nested"]
    loads({**basic_doc(), "groups": {"strategy": "in_chain"}}, secrets_dir)
    loads({**basic_doc(), "groups": {"nested": False}}, secrets_dir)


@pytest.mark.parametrize(
    ("overrides", "key", "words"),
    [
        ({"login_attributes": ["cn"]}, "login_attributes", "replaces the filter built"),
        ({"accept_mail": True}, "accept_mail", "(mail={login})"),
    ],
)
def test_user_filter_with_what_it_replaces_is_refused(
    secrets_dir: Path, overrides: dict[str, Any], key: str, words: str
) -> None:
    raw = basic_doc(user_filter="(&(objectClass=person)(cn={login}))", **overrides)
    problems = refused(raw, secrets_dir)
    assert list(problems) == [f"directory.{key}"]
    assert "user_filter is set" in problems[f"directory.{key}"]
    assert words in problems[f"directory.{key}"]


def test_user_filter_with_accept_mail_false_is_fine(secrets_dir: Path) -> None:
    raw = basic_doc(user_filter="(&(objectClass=person)(cn={login}))", accept_mail=False)
    loads(raw, secrets_dir)


@pytest.mark.parametrize("doc", [basic_doc, file_doc])
def test_mail_attribute_needs_accept_mail(secrets_dir: Path, doc: Any) -> None:
    problems = refused(doc(mail_attribute="email"), secrets_dir)
    assert problems == {"directory.mail_attribute": "only used with accept_mail = true"}
    loads(doc(mail_attribute="email", accept_mail=True), secrets_dir)


def test_domain_names_need_domain_prefixes(secrets_dir: Path) -> None:
    """OpenLDAP does not accept "DOMAIN\\name" unless told to; a users file does."""
    problems = refused(basic_doc(flavor="openldap", domain_names=["CORP"]), secrets_dir)
    assert list(problems) == ["directory.domain_names"]
    assert refused(file_doc(accept_domain_prefix=False, domain_names=["CORP"]), secrets_dir)
    loads(
        basic_doc(flavor="openldap", accept_domain_prefix=True, domain_names=["CORP"]), secrets_dir
    )
    loads(basic_doc(domain_names=["CORP"]), secrets_dir)
    loads(file_doc(domain_names=["CORP"]), secrets_dir)


def test_bind_dn_and_bind_template_together_are_refused(secrets_dir: Path) -> None:
    problems = refused(basic_doc(bind_template="{login}@corp.example"), secrets_dir)
    assert list(problems) == ["directory.bind_template"]
    assert "set bind_dn or bind_template, not both" in problems["directory.bind_template"]


def direct_bind(**overrides: Any) -> dict[str, Any]:
    raw = basic_doc(bind_template="{login}@corp.example", **overrides)
    for key in ("bind_dn", "bind_password_file"):
        if key not in overrides:
            del raw["directory"][key]
    return raw


@pytest.mark.parametrize(
    "overrides",
    [
        {"bind_password_file": "ldap-bind-password"},
        {"user_filter": "(cn={login})"},
        {"login_attributes": ["cn"]},
        {"accept_mail": True},
        {"flavor": "openldap", "password_policy_dn": "cn=default,dc=corp,dc=example"},
    ],
)
def test_direct_bind_refuses_what_only_a_search_uses(
    secrets_dir: Path, overrides: dict[str, Any]
) -> None:
    """Without a service account nothing is searched: the typed login is the bind name."""
    problems = refused(direct_bind(**overrides), secrets_dir)
    key = next(k for k in overrides if k != "flavor")
    assert problems == {f"directory.{key}": "only used with bind_dn (search, then bind)"}


def test_base_dn_is_required_in_direct_bind_mode_too(secrets_dir: Path) -> None:
    problems = refused(direct_bind(base_dn=""), secrets_dir)
    assert list(problems) == ["directory"]
    assert "base_dn is required" in problems["directory"]


def test_password_policy_dn_is_not_for_active_directory(secrets_dir: Path) -> None:
    """Active Directory's default policy is read from the domain root; OpenLDAP's is the
    ppolicy_default entry, 389-ds's cn=config unless another DN is named."""
    policy = "cn=default,ou=policies,dc=corp,dc=example"
    problems = refused(basic_doc(password_policy_dn=policy), secrets_dir)
    assert problems == {"directory.password_policy_dn": 'only for flavor "openldap" or "389ds"'}
    loads(basic_doc(flavor="openldap", password_policy_dn=policy), secrets_dir)
    loads(basic_doc(flavor="389ds", password_policy_dn=policy), secrets_dir)


@pytest.mark.parametrize("value", [[], ["cn)(uid=*"], ["a b"]])
def test_login_attributes_are_attribute_names(secrets_dir: Path, value: list[str]) -> None:
    problems = refused(basic_doc(login_attributes=value), secrets_dir)
    assert {key.partition("[")[0] for key in problems} == {"directory.login_attributes"}


def test_filter_without_login_placeholder_is_a_problem(secrets_dir: Path) -> None:
    problems = refused(basic_doc(user_filter="(objectClass=person)"), secrets_dir)
    assert list(problems) == ["directory"]
    assert "{login}" in problems["directory"]


def test_refusals_come_with_every_other_problem(secrets_dir: Path) -> None:
    raw = basic_doc(bind_template="{login}", accept_mail=True, user_filter="(cn={login})")
    raw["server"] = {"max_body_size": 1}
    raw["groups"] = {"nested": False, "strategy": "member_of"}
    assert set(refused(raw, secrets_dir)) == {
        "server.max_body_size",
        "directory.bind_template",
        "directory.accept_mail",
        "groups.nested",
    }


def test_failure_budgets_do_not_overlap(secrets_dir: Path) -> None:
    """Wrong client credentials have their own keys in [protection]; none in [client_auth]."""
    raw = {**basic_doc(), "client_auth": {**MODES["basic"], "max_failures": 3}}
    assert refused(raw, secrets_dir) == {"client_auth.max_failures": "unknown key"}
    raw = {**basic_doc(), "protection": {"client_max_failures": 3, "client_failure_window": "5m"}}
    protection = from_mapping(raw, base_dir=secrets_dir, environ={}).settings.protection
    assert (protection.max_failures, protection.client_max_failures) == (5, 3)
