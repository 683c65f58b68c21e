"""Settings: minimal valid documents, every problem with its dotted key, durations, load()."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import Config, from_mapping, load, parse_duration
from bridge.core.errors import ConfigError
from tests.harness.config_docs import (
    AD_DN,
    USERNAMES,
    basic_doc,
    keys_of,
    ldap_directory,
    problems_of,
    secret,
    write_secrets,
)

# --- minimal valid documents -------------------------------------------------------------


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    return write_secrets(tmp_path)


def test_minimal_basic_ldap(secrets_dir: Path) -> None:
    config = from_mapping(basic_doc(), base_dir=secrets_dir, environ={})
    assert isinstance(config, Config)
    assert config.settings.client_auth.mode == "basic"
    assert config.secrets.basic_password is not None
    assert config.secrets.basic_password.reveal() == b"client-password-value-0123456789"
    assert config.secrets.bind_password is not None
    assert config.secrets.bind_password.reveal() == b"ldap-bind-password-value-0123456789"
    assert config.warnings == ()
    # defaults from the contract
    assert config.settings.server.auth_paths == ("/auth", "/authorize")
    assert config.settings.server.request_deadline == 10.0
    assert config.settings.request.username_field == "username"
    assert config.settings.protection.max_failures == 5
    assert "value" not in repr(config.secrets)


def test_minimal_bearer_ldap(secrets_dir: Path) -> None:
    raw = {
        "client_auth": {"mode": "bearer", "token_file": "token"},
        "directory": ldap_directory(),
        "usernames": USERNAMES,
    }
    config = from_mapping(raw, base_dir=secrets_dir, environ={})
    assert [t.reveal() for t in config.secrets.bearer_tokens] == [b"token-value-0123456789"]


def test_bearer_with_several_tokens(secrets_dir: Path) -> None:
    secret(secrets_dir / "token-next", "next-token-0123456789")
    raw = {
        "client_auth": {"mode": "bearer", "token_file": "token", "token_files": ["token-next"]},
        "directory": ldap_directory(),
        "usernames": USERNAMES,
    }
    config = from_mapping(raw, base_dir=secrets_dir, environ={})
    assert [t.reveal() for t in config.secrets.bearer_tokens] == [
        b"token-value-0123456789",
        b"next-token-0123456789",
    ]


def test_minimal_oauth2_ldap(secrets_dir: Path) -> None:
    raw = {
        "client_auth": {
            "mode": "oauth2",
            "client_secret_file": "client-secret",
            "signing_key_file": "jwt-signing-key",
            "token_ttl": "1h",
        },
        "directory": ldap_directory(),
        "usernames": USERNAMES,
    }
    config = from_mapping(raw, base_dir=secrets_dir, environ={})
    assert [s.reveal() for s in config.secrets.client_secrets] == [
        b"client-secret-value-0123456789"
    ]
    assert config.secrets.signing_key_file == secrets_dir / "jwt-signing-key"
    assert config.settings.client_auth.token_ttl == 3600.0


def test_minimal_file_directory(secrets_dir: Path) -> None:
    (secrets_dir / "users.toml").write_text("")
    raw = {
        "client_auth": {"mode": "basic", "password_file": "client-password"},
        "directory": {"type": "file", "users_file": "users.toml"},
    }
    config = from_mapping(raw, base_dir=secrets_dir, environ={})
    assert config.files["directory.users_file"] == secrets_dir / "users.toml"
    assert config.secrets.bind_password is None


def test_file_directory_needs_users_file_that_exists(secrets_dir: Path) -> None:
    raw = {
        "client_auth": {"mode": "basic", "password_file": "client-password"},
        "directory": {"type": "file"},
    }
    problems = problems_of(raw, secrets_dir)
    assert keys_of(problems) == {"directory"}
    assert "users_file" in problems[0].message
    raw["directory"]["users_file"] = "absent.toml"
    problems = problems_of(raw, secrets_dir)
    assert keys_of(problems) == {"directory.users_file"}


def test_oauth2_needs_secret_and_signing_key(secrets_dir: Path) -> None:
    raw = {"client_auth": {"mode": "oauth2"}, "directory": ldap_directory(), "usernames": USERNAMES}
    problems = problems_of(raw, secrets_dir)
    assert keys_of(problems) == {"client_auth"}
    assert "client_secret_file" in problems[0].message
    raw["client_auth"]["client_secret_file"] = "client-secret"
    problems = problems_of(raw, secrets_dir)
    assert "signing_key_file" in problems[0].message


# --- every problem at once, with dotted keys ---------------------------------------------


def test_every_problem_is_reported_at_once(secrets_dir: Path) -> None:
    raw = {
        "server": {"listen": ["0.0.0.0:8443", "nope"], "bogus": 1, "request_deadline": "5 days"},
        "client_auth": {"mode": "basic"},
        "directory": ldap_directory(pool_size="many"),
        "usernames": [{"attribute": "ipPhone"}, {"attribute": "x", "transforms": ["reverse"]}],
        "surprise": {},
    }
    problems = problems_of(raw, secrets_dir)
    by_key = {p.key: p.message for p in problems}
    assert set(by_key) == {
        "server.listen[1]",
        "server.bogus",
        "server.request_deadline",
        "client_auth",
        "directory.pool_size",
        "usernames[1].transforms[0]",
        "surprise",
    }
    assert by_key["server.bogus"] == "unknown key"
    assert by_key["surprise"] == "unknown key"
    assert "'nope'" in by_key["server.listen[1]"]
    assert "password_file" in by_key["client_auth"]
    # ConfigError's text lists every problem as "key: message"
    with pytest.raises(ConfigError) as info:
        from_mapping(raw, base_dir=secrets_dir, environ={})
    assert str(info.value).count("\n") == len(problems) - 1
    assert "server.bogus: unknown key" in str(info.value)


def test_bad_url_is_named_by_its_index(secrets_dir: Path) -> None:
    raw = basic_doc(urls=["ldaps://dc1.corp.example", "http://dc2.corp.example"])
    problems = problems_of(raw, secrets_dir)
    assert keys_of(problems) == {"directory.urls[1]"}
    assert "http://dc2.corp.example" in problems[0].message


def test_bad_listen_address_is_named_by_its_index(secrets_dir: Path) -> None:
    raw = {**basic_doc(), "server": {"listen": ["0.0.0.0:8443", "0.0.0.0:99999"]}}
    problems = problems_of(raw, secrets_dir)
    assert keys_of(problems) == {"server.listen[1]"}


def test_missing_required_sections(tmp_path: Path) -> None:
    problems = problems_of({}, tmp_path)
    assert {(p.key, p.message) for p in problems} == {
        ("client_auth", "required key is missing"),
        ("directory", "required key is missing"),
    }


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("server", "listen", "0.0.0.0:8443"),  # a string where a list is expected
        ("server", "max_body_size", 10),  # below the minimum
        ("directory", "start_tls", "maybe"),
        ("directory", "flavor", "novell"),
        ("protection", "max_failures", 0),
        ("groups", "allow", [1, 2]),
    ],
)
def test_wrong_types_name_the_key(secrets_dir: Path, section: str, key: str, value: object) -> None:
    raw = basic_doc()
    raw.setdefault(section, {})[key] = value
    problems = problems_of(raw, secrets_dir)
    assert all(p.key.startswith(f"{section}.{key}") for p in problems), problems


def test_unknown_key_inside_an_array_of_tables(secrets_dir: Path) -> None:
    raw = {**basic_doc(), "usernames": [{"attribute": "ipPhone", "atribute": "typo"}]}
    problems = problems_of(raw, secrets_dir)
    assert [(p.key, p.message) for p in problems] == [("usernames[0].atribute", "unknown key")]


# --- durations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5s", 5.0), ("5m", 300.0), ("250ms", 0.25), ("1h", 3600.0), ("1.5s", 1.5), (7, 7.0)],
)
def test_durations(secrets_dir: Path, text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds
    raw = {**basic_doc(), "protection": {"failure_window": text}}
    config = from_mapping(raw, base_dir=secrets_dir, environ={})
    assert config.settings.protection.failure_window == seconds


@pytest.mark.parametrize("text", ["5 minutes", "m5", "-5s", "5x", "", "0s", True, [5]])
def test_bad_durations(secrets_dir: Path, text: object) -> None:
    raw = {**basic_doc(), "protection": {"failure_window": text}}
    problems = problems_of(raw, secrets_dir)
    assert keys_of(problems) == {"protection.failure_window"}


# --- plaintext LDAP ---------------------------------------------------------------------


def test_plaintext_ldap_is_refused(secrets_dir: Path) -> None:
    problems = problems_of(basic_doc(urls=["ldap://dc1.corp.example"]), secrets_dir)
    assert keys_of(problems) == {"directory"}
    assert "clear text" in problems[0].message


@pytest.mark.parametrize("setting", ["start_tls", "allow_plaintext"])
def test_plaintext_ldap_allowed_with_start_tls_or_explicit_opt_in(
    secrets_dir: Path, setting: str
) -> None:
    raw = basic_doc(urls=["ldap://dc1.corp.example"], **{setting: True})
    config = from_mapping(raw, base_dir=secrets_dir, environ={})
    assert config.settings.directory.urls == ("ldap://dc1.corp.example",)


def test_plaintext_check_is_case_insensitive(secrets_dir: Path) -> None:
    problems = problems_of(basic_doc(urls=["LDAP://dc1.corp.example"]), secrets_dir)
    assert "clear text" in problems[0].message


# --- usernames --------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", ["active_directory", "openldap"])
def test_ldap_directory_has_no_default_username_attribute(secrets_dir: Path, flavor: str) -> None:
    """AD's ipPhone/otherIpPhone and OpenLDAP's telephoneNumber are often writable by
    the user himself: the administrator must choose, and the error says what to choose."""
    raw = basic_doc(flavor=flavor)
    del raw["usernames"]
    problems = problems_of(raw, secrets_dir)
    assert keys_of(problems) == {"usernames"}
    message = problems[0].message
    assert "required for an LDAP directory" in message
    assert "users cannot write on their own entry" in message
    assert "employeeNumber" in message
    assert "extensionAttribute1" in message
    assert "ipPhone once the ACL is hardened" in message
    # an empty list is no choice either
    assert keys_of(problems_of({**raw, "usernames": []}, secrets_dir)) == {"usernames"}


def test_missing_usernames_waits_for_a_valid_directory_section(secrets_dir: Path) -> None:
    raw = basic_doc(urls=[])
    del raw["usernames"]
    assert keys_of(problems_of(raw, secrets_dir)) == {"directory"}


@pytest.mark.parametrize(("value", "seconds"), [("5m", 300.0), ("0", 0.0), (0, 0.0)])
def test_username_check_ttl(secrets_dir: Path, value: object, seconds: float) -> None:
    raw = {**basic_doc(), "protection": {"username_check_ttl": value}}
    settings = from_mapping(raw, base_dir=secrets_dir, environ={}).settings
    assert settings.protection.username_check_ttl == seconds
    default = from_mapping(basic_doc(), base_dir=secrets_dir, environ={}).settings
    assert default.protection.username_check_ttl == 300.0


@pytest.mark.parametrize("name", ["ip Phone", "ipPhone)(uid=*", "*", "", "a\\b", "(cn)"])
def test_username_attribute_must_be_an_attribute_name(secrets_dir: Path, name: str) -> None:
    """The name goes into the duplicate check's filter: no filter syntax may ride along."""
    problems = problems_of({**basic_doc(), "usernames": [{"attribute": name}]}, secrets_dir)
    assert keys_of(problems) == {"usernames[0].attribute"}


# --- load() -----------------------------------------------------------------------------


def test_load_reads_toml_and_resolves_secrets_beside_it(secrets_dir: Path) -> None:
    path = secrets_dir / "bridge.toml"
    path.write_text(
        '[client_auth]\nmode = "basic"\npassword_file = "client-password"\n'
        '[directory]\nurls = ["ldaps://dc1.corp.example"]\n'
        f'bind_dn = "{AD_DN}"\nbind_password_file = "ldap-bind-password"\n'
        'base_dn = "DC=corp,DC=example"\n'
        '[[usernames]]\nattribute = "employeeNumber"\n'
    )
    config = load(path, environ={})
    assert config.source == path
    assert config.secrets.basic_password is not None
    assert config.secrets.basic_password.reveal() == b"client-password-value-0123456789"


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path / "absent.toml", environ={})
    assert "no such file" in str(info.value)
    assert "absent.toml" in str(info.value)


@pytest.mark.parametrize("content", [b"this is = = not toml\n[", b"\xff\xfe\x00binary"])
def test_load_non_toml_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bridge.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load(path, environ={})
    assert len(info.value.problems) == 1
    assert str(path) in str(info.value)


def test_load_a_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load(tmp_path, environ={})
