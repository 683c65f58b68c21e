"""``[[directories]]``: several directories in one file, each refused by its own key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.commands.descriptor import build_descriptor
from bridge.config import from_mapping
from bridge.core.routing import RouteRules
from bridge.directory.options import FileBackend, LdapBackend
from tests.harness.config_docs import (
    USERNAMES,
    keys_of,
    ldap_directory,
    problems_of,
    secret,
    write_secrets,
)

SUB_DN = "CN=svc-ringotel,OU=Service Accounts,DC=subsidiary,DC=example"
SUB_USERS = "CN=Ringotel Users,OU=Groups,DC=subsidiary,DC=example"


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    write_secrets(tmp_path)
    secret(tmp_path / "sub-bind-password", "sub-bind-password-value-0123")
    (tmp_path / "contractors.toml").write_text("")
    return tmp_path


def corp(**overrides: Any) -> dict[str, Any]:
    return {"name": "corp", **ldap_directory(domain_names=["CORP"]), **overrides}


def sub(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "sub",
        **ldap_directory(
            urls=["ldaps://dc1.subsidiary.example"],
            bind_dn=SUB_DN,
            bind_password_file="sub-bind-password",
            base_dn="DC=subsidiary,DC=example",
            domain_names=["SUBSIDIARY"],
        ),
        "suffixes": ["subsidiary.example"],
        **overrides,
    }


def doc(*directories: dict[str, Any], **sections: Any) -> dict[str, Any]:
    return {
        "client_auth": {"mode": "basic", "password_file": "client-password"},
        "directories": list(directories),
        "usernames": USERNAMES,
        **sections,
    }


def refused(raw: dict[str, Any], folder: Path) -> dict[str, str]:
    return {p.key: p.message for p in problems_of(raw, folder)}


def test_two_domains_load_with_their_own_rules_and_secrets(secrets_dir: Path) -> None:
    raw = doc(
        corp(default=True),
        sub(groups={"allow": [SUB_USERS]}, usernames=[{"attribute": "ipPhone"}]),
        groups={"allow": ["CN=Ringotel Users,OU=Groups,DC=corp,DC=example"]},
    )
    config = from_mapping(raw, base_dir=secrets_dir, environ={})
    first, second = config.directories
    assert (first.name, first.key, second.name, second.key) == (
        "corp",
        "directories[0]",
        "sub",
        "directories[1]",
    )
    assert first.routing == RouteRules(
        "corp", prefixes=("CORP",), default=True, domain="corp.example"
    )
    assert second.routing == RouteRules(
        "sub", ("SUBSIDIARY",), ("subsidiary.example",), domain="subsidiary.example"
    )
    assert [r.attribute for r in first.username_rules] == ["employeeNumber"]
    assert [r.attribute for r in second.username_rules] == ["ipPhone"]
    assert first.group_allow == ("CN=Ringotel Users,OU=Groups,DC=corp,DC=example",)
    assert second.group_allow == (SUB_USERS,)
    passwords = {name: s.reveal() for name, s in config.secrets.bind_passwords.items()}
    assert passwords == {
        "corp": b"ldap-bind-password-value-0123456789",
        "sub": b"sub-bind-password-value-0123",
    }
    assert config.secrets.bind_password is None  # no [directory]
    assert isinstance(second.backend, LdapBackend)
    assert "ipPhone" in second.backend.attributes
    assert "employeeNumber" not in second.backend.attributes


def test_one_directory_is_named_default_and_takes_every_login(secrets_dir: Path) -> None:
    config = from_mapping(
        {
            "client_auth": {"mode": "basic", "password_file": "client-password"},
            "directory": ldap_directory(),
            "usernames": USERNAMES,
        },
        base_dir=secrets_dir,
        environ={},
    )
    (only,) = config.directories
    assert (only.name, only.key, only.routing.default) == ("default", "directory", True)


def test_a_file_directory_among_them(secrets_dir: Path) -> None:
    contractors = {"name": "contractors", "type": "file", "users_file": "contractors.toml"}
    contractors["accept_domain_prefix"] = False
    raw = doc(corp(), {**contractors, "suffixes": ["contractors.example"], "groups": {"deny": []}})
    config = from_mapping(raw, base_dir=secrets_dir, environ={})
    backend = config.directories[1].backend
    assert isinstance(backend, FileBackend)
    assert config.files["directories[1].users_file"] == secrets_dir / "contractors.toml"
    nested = {**contractors, "groups": {"nested": False}}
    assert refused(doc(corp(), nested), secrets_dir) == {
        "directories[1].groups.nested": 'only for directory type "ldap"'
    }


@pytest.mark.parametrize(
    ("directories", "key", "said"),
    [
        ([corp(), corp()], "directories[1].name", "'corp' is also directories[0]'s"),
        ([corp(), sub(domain_names=["corp"])], "directories[1].domain_names", "'corp' is also"),
        (
            [corp(suffixes=["Subsidiary.example"]), sub()],
            "directories[1].suffixes",
            "'subsidiary.example' is also directories[0]'s",
        ),
        ([corp(domain_names=[]), sub()], "directories[0].domain_names", "routed by domain_names"),
        ([corp(name="corp main"), sub()], "directories[0].name", "should match pattern"),
        ([corp(suffixes=["@corp.example"]), sub()], "directories[0].suffixes[0]", "without '@'"),
        ([corp(usernames=[]), sub()], "directories[0].usernames", "empty"),
        ([corp(users_file="x.toml"), sub()], "directories[0].users_file", 'only for type "file"'),
    ],
)
def test_routing_that_would_guess_is_refused_by_key(
    secrets_dir: Path, directories: list[dict[str, Any]], key: str, said: str
) -> None:
    problems = refused(doc(*directories), secrets_dir)
    assert key in problems, problems
    assert said in problems[key]


def test_one_or_several_not_both(secrets_dir: Path) -> None:
    raw = {**doc(corp()), "directory": ldap_directory()}
    assert refused(raw, secrets_dir) == {
        "directories": "set [directory] (one) or [[directories]] (several)"
    }
    assert "directories" in refused(doc(), secrets_dir)


def test_usernames_may_come_from_each_directory(secrets_dir: Path) -> None:
    own = [{"attribute": "ipPhone"}]
    raw = {**doc(corp(usernames=own), sub(usernames=own)), "usernames": []}
    assert len(from_mapping(raw, base_dir=secrets_dir, environ={}).directories) == 2
    raw = {**doc(corp(usernames=own), sub()), "usernames": []}
    assert keys_of(problems_of(raw, secrets_dir)) == {"usernames"}


@pytest.mark.parametrize(
    ("directories", "said"),
    [
        ([corp(flavor="openldap", accept_domain_prefix=True, global_catalog="ldaps://gc:3269")],
         'only for flavor "active_directory"'),
        ([corp(), sub(global_catalog="ldaps://gc.subsidiary.example:3269")],
         "set default = true here"),
        ([corp(global_catalog="ldap://gc.corp.example:3268")], "clear text"),
        ([corp(global_catalog="ldaps://gc:3269"), sub(base_dn="OU=x,DC=corp,DC=example")],
         "a global catalog's find is ambiguous"),
    ],
)  # fmt: skip
def test_a_global_catalog_that_cannot_work_is_refused(
    secrets_dir: Path, directories: list[dict[str, Any]], said: str
) -> None:
    problems = refused(doc(*directories), secrets_dir)
    assert any(said in message for message in problems.values()), problems


def test_a_global_catalog_on_the_default_directory(secrets_dir: Path) -> None:
    raw = doc(corp(global_catalog="ldaps://gc.corp.example:3269"), sub())
    first, second = from_mapping(raw, base_dir=secrets_dir, environ={}).directories
    assert first.routing.catalog
    assert first.routing.default
    assert not second.routing.catalog
    assert isinstance(first.backend, LdapBackend)
    assert first.backend.global_catalog == "ldaps://gc.corp.example:3269"


def test_several_directories_are_still_one_integration(secrets_dir: Path) -> None:
    """Ringotel sees one identity provider: the descriptor does not depend on them."""
    several = from_mapping(doc(corp(), sub()), base_dir=secrets_dir, environ={})
    single = {**doc(), "directory": ldap_directory()}
    del single["directories"]
    one = from_mapping(single, base_dir=secrets_dir, environ={})
    url = "https://sso.corp.example"
    built = [
        build_descriptor(config, url, "svc", "Corp SSO", "https://x/l.png", False)
        for config in (several, one)
    ]
    assert built[0] == built[1]
    assert built[0]["API"]["authenticate"]["request_url"] == f"{url}/auth"
