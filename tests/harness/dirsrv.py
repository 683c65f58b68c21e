"""A private 389 Directory Server (FreeIPA's directory) for the test session.

Modelled on python-ldap's ``slapdtest`` like ``slapd.py``: the instance lives entirely
under one directory, listens on a free loopback port only, is configured and seeded
with the command-line tools (``dscreate``, ``dsconf``, ``ldapmodify``) rather than the
library under test, and its start-up wait is bounded and fails fast with the tail of
the server's error log.

``dscreate`` writes under /etc, /var and /run and starts the server through
``systemctl`` (``systemd = False`` in the INF file is ignored, upstream #6099). Both
have one way out that 389-ds itself uses for ``dscreate ds-root`` (instances of a
non-root user): ``$PREFIX``. lib389 then reads ``$PREFIX/share/dirsrv/inf/defaults.inf``
for every path and for ``with_systemd``, so this harness lays out such a root under
its directory (a copy of the package's defaults, schema and templates, 1.3 MB) with
every path inside it and systemd off, and dscreate starts and stops ``ns-slapd``
itself (``dirsrv_root``). Nothing is left under /etc; ``stop()`` ends the server by
its PID: it runs in the foreground (``-d 0``), so the process we started is the server.

Building takes about 12 s (dscreate 6, configuring, the restart the memberOf plug-in
needs, seeding); a template cache makes later runs copy it instead. What is relative
to now (expiry times, the locked account) is set on every start (``refresh``).

Usage::

    with DirsrvServer(tmp_path) as server:
        ldap3.Connection(server.url, people.SERVICE_DN, people.SERVICE_PASSWORD)
"""

from __future__ import annotations

import atexit
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from . import dirsrv_people as people
from .dirsrv_root import TemplateCache, instance_inf, lay_out
from .loopback import free_port

INSTANCE = "bridge"
NS_SLAPD = Path("/usr/sbin/ns-slapd")
#: The root DSE answers an anonymous bind: the cheapest proof the server is serving.
_ANONYMOUS_BIND = bytes.fromhex("300c020101600702010304008000")
_BIND_RESPONSE_TAG = 0x61

#: What a seeded template is built from: any change to these builds a new one.
_SOURCES = tuple(
    Path(__file__).with_name(name)
    for name in ("dirsrv.py", "dirsrv_root.py", "dirsrv_people.py", "openldap_people.py")
)
T = TypeVar("T")

# Servers started in this process, so an interrupted test run leaves no ns-slapd behind.
_LIVE: set[DirsrvServer] = set()


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop()


class DirsrvError(RuntimeError):
    """ns-slapd or one of the 389-ds tools failed; the message carries their output."""


def _answers_ldap(port: int, timeout: float) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(_ANONYMOUS_BIND)
            reply = sock.recv(64)
    except OSError:
        return False
    # 389 writes 4-byte lengths (30 84 00 00 00 0c 02 01 01 61 ...): look past them.
    return len(reply) > 5 and reply[0] == 0x30 and _BIND_RESPONSE_TAG in reply[2:12]


