"""Config documents for the settings tests: minimal valid ones and their secret files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.config import from_mapping
from bridge.core.errors import ConfigError, Problem

AD_DN = "CN=svc-ringotel,OU=Service Accounts,DC=corp,DC=example"


def secret(path: Path, content: str | bytes = "s3cret-value-0123456789", mode: int = 0o600) -> Path:
    data = content.encode() if isinstance(content, str) else content
    path.write_bytes(data)
    path.chmod(mode)
    return path


def ldap_directory(**overrides: Any) -> dict[str, Any]:
    return {
        "type": "ldap",
        "urls": ["ldaps://dc1.corp.example", "ldaps://dc2.corp.example"],
        "bind_dn": AD_DN,
        "bind_password_file": "ldap-bind-password",
        "base_dn": "DC=corp,DC=example",
        **overrides,
    }


#: An LDAP directory has no default username attribute: every LDAP document names one.
USERNAMES = [{"attribute": "employeeNumber"}]


def basic_doc(**directory: Any) -> dict[str, Any]:
    return {
        "client_auth": {"mode": "basic", "password_file": "client-password"},
        "directory": ldap_directory(**directory),
        "usernames": USERNAMES,
    }


def write_secrets(folder: Path) -> Path:
    """Every secret file the documents above name, private, in ``folder`` (the config's)."""
    for name in ("ldap-bind-password", "client-password", "token", "client-secret"):
        secret(folder / name, f"{name}-value-0123456789")
    secret(folder / "jwt-signing-key", "k" * 40)
    return folder


def problems_of(raw: dict[str, Any], base_dir: Path, **kwargs: Any) -> tuple[Problem, ...]:
    with pytest.raises(ConfigError) as info:
        from_mapping(raw, base_dir=base_dir, environ=kwargs.pop("environ", {}), **kwargs)
    return info.value.problems


def keys_of(problems: tuple[Problem, ...]) -> set[str]:
    return {p.key for p in problems}
