"""The shipped configs are valid, complete, and bad configs get errors naming their keys."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from bridge.config import (
    ClientAuthSettings,
    DirectorySettings,
    GroupSettings,
    LoggingSettings,
    ProtectionSettings,
    RequestSettings,
    ResponseSettings,
    ServerSettings,
    UsernameRule,
    load,
)
from bridge.core.errors import ConfigError
from bridge.core.outcomes import Accepted
from bridge.directory.file import FileDirectory
from bridge.process.wiring import build_service
from tests.harness.tls import make_ca

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "config" / "demo.toml"
EXAMPLE = ROOT / "config" / "bridge.example.toml"
SECTIONS: dict[str, type[BaseModel]] = {
    "server": ServerSettings,
    "request": RequestSettings,
    "client_auth": ClientAuthSettings,
    "directory": DirectorySettings,
    "groups": GroupSettings,
    "usernames": UsernameRule,
    "response": ResponseSettings,
    "protection": ProtectionSettings,
    "logging": LoggingSettings,
}
_COMMENTED_KEY = re.compile(r"^# (\w+) = ")
#: Demo-only inline forms: named in the example's prose, never as a key line.
INLINE_SECRETS = {"password", "token", "client_secret", "bind_password"}


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


def commented_out_keys(text: str) -> Iterator[tuple[str, str]]:
    """(section, key) for every ``# key = value`` line naming a real setting."""
    section = ""
    for line in text.splitlines():
        header = re.match(r"^\[\[?(\w+)\]\]?", line)
        if header:
            section = header.group(1)
        match = _COMMENTED_KEY.match(line)
        if match and match.group(1) in SECTIONS[section].model_fields:
            yield section, match.group(1)


def test_example_documents_every_key_and_its_commented_keys_are_valid(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    mentioned: dict[str, set[str]] = {name: set() for name in SECTIONS}
    section = ""
    for line in text.splitlines():
        header = re.match(r"^\[\[?(\w+)\]\]?", line)
        if header:
            section = header.group(1)
        key = re.match(r"^(?:# )?(\w+) = ", line)
        if section and key:
            mentioned[section].add(key.group(1))
    for name, model in SECTIONS.items():
        assert mentioned[name] == set(model.model_fields) - INLINE_SECRETS, name
    # Uncomment every alternative at once: still a valid config.
    uncommented = re.sub(
        r"^# (\w+ = )",
        lambda m: m.group(1),
        text,
        flags=re.MULTILINE,
    )
    assert len(list(commented_out_keys(text))) >= 10
    path, environ = install_example(tmp_path / "alt", uncommented)
    (path.parent / "users.toml").write_text("")
    config = load(path, environ=environ)
    assert config.settings.directory.bind_template == "{login}@corp.example"


# -- bad configs through the real CLI ---------------------------------------------------
GOOD = """\
[server]
listen = ["127.0.0.1:0"]
ops_listen = ""
[client_auth]
mode = "basic"
password_file = "client-password"
[directory]
type = "file"
users_file = "users.toml"
"""

CASES: dict[str, tuple[str, list[str]]] = {
    "unknown_key": (
        GOOD.replace("[client_auth]", "listen_port = 8443\n[client_auth]"),
        ["server.listen_port: unknown key"],
    ),
    "wrong_type": (GOOD + 'pool_size = "many"\n', ["directory.pool_size: "]),
    "bad_duration": (
        GOOD.replace("[client_auth]", 'request_deadline = "10 parsecs"\n[client_auth]'),
        ["server.request_deadline: ", "duration"],
    ),
    "bad_url": (
        GOOD.replace('type = "file"', 'type = "ldap"\nurls = ["ldaps://dc1", "http://dc2"]'),
        ["directory.urls[1]: ", "http://dc2"],
    ),
    "missing_secret_file": (
        GOOD.replace('"client-password"', '"no-such-secret"'),
        ["client_auth.password_file: cannot read secret file", "no-such-secret"],
    ),
    "world_readable_secret": (
        GOOD.replace('"client-password"', '"open-secret"'),
        ["client_auth.password_file: ", "readable by everyone"],
    ),
    "ldap_without_usernames": (
        GOOD.replace(
            'type = "file"\nusers_file = "users.toml"',
            'type = "ldap"\nurls = ["ldaps://dc1"]\nbind_template = "{login}@corp.example"\n'
            'base_dn = "DC=corp,DC=example"',
        ),
        ["usernames: required for an LDAP directory", "users cannot write on their own entry"],
    ),
    "not_toml": ("[server\nlisten = ", ["not valid TOML"]),
    "missing_config": ("", ["no such file"]),
    "bad_users_file": (
        GOOD.replace('"users.toml"', '"bad-users.toml"'),
        ["users[0].password_hash: not an argon2 hash"],
    ),
    "tls_pair_does_not_load": (
        GOOD.replace(
            'ops_listen = ""',
            'ops_listen = ""\ntls_cert_file = "cert.pem"\ntls_key_file = "key.pem"',
        ),
        ["server.tls_cert_file: cannot load"],
    ),
}


@pytest.fixture(scope="module")
def cli_results(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every bad config checked by the real CLI, all at once (each run is a process start)."""
    base = tmp_path_factory.mktemp("bad-configs")
    for name, mode in (("client-password", 0o600), ("open-secret", 0o644)):
        (base / name).write_text("secret-0123456789abc\n")
        (base / name).chmod(mode)
    shutil.copy(ROOT / "config" / "demo-users.toml", base / "users.toml")
    (base / "bad-users.toml").write_text('[[users]]\nlogin = "x"\npassword_hash = "{SSHA}x"\n')
    (base / "cert.pem").write_text("not a certificate\n")
    (base / "key.pem").write_text("not a key\n")
    (base / "key.pem").chmod(0o600)
    processes: dict[str, subprocess.Popen[str]] = {}
    for name, (text, _) in CASES.items():
        path = base / f"{name}.toml"
        if name != "missing_config":
            path.write_text(text, encoding="utf-8")
        processes[name] = subprocess.Popen(
            [sys.executable, "-m", "bridge", "--config", str(path), "check-config"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
    results = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=60)
        results[name] = subprocess.CompletedProcess(
            process.args, process.returncode, stdout, stderr
        )
    return results


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_config_exits_2_naming_the_key(
    case: str, cli_results: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    result = cli_results[case]
    stdout, stderr = result.stdout, result.stderr
    assert result.returncode == 2, stdout + stderr
    for expected in CASES[case][1]:
        assert expected in stderr, stderr
    assert "Traceback" not in stderr
    assert "configuration OK" not in stdout


def test_good_config_is_ok_through_the_cli(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config" / "demo-users.toml", tmp_path / "users.toml")
    (tmp_path / "client-password").write_text("secret-0123456789abc\n")
    (tmp_path / "client-password").chmod(0o600)
    (tmp_path / "bridge.toml").write_text(GOOD)
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "--config", str(tmp_path / "bridge.toml"), "check-config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("configuration OK")
