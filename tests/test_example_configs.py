"""The shipped configs are valid and complete, and the example shows the real defaults."""

from __future__ import annotations

import base64
import copy
import os
import re
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, TypeAdapter

from bridge.config import (
    BasicAuthSettings,
    BearerAuthSettings,
    FileDirectorySettings,
    GroupSettings,
    LdapDirectorySettings,
    LoggingSettings,
    OAuth2Settings,
    ProtectionSettings,
    RequestSettings,
    ResponseSettings,
    ServerSettings,
    Settings,
    UsernameRule,
    load,
)
from bridge.config.groups import LDAP_ONLY_KEYS
from bridge.core.errors import ConfigError
from bridge.core.outcomes import Accepted
from bridge.directory.file import FileDirectory
from bridge.directory.options import LdapBackend
from bridge.process.wiring import build_service
from tests.harness.tls import make_ca

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "config" / "demo.toml"
EXAMPLE = ROOT / "config" / "bridge.example.toml"
#: Each section's models: one, or one per variant (the first key names the variant).
SECTIONS: dict[str, tuple[type[BaseModel], ...]] = {
    "server": (ServerSettings,),
    "request": (RequestSettings,),
    "client_auth": (OAuth2Settings, BasicAuthSettings, BearerAuthSettings),
    "directory": (LdapDirectorySettings, FileDirectorySettings),
    "groups": (GroupSettings,),
    "usernames": (UsernameRule,),
    "response": (ResponseSettings,),
    "protection": (ProtectionSettings,),
    "logging": (LoggingSettings,),
}
VARIANT_KEYS = {"client_auth": "mode", "directory": "type"}
#: Demo-only inline forms: named in the example's prose, never as a key line.
INLINE_SECRETS = {"password", "token", "client_secret", "bind_password"}
#: Active keys whose value is the administrator's to fill in, not a default.
FILL_IN = {
    ("server", "tls_cert_file"),
    ("server", "tls_key_file"),
    ("client_auth", "client_secret_file"),
    ("client_auth", "signing_key_file"),
    ("directory", "urls"),
    ("directory", "ca_file"),
    ("directory", "bind_dn"),
    ("directory", "bind_password_file"),
    ("directory", "base_dn"),
    ("groups", "allow"),
    ("usernames", "attribute"),
}
#: Commented-out keys that show an example value, not a default.
EXAMPLES = {
    ("client_auth", "password_file"),
    ("client_auth", "token_file"),
    ("directory", "users_file"),
    ("directory", "tls_server_name"),
    ("directory", "bind_template"),
    ("directory", "password_policy_dn"),
    ("protection", "store_password_file"),
    ("protection", "store_ca_file"),
    ("directory", "domain"),
    ("directory", "site"),
    ("directory", "nameservers"),
}
#: What uncommenting a key takes besides: keys it replaces (None) or values it needs.
#: A key of another variant needs no entry: the variant is switched.
TAKES: dict[tuple[str, str], dict[tuple[str, str], object]] = {
    ("directory", "bind_template"): {
        ("directory", "bind_dn"): None,
        ("directory", "bind_password_file"): None,
    },
    ("directory", "mail_attribute"): {("directory", "accept_mail"): True},
    ("directory", "password_policy_dn"): {("directory", "flavor"): "openldap"},
    ("groups", "strategy"): {("groups", "nested"): None},
    ("protection", "store_password_file"): {("protection", "store"): "redis://127.0.0.1:6379/0"},
    ("protection", "store_ca_file"): {("protection", "store"): "rediss://127.0.0.1:6379/0"},
}


@dataclass(frozen=True)
class KeyLine:
    """One ``key = value`` line of the example, active or commented out."""

    section: str
    key: str
    value: Any
    commented: bool
    #: the comment lines just above it
    comment: str


def key_lines(text: str) -> list[KeyLine]:
    found = []
    section, comment = "", []
    for line in text.splitlines():
        header = re.match(r"^\[\[?(\w+)\]\]?", line)
        match = re.match(r"^(# )?(\w+) = (.*)$", line)
        if header:
            section, comment = header.group(1), []
        elif match and section and any(match.group(2) in m.model_fields for m in SECTIONS[section]):
            value = tomllib.loads(f"v = {match.group(3)}")["v"]
            commented = match.group(1) is not None
            found.append(KeyLine(section, match.group(2), value, commented, " ".join(comment)))
            comment = []
        elif line.startswith("#"):
            comment.append(line)
        else:
            comment = []
    return found


