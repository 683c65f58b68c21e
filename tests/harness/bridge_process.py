"""Run ``python -m bridge --config FILE serve`` as a real subprocess for tests.

Signals, drain, readiness and TLS reload only exist in a real process, so the tests
for them drive one: listeners on port 0 (the kernel picks free ports, no race), the
bound addresses read back from the ``listening`` log event, start-up finished when
``/healthz`` answers on the ops listener. stdout (JSON log lines) and stderr are
captured by reader threads and kept in a file beside the config for post-mortems.
The one-shot commands (``check-config``, ``test-login``, ...) run to their end with
:func:`run_command`; :func:`write_config` writes the TOML both read.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0


def toml_dumps(document: Mapping[str, Any]) -> str:
    """Enough TOML for a bridge config: tables, arrays of tables, scalars, arrays."""
    lines: list[str] = []
    _table(lines, [], document)
    return "\n".join(lines) + "\n"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _table(lines: list[str], path: list[str], table: Mapping[str, Any]) -> None:
    nested: list[tuple[str, Any]] = []
    for key, value in table.items():
        if isinstance(value, Mapping) or (
            isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value)
        ):
            nested.append((key, value))
        else:
            lines.append(f"{key} = {_value(value)}")
    for key, value in nested:
        if isinstance(value, Mapping):
            lines.append(f"\n[{'.'.join([*path, key])}]")
            _table(lines, [*path, key], value)
        else:
            for item in value:
                lines.append(f"\n[[{'.'.join([*path, key])}]]")
                _table(lines, [*path, key], item)


def write_config(path: Path, document: Mapping[str, Any]) -> Path:
    """Write atomically, as an admin's editor would: a reload never sees half a file."""
    partial = path.with_suffix(".partial")
    partial.write_text(toml_dumps(document))
    partial.chmod(0o600)
    partial.replace(path)
    return path


def run_command(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """One ``python -m bridge ...`` command to its end, output captured, exit code kept."""
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


class BridgeProcess:
    """One ``serve`` process; use as a context manager so it is always stopped."""

    def __init__(
        self,
        config: Path,
        env: Mapping[str, str] | None = None,
        preexec: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.preexec = preexec  # runs in the child before exec, e.g. to lower RLIMIT_NOFILE
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.log_path = config.with_name(config.stem + ".log")
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._readers: list[threading.Thread] = []
        self.process: subprocess.Popen[bytes] | None = None
        self.addresses: list[tuple[str, int]] = []
        self.ops_address: tuple[str, int] | None = None

    # -- life cycle -------------------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT, event: str = "listening") -> BridgeProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "--config", str(self.config), "serve"],
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=self.preexec,
        )
        for stream, tag in ((self.process.stdout, ""), (self.process.stderr, "stderr: ")):
            reader = threading.Thread(target=self._read, args=(stream, tag), daemon=True)
            reader.start()
            self._readers.append(reader)
        listening = self.wait_for_event(event, timeout=timeout)
        self.addresses = [_split(a) for a in listening["addresses"]]
        if listening.get("ops_address"):
            self.ops_address = _split(listening["ops_address"])
            self._wait_healthy(timeout)
        return self

    def _read(self, stream: Any, tag: str) -> None:
        with stream, self.log_path.open("a", encoding="utf-8") as copy:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                copy.write(tag + line + "\n")
                copy.flush()
                with self._lock:
                    self.lines.append(tag + line)

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(self.ops_url + "/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"/healthz did not answer within {timeout}s\n{self.tail()}")

    def _check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            for reader in self._readers:
                reader.join(2)
            raise RuntimeError(f"bridge exited with {self.process.returncode}\n{self.tail()}")

    def send_signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return code

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; SIGKILL only if it does not go, so a test never leaks it."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.wait(5)
            raise

    def __enter__(self) -> BridgeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()

    # -- addresses ------------------------------------------------------------------
    def url(self, scheme: str = "http") -> str:
        host, port = self.addresses[0]
        return f"{scheme}://{host}:{port}"

    @property
    def ops_url(self) -> str:
        assert self.ops_address is not None, "the config has no server.ops_listen"
        host, port = self.ops_address
        return f"http://{host}:{port}"

    # -- logs -----------------------------------------------------------------------
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            lines = list(self.lines)
        return [json.loads(line) for line in lines if line.startswith("{")]

    def tail(self, count: int = 40) -> str:
        with self._lock:
            return "\n".join(self.lines[-count:])

    def wait_for_event(
        self,
        name: str,
        *,
        after: int = 0,
        timeout: float = 15.0,
        where: Callable[[dict[str, Any]], bool] = lambda event: True,
    ) -> dict[str, Any]:
        """The first event called ``name`` among events[after:] that matches ``where``."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events()[after:]:
                if event.get("event") == name and where(event):
                    return event
            if self.process is not None and self.process.poll() is not None:
                for reader in self._readers:
                    reader.join(2)
                for event in self.events()[after:]:
                    if event.get("event") == name and where(event):
                        return event
                raise RuntimeError(f"bridge exited before {name!r}\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {name!r} event within {timeout}s\n{self.tail()}")
            time.sleep(0.02)


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)
