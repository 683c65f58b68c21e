"""Secret files: opened once without following links, refused unless private, and the
bytes checked are the bytes used (bind password, JWT keys, the server's TLS key)."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridge.client_auth.keys import load_signing_material
from bridge.config import Config, from_mapping
from bridge.config.secret_files import MAX_SECRET_BYTES, SecretFileRefused, read_secret_file
from bridge.core.errors import ConfigError
from bridge.process.tls import checked_tls_context, sealed_memory_file
from bridge.process.wiring import build_client_auth
from tests.harness.client_credentials import key_material
from tests.harness.tls import CA, make_ca

ROOT = Path(__file__).resolve().parent.parent

#: Every secret key and how to make a config document that reads ``name`` through it.
SECRET_KEYS: dict[str, Callable[[str], dict[str, Any]]] = {
    "directory.bind_password_file": lambda name: _doc(directory={"bind_password_file": name}),
    "client_auth.password_file": lambda name: _doc(client_auth={"password_file": name}),
    "client_auth.token_file": lambda name: _doc(client_auth={"mode": "bearer", "token_file": name}),
    "client_auth.token_files[0]": lambda name: _doc(
        client_auth={"mode": "bearer", "token_files": [name]}
    ),
    "client_auth.client_secret_file": lambda name: _oauth2(client_secret_file=name),
    "client_auth.client_secret_files[0]": lambda name: _oauth2(
        client_secret_file=None, client_secret_files=[name]
    ),
    "client_auth.signing_key_file": lambda name: _oauth2(signing_key_file=name),
    "client_auth.verification_key_files[0]": lambda name: _oauth2(verification_key_files=[name]),
    "server.tls_key_file": lambda name: _doc(
        server={"tls_cert_file": "tls-cert.pem", "tls_key_file": name}
    ),
}


def _doc(**sections: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "server": {"listen": ["127.0.0.1:0"]},
        "client_auth": {"mode": "basic", "password_file": "client-password"},
        "directory": {
            "type": "ldap",
            "urls": ["ldaps://dc1.corp.example"],
            "bind_dn": "CN=svc,DC=corp,DC=example",
            "bind_password_file": "bind-password",
            "base_dn": "DC=corp,DC=example",
        },
        "usernames": [{"attribute": "employeeNumber"}],
    }
    for section, values in sections.items():
        document[section] = {**document[section], **values}
        if section == "client_auth" and values.get("mode", "basic") != "basic":
            del document[section]["password_file"]
    return document


def _oauth2(**values: Any) -> dict[str, Any]:
    client_auth = {
        "mode": "oauth2",
        "client_secret_file": "client-secret",
        "signing_key_file": "signing-key",
        **values,
    }
    return _doc(client_auth={k: v for k, v in client_auth.items() if v is not None})


def private(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


@pytest.fixture
def ca(tmp_path: Path) -> CA:
    return make_ca(tmp_path / "ca")


@pytest.fixture
def base(tmp_path: Path, ca: CA) -> Path:
    """Every file the documents above name, each private and valid."""
    folder = tmp_path / "etc"
    folder.mkdir()
    for name in ("client-password", "bind-password", "client-secret"):
        private(folder / name, f"{name}-value\n".encode())
    private(folder / "signing-key", key_material("HS256"))
    cert, key = ca.issue_server_cert(tmp_path / "tls")
    (folder / "tls-cert.pem").write_bytes(cert.read_bytes())
    private(folder / "tls-key.pem", key.read_bytes())
    return folder


def load(document: dict[str, Any], folder: Path) -> Config:
    return from_mapping(document, base_dir=folder, environ={})


def problems(document: dict[str, Any], folder: Path) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load(document, folder)
    return {p.key: p.message for p in caught.value.problems}


# ----------------------------------------------------------------- what is refused

BAD_MODES = {
    0o620: "can be written by group",
    0o660: "can be written by group",
    0o602: "can be written by others",
    0o606: "can be written by others",
    0o622: "can be written by group and others",
    0o666: "can be written by group and others",
    0o604: "readable by everyone",
    0o644: "readable by everyone",
    0o744: "readable by everyone",
}


@pytest.mark.parametrize("key", SECRET_KEYS)
@pytest.mark.parametrize("mode", BAD_MODES, ids=lambda m: f"{m:04o}")
def test_a_secret_others_may_read_or_group_or_others_may_write_is_refused(
    base: Path, key: str, mode: int
) -> None:
    name = "odd-secret"
    source = base / ("tls-key.pem" if key == "server.tls_key_file" else "signing-key")
    private(base / name, source.read_bytes(), mode)
    found = problems(SECRET_KEYS[key](name), base)
    assert list(found) == [key]
    assert BAD_MODES[mode] in found[key]
    assert f"mode {mode:04o}" in found[key]
    assert "chmod 600" in found[key]


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o400, 0o440, 0o700])
def test_owner_only_and_group_readable_are_fine(base: Path, mode: int) -> None:
    for key, document in SECRET_KEYS.items():
        source = base / ("tls-key.pem" if key == "server.tls_key_file" else "signing-key")
        private(base / "odd-secret", source.read_bytes(), mode)
        load(document("odd-secret"), base)


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_a_symlinked_secret_is_refused_naming_load_credential(base: Path, key: str) -> None:
    """Even a link to a private file: whoever can change the link could repoint it."""
    target = base / ("tls-key.pem" if key == "server.tls_key_file" else "signing-key")
    (base / "linked").symlink_to(target)
    message = problems(SECRET_KEYS[key]("linked"), base)[key]
    assert "symbolic link" in message
    assert str(target) in message
    assert "LoadCredential=" in message


def test_a_symlinked_directory_above_the_file_is_followed(base: Path, tmp_path: Path) -> None:
    """/etc itself is often a link on appliances; only the file's own name must not be."""
    (tmp_path / "via").symlink_to(base)
    config = load(
        _doc(client_auth={"password_file": str(tmp_path / "via" / "client-password")}), base
    )
    assert config.secrets.basic_password is not None
    assert config.secrets.basic_password.reveal() == b"client-password-value"


