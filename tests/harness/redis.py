"""A private redis-server for the test session, on a loopback port and a unix socket.

Like the slapd and Samba harnesses: its own directory, no persistence, a bounded
start-up wait that fails with the server's log, stopped by PID. ``pause`` and
``resume`` freeze it (SIGSTOP: connections still open, nothing answers), ``kill``
ends it like a crash, ``start`` brings it back on the same port.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.harness.loopback import free_port

REDIS_SERVER = "redis-server"
PASSWORD = "redis-password-for-tests-0123456789"


class RedisError(RuntimeError):
    """The server could not be started or stopped."""


class RedisServer:
    def __init__(self, directory: Path, host: str = "127.0.0.1") -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = free_port(host)
        self.socket_path = directory / "redis.sock"
        self.log_path = directory / "redis.log"
        self.password = PASSWORD
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def unix_url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def start(self, timeout: float = 10.0) -> None:
        argv = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", self.host,
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "no",
            "--maxmemory", "64mb",
            "--maxmemory-policy", "noeviction",
            "--requirepass", self.password,
            "--logfile", str(self.log_path),
            "--daemonize", "no",
        ]  # fmt: skip
        self._proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RedisError(f"redis-server exited {self._proc.returncode}:\n{self.log()}")
            if self._answers():
                return
            time.sleep(0.02)
        self.stop()
        raise RedisError(f"redis-server did not answer within {timeout}s:\n{self.log()}")

    def _answers(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection((self.host, self.port), timeout=0.2) as sock,
        ):
            sock.sendall(f"AUTH {self.password}\r\nPING\r\n".encode())
            return b"PONG" in sock.recv(64)
        return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self._proc is not None:
            os.kill(self.pid, signal.SIGCONT)
            self._proc.kill()
            self._proc.wait(5)
            self._proc = None

    def stop(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
            self._proc = None
