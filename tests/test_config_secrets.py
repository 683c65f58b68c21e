"""Settings: secrets resolved from files (or inline, with a warning), and every problem with the
secret's key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.config import from_mapping
from tests.harness.config_docs import (
    basic_doc,
    keys_of,
    problems_of,
    secret,
    write_secrets,
)

# --- secret files -----------------------------------------------------------------------


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    return write_secrets(tmp_path)


def test_relative_secret_resolves_under_credentials_directory(tmp_path: Path) -> None:
    config_dir = tmp_path / "etc"
    creds = tmp_path / "creds"
    config_dir.mkdir()
    creds.mkdir()
    secret(config_dir / "client-password", "beside-the-config")
    secret(config_dir / "ldap-bind-password", "beside-bind")
    secret(creds / "client-password", "from-credentials")
    secret(creds / "ldap-bind-password", "bind-from-credentials")
    config = from_mapping(
        basic_doc(), base_dir=config_dir, environ={"CREDENTIALS_DIRECTORY": str(creds)}
    )
    assert config.secrets.basic_password is not None
    assert config.secrets.basic_password.reveal() == b"from-credentials"
    assert config.secrets.bind_password is not None
    assert config.secrets.bind_password.reveal() == b"bind-from-credentials"


def test_relative_secret_resolves_beside_the_config_without_credentials_directory(
    tmp_path: Path,
) -> None:
    secret(tmp_path / "client-password", "beside-the-config")
    secret(tmp_path / "ldap-bind-password", "bind")
    config = from_mapping(basic_doc(), base_dir=tmp_path, environ={})
    assert config.secrets.basic_password is not None
    assert config.secrets.basic_password.reveal() == b"beside-the-config"


def test_absolute_secret_path_ignores_credentials_directory(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    secret(creds / "ldap-bind-password", "bind")
    secret(creds / "client-password", "from-credentials")
    absolute = secret(tmp_path / "elsewhere", "absolute-0123456789")
    raw = basic_doc()
    raw["client_auth"]["password_file"] = str(absolute)
    config = from_mapping(raw, base_dir=tmp_path, environ={"CREDENTIALS_DIRECTORY": str(creds)})
    assert config.secrets.basic_password is not None
    assert config.secrets.basic_password.reveal() == b"absolute-0123456789"


def test_world_readable_secret_is_a_problem_naming_the_key(secrets_dir: Path) -> None:
    (secrets_dir / "ldap-bind-password").chmod(0o644)
    problems = problems_of(basic_doc(), secrets_dir)
    assert keys_of(problems) == {"directory.bind_password_file"}
    assert "readable by everyone" in problems[0].message


def test_group_readable_secret_is_fine(secrets_dir: Path) -> None:
    (secrets_dir / "ldap-bind-password").chmod(0o640)
    from_mapping(basic_doc(), base_dir=secrets_dir, environ={})


def test_every_secret_problem_at_once(secrets_dir: Path) -> None:
    secret(secrets_dir / "ldap-bind-password", "")
    (secrets_dir / "client-password").unlink()
    problems = problems_of(basic_doc(), secrets_dir)
    by_key = {p.key: p.message for p in problems}
    assert set(by_key) == {"directory.bind_password_file", "client_auth.password_file"}
    assert "empty" in by_key["directory.bind_password_file"]
    assert "cannot read" in by_key["client_auth.password_file"]


def test_file_with_only_a_newline_is_empty(secrets_dir: Path) -> None:
    secret(secrets_dir / "client-password", "\n")
    problems = problems_of(basic_doc(), secrets_dir)
    assert [p.key for p in problems] == ["client_auth.password_file"]
    assert "empty" in problems[0].message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"pa ss-0123456789ab\n", b"pa ss-0123456789ab"),
        (b"pass-0123456789abc\r\n", b"pass-0123456789abc"),
        (b"pass-0123456789abc", b"pass-0123456789abc"),
        (b" pass-0123456789ab \n\n", b" pass-0123456789ab \n"),  # one line ending only
    ],
)
def test_trailing_newline_is_stripped_and_nothing_else(
    secrets_dir: Path, content: bytes, expected: bytes
) -> None:
    secret(secrets_dir / "client-password", content)
    config = from_mapping(basic_doc(), base_dir=secrets_dir, environ={})
    assert config.secrets.basic_password is not None
    assert config.secrets.basic_password.reveal() == expected


def test_inline_secret_is_accepted_with_a_warning(secrets_dir: Path) -> None:
    raw = basic_doc()
    raw["client_auth"] = {"mode": "basic", "password": "inline-pass-0123456789"}
    config = from_mapping(raw, base_dir=secrets_dir, environ={})
    assert config.secrets.basic_password is not None
    assert config.secrets.basic_password.reveal() == b"inline-pass-0123456789"
    assert len(config.warnings) == 1
    assert "client_auth.password" in config.warnings[0]
    assert "inline-pass" not in config.warnings[0]


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"mode": "basic", "password": "short-pass"}, "client_auth.password"),
        ({"mode": "bearer", "token_file": "short"}, "client_auth.token_file"),
        (
            {"mode": "bearer", "token_file": "token", "token_files": ["short"]},
            "client_auth.token_files[0]",
        ),
        (
            {
                "mode": "oauth2",
                "client_secret_file": "short",
                "signing_key_file": "jwt-signing-key",
            },
            "client_auth.client_secret_file",
        ),
    ],
)
def test_guessable_client_secrets_are_refused(
    secrets_dir: Path, section: dict[str, Any], key: str
) -> None:
    """Basic passwords, Bearer tokens and client secrets guard a service on the network:
    at least 16 bytes, or the config does not load."""
    secret(secrets_dir / "short", "fifteen-bytes!!")
    raw = {**basic_doc(), "client_auth": section}
    problems = problems_of(raw, secrets_dir)
    assert keys_of(problems) == {key}
    assert "shorter than 16 bytes" in problems[0].message


def test_inline_and_file_together_is_a_problem(secrets_dir: Path) -> None:
    raw = basic_doc()
    raw["client_auth"]["password"] = "inline-pass"
    problems = problems_of(raw, secrets_dir)
    assert keys_of(problems) == {"client_auth.password"}


def test_secret_never_in_repr(secrets_dir: Path) -> None:
    config = from_mapping(basic_doc(), base_dir=secrets_dir, environ={})
    assert "client-password-value-0123456789" not in repr(config)
    assert "ldap-bind-password-value-0123456789" not in repr(config)


def test_bind_password_file_must_be_utf8(secrets_dir: Path) -> None:
    (secrets_dir / "ldap-bind-password").write_bytes("Pässwort".encode("latin-1"))
    problems = problems_of(basic_doc(), secrets_dir)
    assert [(p.key, p.message) for p in problems] == [
        ("directory.bind_password_file", "not UTF-8 text; save the file as UTF-8")
    ]
