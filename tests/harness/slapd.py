"""A private OpenLDAP server for tests and benchmarks, modelled on python-ldap's slapdtest.

Each ``SlapdServer`` owns a directory with its own slapd.conf, mdb database and
log, listens on a free loopback port, and is seeded with the command-line tools
(slapadd for entries, ldapmodify for groups so the memberof overlay sees them),
never with ldap3, the library under test. Start-up waits for a real LDAP answer
within a bound and fails fast with the tail of slapd's log.

slapd runs in the foreground with ``-d stats`` so that the process we started is
the server (its PID is ours to signal) and every connection and operation is
logged to ``log_path``; ``count_ops`` turns that log into numbers for tests
that must prove a connection was reused or a search was cached. (slapd 2.5's
``logfile`` directive only copies ``-d`` output, and ``loglevel`` alone goes to
syslog, so stderr redirected to a file is the simplest reliable sink.)

Usage::

    with SlapdServer(tmp_path) as server:
        ldap3.Connection(server.url, SERVICE_DN, SERVICE_PASSWORD, auto_bind=True)
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from .loopback import free_port
from .openldap_people import (
    BASE_DN,
    DEFAULT_POLICY_DN,
    group_ldif,
    seed_ldif,
    ssha,
)

SLAPD = Path("/usr/sbin/slapd")
SLAPADD = Path("/usr/sbin/slapadd")
LDAPMODIFY = "ldapmodify"
LDAPSEARCH = "ldapsearch"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")

# An LDAPv3 anonymous simple bind (message id 1), BER-encoded: the cheapest
# request that proves slapd is serving, not merely that the port is bound.
_ANONYMOUS_BIND = bytes.fromhex("300c020101600702010304008000")
_BIND_RESPONSE_TAG = 0x61

_ACCEPT = re.compile(rb" conn=\d+ fd=\d+ ACCEPT from ")
_BIND = re.compile(rb" conn=\d+ op=\d+ BIND dn=\".*\" method=")
_SEARCH = re.compile(rb" conn=\d+ op=\d+ SRCH base=")

_CONFIG = """\
{includes}
modulepath {module_dir}
moduleload back_mdb
moduleload memberof
moduleload ppolicy

pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
loglevel stats

# The root DSE and the schema are public, as on any real server.
access to dn.base="" by * read
access to dn.base="cn=Subschema" by * read

database mdb
maxsize 1073741824
# No fsync: a killed slapd loses nothing (the page cache survives it), only a
# host crash would, and test data is rebuilt every run anyway.
dbnosync
suffix "{base_dn}"
rootdn "{admin_dn}"
rootpw {admin_hash}
directory {dir}/data
index objectClass eq
index uid,cn,mail,employeeNumber eq
index member,memberOf eq

access to attrs=userPassword
    by anonymous auth
    by * none
access to *
    by users read
    by * none

overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE
memberof-dangling ignore

overlay ppolicy
ppolicy_default "{default_policy}"
ppolicy_use_lockout
"""


# Servers started in this process, so an interrupted test run leaves no slapd behind.
_LIVE: set[SlapdServer] = set()


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop()


class SlapdError(RuntimeError):
    """slapd or one of the ldap tools failed; the message carries their output."""


@dataclass(frozen=True)
class OpCounts:
    """What slapd logged since the last ``reset_counts``: new connections and operations."""

    connections: int
    binds: int
    searches: int


def _answers_ldap(port: int, timeout: float) -> bool:
    """True once slapd answers a bind: a connect alone is not enough, because slapd
    opens its listener before its databases are ready (and may still fail)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(_ANONYMOUS_BIND)
            reply = sock.recv(64)
    except OSError:
        return False
    # SEQUENCE, length, INTEGER message id (3 bytes), then the BindResponse tag.
    return len(reply) > 5 and reply[5] == _BIND_RESPONSE_TAG