def model_of(section: str, document: dict[str, Any]) -> type[BaseModel]:
    """The model of the variant ``document`` chose for ``section``."""
    models = SECTIONS[section]
    chosen = document.get(section, {}) if section != "usernames" else {}
    variant = VARIANT_KEYS.get(section)
    for model in models:
        if variant is None or model.model_fields[variant].default == chosen.get(variant):
            return model
    raise AssertionError(f"no model for {section}")


def parsed(model: type[BaseModel], key: str, value: object) -> object:
    """``value`` as the model's field holds it (``"5m"``: 300.0, a list: a tuple)."""
    field = model.model_fields[key]
    kind = Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
    return TypeAdapter(kind).validate_python(value)


def default(model: type[BaseModel], key: str) -> object:
    return model.model_fields[key].get_default(call_default_factory=True)


async def test_demo_config_starts_a_file_directory_that_accepts_alice() -> None:
    config = load(DEMO, environ={})
    assert config.settings.directory.type == "file"
    assert config.warnings == (
        "client_auth.password is inline in the config; use client_auth.password_file in production",
    )
    service = build_service(config)
    try:
        assert isinstance(service.directory, FileDirectory)
        assert [u.login for u in service.directory.users] == ["alice", "bob", "carol"]
        outcome = await service.login.login("alice", "wonderland-101")  # see demo-users.toml
        assert isinstance(outcome, Accepted)
        assert outcome.usernames == ("101", "102")
    finally:
        await service.close()


def install_example(root: Path, text: str) -> tuple[Path, dict[str, str]]:
    """The example laid out as on a server: /etc/ringotel-bridge under ``root``."""
    etc = root / "etc"
    credentials = root / "credentials"
    (etc / "tls").mkdir(parents=True)
    credentials.mkdir()
    ca = make_ca(root / "ca")
    cert, key = ca.issue_server_cert(root / "ca", ["sso.corp.example"])
    shutil.copy(ca.cert_path, etc / "corp-ca.pem")
    shutil.copy(cert, etc / "tls" / "fullchain.pem")
    shutil.copy(key, etc / "tls" / "privkey.pem")
    secrets = {
        "client-secret": "a-client-secret-for-the-example-test",
        "jwt-signing-key": base64.b64encode(os.urandom(48)).decode(),
        "ldap-bind-password": "service account password",
    }
    for name, value in secrets.items():
        (credentials / name).write_text(value + "\n")
        (credentials / name).chmod(0o600)
    path = etc / "bridge.toml"
    path.write_text(text.replace("/etc/ringotel-bridge/", f"{etc}/"), encoding="utf-8")
    return path, {"CREDENTIALS_DIRECTORY": str(credentials)}


def test_a_ca_file_that_is_not_pem_is_a_config_error(tmp_path: Path) -> None:
    path, environ = install_example(tmp_path, EXAMPLE.read_text(encoding="utf-8"))
    (tmp_path / "etc" / "corp-ca.pem").write_text("not a certificate\n")
    config = load(path, environ=environ)
    with pytest.raises(ConfigError) as caught:
        build_service(config)
    assert [p.key for p in caught.value.problems] == ["directory.ca_file"]


async def test_example_config_loads_without_warnings_and_builds(tmp_path: Path) -> None:
    path, environ = install_example(tmp_path, EXAMPLE.read_text(encoding="utf-8"))
    config = load(path, environ=environ)
    assert config.warnings == ()
    settings = config.settings
    assert settings.client_auth.mode == "oauth2"
    assert settings.directory.flavor == "active_directory"
    assert settings.directory.urls == ("ldaps://dc1.corp.example", "ldaps://dc2.corp.example")
    assert [rule.attribute for rule in settings.usernames] == ["employeeNumber"]
    assert config.secrets.bind_password is not None
    assert config.secrets.bind_password.reveal() == b"service account password"
    assert config.files["directory.ca_file"] == tmp_path / "etc" / "corp-ca.pem"
    service = build_service(config)
    await service.close()


def test_example_documents_every_key() -> None:
    mentioned: dict[str, set[str]] = {name: set() for name in SECTIONS}
    for line in key_lines(EXAMPLE.read_text(encoding="utf-8")):
        mentioned[line.section].add(line.key)
    for name, models in SECTIONS.items():
        every = set().union(*(m.model_fields for m in models))
        assert mentioned[name] == every - INLINE_SECRETS, name


