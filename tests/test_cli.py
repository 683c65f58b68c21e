"""The operator commands, run as the real CLI in a subprocess against the private slapd."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bridge.directory.passwords import verify_password
from tests.harness import openldap_people as people
from tests.harness.configs import deep_merge, openldap_raw
from tests.harness.slapd import SlapdServer

pytestmark = pytest.mark.openldap

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(value)


def to_toml(document: dict[str, Any]) -> str:
    """Just enough TOML writing for a config document: tables and arrays of tables."""
    lines: list[str] = []
    for name, section in document.items():
        tables = section if isinstance(section, list) else [section]
        header = f"[[{name}]]" if isinstance(section, list) else f"[{name}]"
        for table in tables:
            lines.append(header)
            lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"ldap://127.0.0.1:{port}"


@pytest.fixture
def write_config(slapd: SlapdServer, tmp_path: Path) -> Any:
    def write(**overrides: Any) -> Path:
        raw = deep_merge(openldap_raw(slapd, tmp_path), overrides)
        path = tmp_path / "bridge.toml"
        path.write_text(to_toml(raw), encoding="utf-8")
        return path

    return write


def test_hash_password_from_stdin_prints_only_a_hash_that_verifies() -> None:
    result = run("hash-password", stdin="correct horse ✓ \n")
    assert result.returncode == 0, result.stderr
    hashed = result.stdout.strip()
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse ✓ ")  # never trimmed
    refused = run("hash-password", stdin="\n")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert "empty password" in refused.stderr


def test_test_login_accepted_prints_the_exact_body(write_config: Any) -> None:
    jane = people.PEOPLE["jdoe"]
    result = run(
        "--config",
        str(write_config()),
        "test-login",
        "jdoe",
        "--password-stdin",
        stdin=jane.password + "\n",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    body = {"values": [{"username": p, "display_name": jane.display_name} for p in jane.phones]}
    assert json.dumps(body) in result.stdout.splitlines()
    assert f"DN: {jane.dn}" in result.stdout
    assert "ACCEPTED" in result.stdout
    assert jane.password not in result.stdout + result.stderr


@pytest.mark.parametrize("login", ["tabby", "hebrew", "nbsp"])
def test_test_login_sends_the_password_as_typed(write_config: Any, login: str) -> None:
    """A tab, mixed directions, a no-break space: the CLI binds with the very characters."""
    person = people.PEOPLE[login]
    result = run(
        "--config",
        str(write_config()),
        "test-login",
        login,
        "--password-stdin",
        stdin=person.password + "\n",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ACCEPTED" in result.stdout


def test_hash_password_refuses_stdin_that_is_not_utf8() -> None:
    """Under a C locale Python reads such bytes as lone surrogates: no login could match."""
    for errors in ("strict", "surrogateescape"):
        result = subprocess.run(
            [sys.executable, "-m", "bridge", "hash-password"],
            input=b"caf\xe9\n",
            capture_output=True,
            cwd=ROOT,
            timeout=60,
            check=False,
            env={**os.environ, "PYTHONIOENCODING": f"utf-8:{errors}"},
        )
        assert (result.returncode, result.stdout) == (1, b""), errors
        assert b"Traceback" not in result.stderr
        assert b"UTF-8" in result.stderr or b"utf-8" in result.stderr


@pytest.mark.parametrize("stdin", ["\n", "", "\r\n"])
def test_test_login_refuses_an_empty_password_before_any_ldap_traffic(
    write_config: Any, stdin: str
) -> None:
    """An empty password would be an unauthenticated bind, which succeeds (RFC 4513
    §5.1.2): refused like hash-password refuses it, and no connection is even made."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        url = f"ldap://127.0.0.1:{listener.getsockname()[1]}"
        path = write_config(directory={"urls": [url]})
        result = run("--config", str(path), "test-login", "jdoe", "--password-stdin", stdin=stdin)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody knocked
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert "password" in result.stderr


def test_test_login_wrong_password_names_the_reason(write_config: Any) -> None:
    result = run(
        "--config", str(write_config()), "test-login", "jdoe", "--password-stdin", stdin="nope\n"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "DENIED: bad_password" in result.stdout
    assert '{"error": "access_denied"}' in result.stdout


def test_test_login_unreachable_directory_names_the_server(
    write_config: Any, slapd: SlapdServer
) -> None:
    url = dead_url()
    directory = {"urls": [url], "connect_timeout": "1s"}
    result = run(
        "--config",
        str(write_config(directory=directory)),
        "test-login",
        "jdoe",
        "--password-stdin",
        stdin="whatever\n",
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "UNAVAILABLE" in result.stdout
    assert url in result.stdout


def test_check_config_without_and_with_connect(write_config: Any, slapd: SlapdServer) -> None:
    path = str(write_config(protection={"max_failures": 2}))
    plain = run("--config", path, "check-config")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.startswith("configuration OK")
    assert f"urls: {slapd.url}" in plain.stdout
    connected = run("--config", path, "check-config", "--connect")
    assert connected.returncode == 0, connected.stdout + connected.stderr
    for expected in (
        "TLS: none (plain LDAP)",
        f"bind: service account {people.SERVICE_DN} OK",
        f"RootDSE namingContexts: {people.BASE_DN}",
        "RootDSE supportedLDAPVersion: 3",
        "user filter: OK, 0 entries",
        f"lockout policy: the policy {people.STRICT_POLICY_DN}: locks at 3",
        "protection.max_failures = 2, failure_window = 1800s",
        # slapd publishes no ACL facts: the administrator is told what to look at
        "username attributes: not checked (OpenLDAP publishes no ACL facts); make sure "
        "no slapd ACL gives 'by self write' on telephoneNumber",
    ):
        assert expected in connected.stdout, connected.stdout
    assert people.SERVICE_PASSWORD not in connected.stdout + connected.stderr


def test_check_config_connect_fails_when_the_budget_reaches_a_policy(
    write_config: Any,
) -> None:
    """slapd's strict ppolicy locks at 3: a budget of 3 fails the check, naming it."""
    path = write_config(protection={"max_failures": 3})
    result = run("--config", str(path), "check-config", "--connect")
    assert result.returncode == 2, result.stdout
    assert (
        "FAILED: protection.max_failures (3) reaches the lockout threshold 3 of the policy "
        f"{people.STRICT_POLICY_DN}: set it below 3"
    ) in result.stdout


def test_check_config_connect_fails_for_a_dead_server_and_names_it(
    write_config: Any, slapd: SlapdServer
) -> None:
    url = dead_url()
    path = write_config(directory={"urls": [slapd.url, url], "connect_timeout": "1s"})
    result = run("--config", str(path), "check-config", "--connect")
    assert result.returncode == 2, result.stdout + result.stderr
    good, _, bad = result.stdout.partition(f"{url}:")
    assert f"{slapd.url}:" in good
    assert "  OK" in good
    assert "FAILED: cannot connect" in bad


def test_check_config_connect_reports_a_wrong_service_password(
    write_config: Any, tmp_path: Path
) -> None:
    path = write_config()
    (tmp_path / "bind-password").write_text("not the password")
    result = run("--config", str(path), "check-config", "--connect")
    assert result.returncode == 2
    assert "service account bind failed: invalidCredentials" in result.stdout