class SlapdServer:
    """One private slapd; see the module docstring. Not thread-safe."""

    base_dn = BASE_DN
    admin_dn = f"cn=admin,{BASE_DN}"

    def __init__(
        self,
        base_dir: Path,
        *,
        extra_users: int = 0,
        start_timeout: float = 10.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self.base_dir = Path(base_dir)
        self.extra_users = extra_users
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.admin_password = secrets.token_urlsafe(18)
        self.conf_path = self.base_dir / "slapd.conf"
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "slapd.log"
        self._password_file = self.base_dir / "admin.pw"
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._paused = False
        self._seeded = False
        self._log_offset = 0
        self.startup_seconds: float | None = None

    # ------------------------------------------------------------ properties

    @property
    def port(self) -> int:
        if self._port is None:
            raise SlapdError("slapd has not been started")
        return self._port

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if not self.running or self._process is None:
            raise SlapdError("slapd is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Configure, bulk-load, start and seed groups; a second call is a no-op."""
        if self.running:
            return
        began = time.monotonic()
        if not self._seeded:
            self._write_config()
            self._bulk_load()
            self._launch_on_free_port()
            self.ldapmodify(group_ldif(self.extra_users))
            self._seeded = True
        else:
            self._launch()
        self.startup_seconds = time.monotonic() - began
        self.reset_counts()

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL if slapd has not exited within stop_timeout."""
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

    def kill(self) -> None:
        """SIGKILL: a crash, for fault tests. The data survives (mdb is crash-safe)."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.kill()
        process.wait(self.stop_timeout)
        self._paused = False

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing answers, like a hung server.

        kill() returns before every thread has stopped; waiting for that makes
        "the next request gets no answer" a certainty rather than a race.
        """
        self._signal(signal.SIGSTOP)
        self._paused = True
        deadline = time.monotonic() + self.stop_timeout
        while not self._all_threads_stopped():
            if time.monotonic() > deadline:
                raise SlapdError("slapd did not stop after SIGSTOP")
            time.sleep(0.001)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)
        self._paused = False

    def restart(self) -> None:
        """Stop (if still running) and start again on the same port with the same data."""
        self.stop()
        self.start()

    def __enter__(self) -> SlapdServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------ log statistics

    def count_ops(self) -> OpCounts:
        """Count what slapd logged since reset_counts.

        slapd logs BIND and SRCH when it receives the request, before it answers,
        so once a client has its result the operation is already counted.
        """
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            text = log.read()
        return OpCounts(
            connections=len(_ACCEPT.findall(text)),
            binds=len(_BIND.findall(text)),
            searches=len(_SEARCH.findall(text)),
        )

    def reset_counts(self) -> None:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # ------------------------------------------------------------ admin changes

    def ldapmodify(self, ldif: str, *, add: bool = False, relax: bool = False) -> None:
        """Apply LDIF as the root DN with the ldapmodify tool (``add``: plain entries;
        ``relax``: the Relax Rules control, to change ppolicy's operational attributes)."""
        command = [LDAPMODIFY, "-x", "-H", self.url, "-D", self.admin_dn]
        command += ["-y", str(self._password_file)]
        if add:
            command.append("-a")
        if relax:
            command += ["-e", "relax"]
        result = subprocess.run(
            command, input=ldif.encode(), capture_output=True, timeout=60, check=False
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")
            raise SlapdError(f"ldapmodify exited {result.returncode}:\n{output}")

    def read_attr(self, dn: str, attribute: str) -> list[str]:
        """Values of one attribute (operational ones too), read as the root DN."""
        command = [LDAPSEARCH, "-x", "-LLL", "-o", "ldif-wrap=no", "-H", self.url]
        command += ["-D", self.admin_dn, "-y", str(self._password_file)]
        command += ["-b", dn, "-s", "base", "(objectClass=*)", attribute]
        result = subprocess.run(command, capture_output=True, timeout=60, check=False)
        if result.returncode != 0:
            raise SlapdError(result.stderr.decode(errors="replace"))
        prefix = f"{attribute.lower()}: "
        return [
            line[len(prefix) :]
            for line in result.stdout.decode().splitlines()
            if line.lower().startswith(prefix)
        ]

    def unlock(self, dn: str) -> None:
        """Undo a ppolicy lockout and forget past failures, as an administrator would."""
        for attribute in ("pwdAccountLockedTime", "pwdFailureTime"):
            try:
                change = f"dn: {dn}\nchangetype: modify\ndelete: {attribute}\n-\n"
                self.ldapmodify(change, relax=True)
            except SlapdError as exc:
                if "No such attribute" not in str(exc):  # absent: nothing to undo
                    raise

    # ------------------------------------------------------------ internals

    def _signal(self, signum: signal.Signals) -> None:
        os.kill(self.pid, signum)

    def _all_threads_stopped(self) -> bool:
        """Linux: every task of slapd in state T (stopped) per /proc."""
        for stat in Path(f"/proc/{self.pid}/task").glob("*/stat"):
            with contextlib.suppress(FileNotFoundError):  # a thread that just exited
                # "pid (comm) S ...": the state follows the last ')'.
                if stat.read_text().rpartition(")")[2].split()[0] != "T":
                    return False
        return True

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._password_file.write_text(self.admin_password)
        self._password_file.chmod(0o600)
        includes = "\n".join(f"include {SCHEMA_DIR}/{name}.schema" for name in SCHEMAS)
        self.conf_path.write_text(
            _CONFIG.format(
                includes=includes,
                module_dir=MODULE_DIR,
                dir=self.base_dir,
                base_dn=self.base_dn,
                admin_dn=self.admin_dn,
                admin_hash=ssha(self.admin_password),
                default_policy=DEFAULT_POLICY_DN,
            )
        )

    def _bulk_load(self) -> None:
        seed = self.base_dir / "seed.ldif"
        seed.write_text(seed_ldif(self.extra_users))
        result = subprocess.run(
            [str(SLAPADD), "-q", "-f", str(self.conf_path), "-l", str(seed)],
            capture_output=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")
            raise SlapdError(f"slapadd exited {result.returncode}:\n{output}")

    def _launch_on_free_port(self, attempts: int = 3) -> None:
        """Another process may grab the port between probe and bind: try a few."""
        for attempt in range(attempts):
            self._port = free_port()
            try:
                self._launch()
            except SlapdError:
                if attempt == attempts - 1 or "Address already in use" not in self.log_tail():
                    raise
            else:
                return

    def _launch(self) -> None:
        command = [str(SLAPD), "-f", str(self.conf_path), "-h", self.url, "-d", "stats"]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self._paused = False
        _LIVE.add(self)
        self._wait_until_serving()

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        process = self._process
        if process is None:
            raise SlapdError("slapd was not launched")
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SlapdError(
                    f"slapd exited with {process.returncode} during start-up; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            if _answers_ldap(self.port, timeout=0.5):
                return
            time.sleep(0.01)
        self.kill()
        raise SlapdError(
            f"slapd did not answer within {self.start_timeout}s; "
            f"log {self.log_path}:\n{self.log_tail()}"
        )
