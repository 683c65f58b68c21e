"""Bad configs through the real CLI: exit 2 and every problem named by its key."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

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
    "wrong_type": (GOOD + 'accept_mail = "maybe"\n', ["directory.accept_mail: "]),
    "key_of_another_type": (
        GOOD + 'pool_size = 8\nbind_dn = "CN=svc"\n',
        [
            'directory.pool_size: only for type "ldap"',
            'directory.bind_dn: only for type "ldap"',
        ],
    ),
    "key_of_another_mode": (
        GOOD.replace("[directory]", 'token_file = "token"\n[directory]'),
        ['client_auth.token_file: only for mode "bearer"'],
    ),
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