def test_a_directory_is_refused(base: Path) -> None:
    (base / "a-folder").mkdir(mode=0o700)
    message = problems(SECRET_KEYS["client_auth.password_file"]("a-folder"), base)
    assert "is a directory, not a regular file" in message["client_auth.password_file"]


@pytest.mark.timeout(20)
def test_a_fifo_is_refused_without_waiting_for_a_writer(base: Path) -> None:
    """Opening a FIFO to read blocks until someone writes; O_NONBLOCK, then fstat."""
    fifo = base / "a-fifo"
    os.mkfifo(fifo, 0o600)
    outcome: list[object] = []
    worker = threading.Thread(
        target=lambda: outcome.append(
            _problems_or_none(SECRET_KEYS["server.tls_key_file"]("a-fifo"), base)
        ),
        daemon=True,
    )
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "reading a FIFO secret hung"
    [found] = outcome
    assert isinstance(found, dict)
    assert "is a FIFO (named pipe), not a regular file" in found["server.tls_key_file"]


def _problems_or_none(document: dict[str, Any], folder: Path) -> dict[str, str] | None:
    try:
        load(document, folder)
    except ConfigError as exc:
        return {p.key: p.message for p in exc.problems}
    return None


def test_a_socket_and_a_device_are_refused(base: Path, tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(base / "a-socket"))
        found = problems(SECRET_KEYS["client_auth.password_file"]("a-socket"), base)
    assert "is a socket" in found["client_auth.password_file"]
    found = problems(SECRET_KEYS["client_auth.password_file"]("/dev/null"), base)
    assert "is a character device" in found["client_auth.password_file"]


def test_a_missing_file_an_empty_one_and_a_huge_one(base: Path) -> None:
    found = problems(SECRET_KEYS["client_auth.password_file"]("absent"), base)
    assert "cannot read secret file" in found["client_auth.password_file"]
    assert "No such file" in found["client_auth.password_file"]
    private(base / "empty", b"\n")
    found = problems(SECRET_KEYS["server.tls_key_file"]("empty"), base)
    assert "is empty" in found["server.tls_key_file"]
    private(base / "huge", b"x" * (MAX_SECRET_BYTES + 1))
    found = problems(SECRET_KEYS["client_auth.signing_key_file"]("huge"), base)
    assert "more than any secret" in found["client_auth.signing_key_file"]


def test_every_refusal_at_once_each_with_its_key(base: Path) -> None:
    private(base / "bind-password", b"pw", 0o664)
    (base / "client-password").unlink()
    (base / "client-password").symlink_to(base / "client-secret")
    document = _doc(server={"tls_cert_file": "tls-cert.pem", "tls_key_file": "tls-key.pem"})
    (base / "tls-key.pem").chmod(0o644)
    found = problems(document, base)
    assert set(found) == {
        "directory.bind_password_file",
        "client_auth.password_file",
        "server.tls_key_file",
    }


