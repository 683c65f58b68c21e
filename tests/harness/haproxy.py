"""HAProxy in front of bridges for a test: the shipped example config, pointed at them.

The test runs ``deploy/haproxy/haproxy.cfg`` itself (so the example is known to work),
with only the addresses and the certificate replaced: the TLS frontend on a free
loopback port with a certificate of the test CA, and one server line per bridge with
its ops port for the ``/readyz`` check.
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import time
from pathlib import Path

from tests.harness.loopback import free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "deploy" / "haproxy" / "haproxy.cfg"


def render(pem: Path, port: int, bridges: list[tuple[str, int, int]]) -> str:
    """The example with our certificate, port and bridges (host, port, ops port)."""
    text = EXAMPLE.read_text()
    text = re.sub(r"bind :443 ssl crt \S+", f"bind 127.0.0.1:{port} ssl crt {pem}", text)
    servers = "".join(
        f"    server bridge{i} {host}:{main} port {ops}\n"
        for i, (host, main, ops) in enumerate(bridges, start=1)
    )
    text = re.sub(r"(    server bridge\d \S+ port \d+\n)+", servers, text, count=1)
    # checks every 200 ms so a killed bridge is marked down within the test's time
    return text.replace("check inter 2s fall 2 rise 2", "check inter 200ms fall 2 rise 2", 1)


class HAProxy:
    def __init__(self, directory: Path, pem: Path, bridges: list[tuple[str, int, int]]) -> None:
        self.port = free_port()
        self.config = directory / "haproxy.cfg"
        self.config.write_text(render(pem, self.port, bridges))
        self.log_path = directory / "haproxy.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def check(self) -> str:
        result = subprocess.run(
            ["haproxy", "-c", "-f", str(self.config)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(result.stdout + result.stderr)
        return result.stdout

    def start(self, timeout: float = 10.0) -> None:
        self.check()
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                ["haproxy", "-db", "-f", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"haproxy exited:\n{self.log_path.read_text()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"haproxy did not listen:\n{self.log_path.read_text()}")

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
            self._proc = None