class DirsrvServer:
    """One private 389-ds instance; see the module docstring. Not thread-safe."""

    base_dn = people.BASE_DN
    admin_dn = "cn=Directory Manager"

    def __init__(
        self,
        base_dir: Path,
        *,
        template_cache: Path | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.templates = (
            TemplateCache(template_cache, INSTANCE, _SOURCES) if template_cache else None
        )
        self.root = self.base_dir / "root"
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.admin_password = secrets.token_urlsafe(18)
        self.config_dir = self.root / "etc" / "dirsrv" / f"slapd-{INSTANCE}"
        self.pid_file = self.root / "run" / "dirsrv" / f"slapd-{INSTANCE}.pid"
        self.log_dir = self.root / "var" / "log" / "dirsrv" / f"slapd-{INSTANCE}"
        self._password_file = self.base_dir / "admin.pw"
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._paused = False
        self._created = False
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------ properties

    @property
    def port(self) -> int:
        if self._port is None:
            raise DirsrvError("389-ds has not been started")
        return self._port

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if not self.running or self._process is None:
            raise DirsrvError("389-ds is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Create, configure and seed on first use; later calls only start it again."""
        if self.running:
            return
        if self._created:
            self._timed("start", self._launch)
            return
        if not self._timed("restore", self._restore):
            self._timed("create", self._create_on_free_port)
            self._timed("start", self._launch)
            self._timed("configure", self._configure)
            self._timed("restart", self.restart)  # the memberOf plug-in starts with the server
            self._timed("seed", self._seed)
            if self.templates is not None:
                self._timed("save_template", self._save_template)
        self._timed("refresh", self.refresh)
        self._created = True

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL if ns-slapd has not exited within stop_timeout."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        if self._paused:
            self.resume()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(self.stop_timeout)
        _LIVE.discard(self)

    def kill(self) -> None:
        """SIGKILL: a crash, for fault tests."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(self.stop_timeout)
        self._paused = False
        _LIVE.discard(self)

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing answers, like a hung server."""
        os.kill(self.pid, signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self._paused = False

    def restart(self) -> None:
        """Stop (if running) and start again on the same port with the same data."""
        self.stop()
        self._launch()

    def __enter__(self) -> DirsrvServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for path in (self.log_dir / "errors", self.base_dir / "ns-slapd.out"):
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path}\n" + "\n".join(tail))
        return "\n".join(parts) or "(no log)"

    # ------------------------------------------------------------ admin changes

    def ldapmodify(self, ldif: str) -> None:
        """Apply LDIF change records as the Directory Manager with ldapmodify."""
        self._run(["ldapmodify", *self._admin_args()], ldif)

    def dsconf(self, *args: str) -> str:
        """``dsconf URL ARGS`` as the Directory Manager; returns its output."""
        command = ["dsconf", "-D", self.admin_dn, "-y", str(self._password_file), self.url]
        return self._run([*command, *args]).stdout.decode(errors="replace")

    def read_attr(self, dn: str, attribute: str) -> list[str]:
        """Values of one attribute (operational ones too), read as the Directory Manager."""
        query = ["-LLL", "-o", "ldif-wrap=no", "-b", dn, "-s", "base", "(objectClass=*)"]
        output = self._run(["ldapsearch", *self._admin_args(), *query, attribute]).stdout
        prefix = f"{attribute.lower()}: "
        return [
            line[len(prefix) :]
            for line in output.decode().splitlines()
            if line.lower().startswith(prefix)
        ]

    def bind_result(self, dn: str, password: str) -> subprocess.CompletedProcess[bytes]:
        """One simple bind with ldapwhoami, as a user's own client would; never raises."""
        command = ["ldapwhoami", "-x", "-H", self.url, "-D", dn, "-w", password]
        return subprocess.run(command, capture_output=True, timeout=30, check=False)

    def unlock(self, dn: str) -> None:
        """Forget failed binds and any lockout, as an administrator would."""
        self.ldapmodify(
            f"dn: {dn}\nchangetype: modify\nreplace: passwordRetryCount\npasswordRetryCount: 0\n"
            "-\nreplace: accountUnlockTime\n-\nreplace: retryCountResetTime\n-\n\n"
        )

    def lock_out(self, person: people.Person, failures: int) -> None:
        """Lock the account the way it happens in real life: wrong passwords."""
        for attempt in range(failures):
            self.bind_result(person.dn, f"wrong-{attempt}")
        if not self.read_attr(person.dn, "accountUnlockTime"):
            raise DirsrvError(f"{person.login} not locked after {failures} bad passwords")

    def refresh(self) -> None:
        """The state that is relative to now: password expiry times, the locked user."""
        self.ldapmodify(people.expiry_ldif(time.time()))
        locked = people.PEOPLE["locked"]
        self.unlock(locked.dn)
        self.lock_out(locked, people.GLOBAL_MAX_FAILURES)

    # ------------------------------------------------------------ internals

    def _timed(self, name: str, step: Callable[[], T]) -> T:
        """Keep each phase's wall time: CI time is the budget this harness spends."""
        began = time.monotonic()
        result = step()
        self.timings[name] = round(time.monotonic() - began, 3)
        return result

    def _restore(self) -> bool:
        """The seeded template of an earlier run, on new ports; False: build afresh."""
        if self.templates is None:
            return False
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._port = free_port()
        try:
            if not self.templates.restore(self.base_dir, self._port, free_port()):
                return False
        except OSError:  # pruned by a concurrent run while copying: build afresh
            return False
        self.admin_password = self._password_file.read_text()
        try:
            self._launch()
        except DirsrvError:  # a template that does not start is not worth keeping
            self.kill()
            self.templates.discard()
            return False
        return True

    def _save_template(self) -> None:
        """Snapshot the seeded instance; it must be stopped so every file is consistent."""
        assert self.templates is not None
        self.stop()
        self.templates.save(self.base_dir)
        self._launch()

    def _admin_args(self) -> list[str]:
        return ["-x", "-H", self.url, "-D", self.admin_dn, "-y", str(self._password_file)]

    def _run(
        self, command: list[str], stdin: str | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        data = stdin.encode() if stdin is not None else None
        env = {**os.environ, "PREFIX": str(self.root), "INSTALL_PREFIX": str(self.root)}
        result = subprocess.run(
            command, input=data, capture_output=True, timeout=180, check=False, env=env
        )
        if result.returncode != 0:
            shown = " ".join(command[:3])
            output = (result.stdout + result.stderr).decode(errors="replace")[-3000:]
            raise DirsrvError(f"{shown} ... exited {result.returncode}:\n{output}")
        return result

    def _create_on_free_port(self, attempts: int = 3) -> None:
        """dscreate starts the server during set-up: another process may grab the port."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._password_file.write_text(self.admin_password)
        self._password_file.chmod(0o600)
        for attempt in range(attempts):
            lay_out(self.root)
            self._port = free_port()
            try:
                self._create()
            except DirsrvError:
                if attempt == attempts - 1:
                    raise
            else:
                return

    def _create(self) -> None:
        inf = self.base_dir / "instance.inf"
        inf.write_text(instance_inf(INSTANCE, self.port, free_port(), self.admin_password))
        inf.chmod(0o600)
        try:
            self._run(["dscreate", "from-file", str(inf)])
        finally:
            inf.unlink()

    def _configure(self) -> None:
        self.dsconf("plugin", "memberof", "enable")
        self.dsconf("pwpolicy", "set", *people.GLOBAL_POLICY)
        # Unbuffered access log: a test reads what the server did right after it did it.
        self.dsconf("config", "replace", "nsslapd-accesslog-logbuffering=off")

    def _seed(self) -> None:
        self.ldapmodify(people.seed_ldif())
        for person in people.PEOPLE.values():
            if person.policy_max_failures is not None:
                self.dsconf("localpwp", "adduser", person.dn, *people.local_policy(person))
        self._must_change(people.PEOPLE["mustchange"])

    def _must_change(self, person: people.Person) -> None:
        """A per-user policy that makes a reset password one to change, then the reset."""
        self.dsconf("localpwp", "adduser", person.dn, "--pwdmustchange", "on")
        self.ldapmodify(
            f"dn: {person.dn}\nchangetype: modify\nreplace: userPassword\n"
            f"userPassword: {person.password}\n-\n\n"
        )

    def _launch(self) -> None:
        command = [str(NS_SLAPD), "-D", str(self.config_dir), "-i", str(self.pid_file), "-d", "0"]
        with (self.base_dir / "ns-slapd.out").open("ab") as out:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        self._paused = False
        _LIVE.add(self)
        self._wait_until_serving()

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        process = self._process
        if process is None:
            raise DirsrvError("ns-slapd was not launched")
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise DirsrvError(
                    f"ns-slapd exited with {process.returncode} during start-up:\n"
                    + self.log_tail()
                )
            if _answers_ldap(self.port, timeout=0.5):
                return
            time.sleep(0.02)
        self.kill()
        raise DirsrvError(
            f"ns-slapd did not answer within {self.start_timeout}s:\n{self.log_tail()}"
        )