def test_example_active_keys_show_the_defaults() -> None:
    """A key left as shipped behaves as if it were absent, unless it is to be filled in."""
    text = EXAMPLE.read_text(encoding="utf-8")
    document = tomllib.loads(text)
    active = [line for line in key_lines(text) if not line.commented]
    assert len(active) >= 60
    for line in active:
        if (line.section, line.key) in FILL_IN:
            continue
        model = model_of(line.section, document)
        assert parsed(model, line.key, line.value) == default(model, line.key), line


def test_example_commented_keys_show_defaults_or_alternatives(tmp_path: Path) -> None:
    """A commented-out key shows its default, what the flavor makes of it (the example is
    Active Directory), or an example value the test knows about."""
    text = EXAMPLE.read_text(encoding="utf-8")
    path, environ = install_example(tmp_path, text)
    config = load(path, environ=environ)
    options = config.directories[0]
    assert isinstance(options.backend, LdapBackend)
    resolved = {
        # basic mode's user name defaults to the client_id
        ("client_auth", "username"): config.settings.client_auth.client_id,
        ("directory", "user_filter"): options.backend.user_filter,
        ("directory", "login_attributes"): options.backend.login_attributes,
        ("directory", "accept_domain_prefix"): options.accept_domain_prefix,
        ("directory", "pool_size"): options.backend.pool_size,
        ("groups", "strategy"): options.backend.group_strategy,
        ("response", "display_name_attribute"): options.display_name_attribute,
    }
    for line in key_lines(text):
        if not line.commented or (line.section, line.key) in EXAMPLES:
            continue
        model = next(m for m in SECTIONS[line.section] if line.key in m.model_fields)
        value = parsed(model, line.key, line.value)
        expected = resolved.get((line.section, line.key), default(model, line.key))
        assert value == expected, line


def test_example_commented_keys_parse_where_they_belong() -> None:
    """Each commented-out key, uncommented with what it takes (another variant's keys
    with the variant switched), gives a valid document."""
    text = EXAMPLE.read_text(encoding="utf-8")
    active = tomllib.loads(text)
    lines = key_lines(text)
    commented = [line for line in lines if line.commented]
    assert len(commented) >= 15
    for line in commented:
        document = copy.deepcopy(active)
        section = document.setdefault(line.section, {})
        model = model_of(line.section, active)
        if line.key in model.model_fields:
            section[line.key] = line.value
            for (other, key), value in TAKES.get((line.section, line.key), {}).items():
                if value is None:
                    del document[other][key]
                else:
                    document[other][key] = value
        else:
            document[line.section] = alternative_variant(line, active, commented)
            if document["directory"].get("type") == "file":
                for key in LDAP_ONLY_KEYS:
                    document["groups"].pop(key, None)
        Settings.model_validate(document)


def alternative_variant(
    line: KeyLine, active: dict[str, Any], commented: list[KeyLine]
) -> dict[str, Any]:
    """The section switched to the variant ``line`` belongs to: the active keys it has
    too, and every commented-out key of that variant alone."""
    variant_key = VARIANT_KEYS[line.section]
    model = next(m for m in SECTIONS[line.section] if line.key in m.model_fields)
    now = model_of(line.section, active)
    table = {k: v for k, v in active[line.section].items() if k in model.model_fields}
    table[variant_key] = model.model_fields[variant_key].default
    for other in commented:
        if other.section == line.section and other.key in set(model.model_fields) - set(
            now.model_fields
        ):
            table[other.key] = other.value
    return table


def test_example_ranges_match_the_model() -> None:
    """ "1..1024" or ">= 100" in a key's comment is the range the model enforces."""
    checked = 0
    for line in key_lines(EXAMPLE.read_text(encoding="utf-8")):
        model = next(m for m in SECTIONS[line.section] if line.key in m.model_fields)
        bounds = {
            name: getattr(item, name)
            for item in model.model_fields[line.key].metadata
            for name in ("ge", "le")
            if hasattr(item, name)
        }
        span = re.search(r"(\d+)\.\.(\d+)", line.comment)
        if span:
            assert bounds == {"ge": int(span.group(1)), "le": int(span.group(2))}, line
            checked += 1
        at_least = re.search(r">= (\d+)(?![.\d])", line.comment)
        if at_least:
            assert bounds == {"ge": int(at_least.group(1))}, line
            checked += 1
    assert checked >= 5
