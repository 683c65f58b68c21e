"""Which config a command reads, typed the ways administrators type it.

``--config`` goes before or after the command, for every command that reads one;
``$RINGOTEL_BRIDGE_CONFIG`` and the default path apply when it is absent; and the
commands ``deploy/install.sh`` tells the administrator to run work as printed. All run
as the real CLI, ``python -m bridge``, in a subprocess.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from bridge.config import CONFIG_ENV, DEFAULT_CONFIG_PATH
from tests.harness import openldap_people as people
from tests.harness.bridge_process import write_config
from tests.harness.configs import openldap_raw
from tests.harness.slapd import SlapdServer

pytestmark = pytest.mark.openldap

ROOT = Path(__file__).resolve().parent.parent
INSTALL = ROOT / "deploy" / "install.sh"
PUBLIC_URL = ("--public-url", "https://sso.corp.example")
#: Each command that reads a config, with the arguments it needs besides --config.
COMMANDS: dict[str, tuple[str, ...]] = {
    "serve": ("serve",),
    "check-config": ("check-config",),
    "test-login": ("test-login", "jdoe", "--password-stdin"),
    "descriptor": ("descriptor", *PUBLIC_URL),
}
ORDERS: dict[str, Callable[[str, Sequence[str]], list[str]]] = {
    "before": lambda path, command: ["--config", path, *command],
    "after": lambda path, command: [*command, "--config", path],
}


def environment(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {CONFIG_ENV, "CREDENTIALS_DIRECTORY"}}
    return {**env, "PYTHONUNBUFFERED": "1", **overrides}


def run(
    *args: str, stdin: str = "", env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(env) if env is not None else environment(),
        timeout=60,
        check=False,
    )


@pytest.fixture
def config(slapd: SlapdServer, tmp_path: Path) -> Path:
    return write_config(tmp_path / "bridge.toml", openldap_raw(slapd, tmp_path))


def serve_until_listening(args: Sequence[str], timeout: float = 20) -> None:
    """Start ``serve``, wait for its ``listening`` event, then stop it (SIGTERM: exit 0)."""
    lines: list[str] = []
    listening = threading.Event()
    with subprocess.Popen(
        [sys.executable, "-m", "bridge", *args],
        cwd=ROOT,
        env=environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                if '"listening"' in line:
                    listening.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            listening.wait(timeout)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            reader.join(5)
    assert listening.is_set(), "".join(lines)
    assert process.returncode == 0, "".join(lines)


def succeeds(command: str, args: list[str]) -> None:
    """The command did its job with that config (against the private slapd): the file
    was read, as no other config exists (not even at the default path)."""
    if command == "serve":
        serve_until_listening(args)
        return
    stdin = people.PEOPLE["jdoe"].password + "\n" if command == "test-login" else ""
    result = run(*args, stdin=stdin)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = {
        "check-config": "configuration OK",
        "test-login": "ACCEPTED",
        "descriptor": '"request_url": "https://sso.corp.example/auth"',
    }[command]
    assert expected in result.stdout


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("command", COMMANDS)
def test_config_on_either_side_of_the_command(config: Path, command: str, order: str) -> None:
    succeeds(command, ORDERS[order](str(config), COMMANDS[command]))


def test_the_later_config_wins_when_given_twice(config: Path, tmp_path: Path) -> None:
    """As with any option given twice: argparse keeps the last one."""
    missing = str(tmp_path / "missing.toml")
    assert run("--config", missing, "check-config", "--config", str(config)).returncode == 0
    second = run("--config", str(config), "check-config", "--config", missing)
    assert f"invalid configuration in {missing}:" in second.stderr


def test_environment_then_default_path(config: Path, tmp_path: Path) -> None:
    from_env = run("check-config", env=environment(**{CONFIG_ENV: str(config)}))
    assert from_env.returncode == 0, from_env.stderr
    missing = str(tmp_path / "missing.toml")
    for args in (["--config", missing, "check-config"], ["check-config", "--config", missing]):
        overridden = run(*args, env=environment(**{CONFIG_ENV: str(config)}))
        assert f"invalid configuration in {missing}:" in overridden.stderr
    assert not DEFAULT_CONFIG_PATH.exists(), "this test host has a real bridge config"
    default = run("check-config")
    assert f"invalid configuration in {DEFAULT_CONFIG_PATH}:" in default.stderr


@pytest.mark.parametrize(
    "args", [["hash-password", "--config", "x.toml"], ["--config", "x.toml", "hash-password"]]
)
def test_hash_password_refuses_a_config_by_name(args: list[str]) -> None:
    """It reads none; saying so beats letting the admin think the hash depends on it."""
    result = run(*args, stdin="secret\n")
    assert (result.returncode, result.stdout) == (2, "")
    assert "hash-password reads no config file" in result.stderr


# --- the commands install.sh prints ------------------------------------------------------


def printed_commands() -> list[str]:
    """The ringotel-bridge command lines of install.sh's closing message, unexpanded."""
    message = INSTALL.read_text().rpartition("Next steps:")[2]
    return re.findall(r"^ +((?:\w+=\S+ )*\$NAME (?:check-config|descriptor)\b.*)$", message, re.M)


def command_of(line: str) -> str:
    return line.split("$NAME ")[1].split()[0]


def test_install_prints_a_check_and_a_descriptor_command() -> None:
    assert [command_of(line) for line in printed_commands()] == [
        "check-config",
        "descriptor",
    ]


@pytest.mark.parametrize(
    "line", printed_commands(), ids=lambda line: line.split("$NAME ")[1].split()[0]
)
def test_the_commands_install_prints_work(line: str, slapd: SlapdServer, tmp_path: Path) -> None:
    """Run as printed, by bash, with the variables install.sh expands; the secrets are
    where install.sh tells the admin to put them, not beside the config."""
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    raw = openldap_raw(slapd, credentials)
    raw["protection"] = {"max_failures": 2}  # below slapd's strict policy: --connect passes
    config = write_config(tmp_path / "bridge.toml", raw)
    # unquoted in the message, as install.sh's own values need no quoting
    variables = {
        "NAME": f"{sys.executable} -m bridge",
        "CONFIG": str(config),
        "CRED_DIR": str(credentials),
    }
    script = "".join(f"{k}={shlex.quote(v)}\n" for k, v in variables.items()) + line
    result = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{line}\n{result.stdout}{result.stderr}"