def test_read_secret_file_returns_the_bytes_as_they_are(tmp_path: Path) -> None:
    data = b"\x00\xffbytes\r\n"
    assert read_secret_file(private(tmp_path / "s", data)) == data
    with pytest.raises(SecretFileRefused, match="readable by everyone"):
        read_secret_file(private(tmp_path / "s", data, 0o644))


def test_check_config_names_the_key_and_what_to_do(base: Path) -> None:
    """The operator sees it from the real CLI: exit 2, the key, the chmod."""
    private(base / "bind-password", b"pw\n", 0o660)
    path = base / "bridge.toml"
    path.write_text(
        '[client_auth]\nmode = "basic"\npassword_file = "client-password"\n'
        '[directory]\ntype = "ldap"\nurls = ["ldaps://dc1.corp.example"]\n'
        'bind_dn = "CN=svc,DC=corp,DC=example"\nbind_password_file = "bind-password"\n'
        'base_dn = "DC=corp,DC=example"\n[[usernames]]\nattribute = "employeeNumber"\n',
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "--config", str(path), "check-config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"},
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "directory.bind_password_file: " in result.stderr
    assert "can be written by group (mode 0660)" in result.stderr
    assert "chmod 600" in result.stderr


# ----------------------------------------------------------------- the bytes checked are used


@pytest.fixture
def tls_config(base: Path) -> Config:
    return load(SECRET_KEYS["server.tls_key_file"]("tls-key.pem"), base)


def test_tls_key_comes_from_the_checked_read_not_the_path(
    tls_config: Config, base: Path, ca: CA, tmp_path: Path
) -> None:
    """After loading, the key file is swapped for another key, then removed: the TLS
    context still gets the key that was checked (a re-read would mismatch or fail)."""
    _, other_key = ca.issue_server_cert(tmp_path / "other")
    key_path = base / "tls-key.pem"
    key_path.unlink()
    private(key_path, other_key.read_bytes(), 0o666)
    assert checked_tls_context(tls_config) is not None
    key_path.unlink()
    context = checked_tls_context(tls_config)
    assert isinstance(context, ssl.SSLContext)


def test_a_key_that_does_not_match_the_certificate_is_still_a_config_error(
    base: Path, ca: CA, tmp_path: Path
) -> None:
    _, other_key = ca.issue_server_cert(tmp_path / "other")
    private(base / "tls-key.pem", other_key.read_bytes())
    config = load(SECRET_KEYS["server.tls_key_file"]("tls-key.pem"), base)
    with pytest.raises(ConfigError) as caught:
        checked_tls_context(config)
    assert [p.key for p in caught.value.problems] == ["server.tls_cert_file"]


def test_the_memory_file_holds_exactly_the_bytes_and_is_sealed() -> None:
    with sealed_memory_file(b"-----BEGIN KEY-----\n") as path:
        assert Path(path).read_bytes() == b"-----BEGIN KEY-----\n"
        assert os.readlink(path).startswith("/memfd:")  # in memory, in no directory
        with pytest.raises(PermissionError):  # sealed: not even we can change it
            Path(path).write_bytes(b"another key")
        assert stat.S_ISREG(os.stat(path).st_mode)


@pytest.mark.parametrize("algorithm", ["HS256", "ES256"])
def test_jwt_keys_come_from_the_checked_read_not_the_path(
    base: Path, tmp_path: Path, algorithm: str
) -> None:
    private(base / "signing-key", key_material(algorithm))
    private(base / "old-key", key_material(algorithm))
    document = _oauth2(signing_algorithm=algorithm, verification_key_files=["old-key"])
    config = load(document, base)
    expected = load_signing_material(algorithm, base / "signing-key", [base / "old-key"])
    for name in ("signing-key", "old-key"):  # swapped, then gone
        private(base / name, key_material(algorithm), 0o666)
    _, issuer = build_client_auth(config)
    assert issuer is not None
    for name in ("signing-key", "old-key"):
        (base / name).unlink()
    keys = load_signing_material(
        algorithm,
        config.secrets.signing_key_file or Path(),
        config.secrets.verification_key_files,
        read=config.secrets.key_bytes,
    )
    assert keys.signing_kid == expected.signing_kid
    assert keys.verification_keys.keys() == expected.verification_keys.keys()


def test_key_bytes_knows_only_the_files_it_read(base: Path) -> None:
    config = load(_oauth2(), base)
    with pytest.raises(ValueError, match="not a key file"):
        config.secrets.key_bytes(base / "client-password")
