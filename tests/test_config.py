"""Settings: minimal valid documents, every problem with its dotted key, secrets, presets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.config import Config, from_mapping, load, parse_duration
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


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    for name in ("ldap-bind-password", "client-password", "token", "client-secret"):
        secret(tmp_path / name, f"{name}-value-0123456789")
    secret(tmp_path / "jwt-signing-key", "k" * 40)
    return tmp_path


def problems_of(raw: dict[str, Any], base_dir: Path, **kwargs: Any) -> tuple[Problem, ...]:
    with pytest.raises(ConfigError) as info:
        from_mapping(raw, base_dir=base_dir, environ=kwargs.pop("environ", {}), **kwargs)
    return info.value.problems


def keys_of(problems: tuple[Problem, ...]) -> set[str]:
    return {p.key for p in problems}


# --- minimal valid documents -------------------------------------------------------------


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


# --- secret files -----------------------------------------------------------------------


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


# --- presets ----------------------------------------------------------------------------


def test_active_directory_default_filter(secrets_dir: Path) -> None:
    directory = from_mapping(basic_doc(), base_dir=secrets_dir, environ={}).settings.directory
    flt = directory.effective_user_filter
    assert "(sAMAccountName={login})" in flt
    assert "(userPrincipalName={login})" in flt
    assert "objectCategory=person" in flt
    assert "mail" not in flt
    assert flt.count("(") == flt.count(")")
    assert directory.effective_accept_domain_prefix is True


def test_openldap_default_filter(secrets_dir: Path) -> None:
    raw = basic_doc(flavor="openldap")
    directory = from_mapping(raw, base_dir=secrets_dir, environ={}).settings.directory
    flt = directory.effective_user_filter
    assert "(uid={login})" in flt
    assert "sAMAccountName" not in flt
    assert flt.count("(") == flt.count(")")
    assert directory.effective_accept_domain_prefix is False


@pytest.mark.parametrize("flavor", ["active_directory", "openldap"])
def test_accept_mail_adds_the_mail_attribute(secrets_dir: Path, flavor: str) -> None:
    raw = basic_doc(flavor=flavor, accept_mail=True)
    flt = from_mapping(raw, base_dir=secrets_dir, environ={}).settings.directory
    assert "(mail={login})" in flt.effective_user_filter
    assert flt.effective_user_filter.startswith("(&")
    assert "(|" in flt.effective_user_filter


def test_configured_filter_wins_over_preset(secrets_dir: Path) -> None:
    raw = basic_doc(user_filter="(&(objectClass=person)(cn={login}))", accept_mail=True)
    directory = from_mapping(raw, base_dir=secrets_dir, environ={}).settings.directory
    assert directory.effective_user_filter == "(&(objectClass=person)(cn={login}))"


def test_filter_without_login_placeholder_is_a_problem(secrets_dir: Path) -> None:
    problems = problems_of(basic_doc(user_filter="(objectClass=person)"), secrets_dir)
    assert keys_of(problems) == {"directory"}
    assert "{login}" in problems[0].message


def test_preset_display_name_default(secrets_dir: Path) -> None:
    settings = from_mapping(basic_doc(), base_dir=secrets_dir, environ={}).settings
    assert [r.attribute for r in settings.username_rules] == ["employeeNumber"]
    assert settings.display_name_attribute == "displayName"


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


def test_file_directory_keeps_a_username_default(secrets_dir: Path) -> None:
    """Only the administrator writes the users file: nobody can forge a value there."""
    (secrets_dir / "users.toml").write_text("")
    raw = {
        "client_auth": {"mode": "basic", "password_file": "client-password"},
        "directory": {"type": "file", "users_file": "users.toml"},
    }
    settings = from_mapping(raw, base_dir=secrets_dir, environ={}).settings
    assert [r.attribute for r in settings.username_rules] == ["ipPhone", "otherIpPhone"]


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


def test_base_dn_is_required_in_direct_bind_mode_too(secrets_dir: Path) -> None:
    raw = basic_doc(base_dn="", bind_template="{login}@corp.example")
    del raw["directory"]["bind_dn"]
    problems = problems_of(raw, secrets_dir)
    assert keys_of(problems) == {"directory"}
    assert "base_dn is required" in problems[0].message


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


def test_bind_password_file_must_be_utf8(secrets_dir: Path) -> None:
    (secrets_dir / "ldap-bind-password").write_bytes("Pässwort".encode("latin-1"))
    problems = problems_of(basic_doc(), secrets_dir)
    assert [(p.key, p.message) for p in problems] == [
        ("directory.bind_password_file", "not UTF-8 text; save the file as UTF-8")
    ]
