"""A private Samba Active Directory domain controller for the test session.

Modelled on python-ldap's ``slapdtest``: the DC lives entirely under one
directory (database, sockets, pid file, logs), listens on loopback only, is
seeded with the command-line tools (``ldapmodify``, ``samba-tool``) rather than
the library under test, and its start-up wait is bounded and fails fast with
the tail of Samba's log.

Samba cannot be told another port for LDAP, so it binds the standard 389 and
636: by default on 127.0.0.1 and ::1. Another instance can run at the same
time on another loopback address (``host="127.0.0.2"``; Linux routes all of
127/8 to ``lo``), e.g. a second DC for failover tests.

The services that run are ``ldap`` (simple binds, password checks, lockout and
``badPwdCount`` all live in the LDAP server), ``dns`` (the internal DNS server,
on `DNS_PORT` of the DC's address, with the SRV records every DC publishes),
``cldap`` (the netlogon ping on UDP 389, which tells a client its AD site) and
``rpc`` (what ``samba-tool dns`` talks to, to change records). The KDC, NBT and
replication services would only cost start-up time and ports. The DNS zone is
provisioned for 127.0.0.1 and ::1; a DC on another loopback address points
``dc1.example.test`` at its own address when it starts.

Provisioning costs about 9 s of pure CPU and seeding 1.5 s (17 s more with
``big_group``). Both results are relocatable: only ``etc/smb.conf`` names the
target directory, and this module writes that file itself. So with
``template_cache`` set, a run keeps a copy of what it built and the next run
copies it back in a fraction of a second. The keys cover Samba's version, the
provisioning arguments and the source of the seed, so any change to those
builds afresh; templates older than `TEMPLATE_MAX_AGE` are rebuilt because the
passwords in them age like real ones.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from ipaddress import ip_address
from pathlib import Path
from types import TracebackType
from typing import Protocol

from . import ad_people
from .tls import CA, LOOPBACK_NAMES, make_ca

DEFAULT_HOST = "127.0.0.1"
LDAP_PORT = 389
LDAPS_PORT = 636
#: The internal DNS server's port (``dns port``) on the DC's own loopback address.
DNS_PORT = 10053
#: The RPC endpoint mapper: ``samba-tool dns`` needs it.
RPC_PORT = 135
#: What a running DC answers on; a DC is up when all of these accept connections.
_PORTS = (LDAP_PORT, LDAPS_PORT, DNS_PORT, RPC_PORT)
#: The DC's host name in its own DNS zone: the SRV records' target.
DC_NAME = f"dc1.{ad_people.REALM}"
ADMIN_PASSWORD = "Harness-Admin-Pass-1!"
# Bump when a template would differ for a reason the keys do not see.
_TEMPLATE_FORMAT = "1"
#: Templates older than this are rebuilt: seeded passwords must not expire.
TEMPLATE_MAX_AGE = 7 * 24 * 3600.0
#: Seeded templates kept side by side (small, big_group, a second realm, one spare);
#: older are pruned.
_TEMPLATES_KEPT = 4
#: Per-run state that must not travel from one run to the next.
_PER_RUN = frozenset(
    {
        "run",
        "log",
        "tls",
        "msg.sock",
        "msg.lock",
        "names.tdb",
        ".provisioned",
        ".seeded",
        ".dns-host",
    }
)

_PROVISION_ARGS: tuple[str, ...] = (
    f"--realm={ad_people.REALM.upper()}",
    f"--domain={ad_people.NETBIOS_DOMAIN}",
    "--server-role=dc",
    "--dns-backend=SAMBA_INTERNAL",
    # the zone's A/AAAA for dc1; without these, provision takes the machine's own
    "--host-ip=127.0.0.1",
    "--host-ip6=::1",
    "--use-rfc2307",
    "--host-name=dc1",
    f"--adminpass={ADMIN_PASSWORD}",
)


class People(Protocol):
    """What a domain is provisioned and seeded from: `ad_people` (``EXAMPLE.TEST``), or
    another realm's module with the same names (a second domain). The realm, the
    NetBIOS name and the people come together, so they cannot disagree."""

    @property
    def REALM(self) -> str: ...  # named as the module constant

    @property
    def NETBIOS_DOMAIN(self) -> str: ...

    @property
    def BASE_DN(self) -> str: ...

    @property
    def PSO_CONTAINER(self) -> str: ...

    @property
    def SERVICE_ACCOUNT(self) -> ad_people.Person: ...

    @property
    def PASSWORD_EXPIRED(self) -> ad_people.Person | None: ...

    @property
    def LOCKED_OUT(self) -> ad_people.Person | None: ...

    @property
    def LOCKED_OUT_THRESHOLD(self) -> int: ...

    @property
    def EXPIRING(self) -> ad_people.Person | None: ...

    @property
    def EXPIRING_SET_DAYS_AGO(self) -> int: ...

    def seed_ldif(self, *, big_group: bool = False) -> str: ...


#: Loopback addresses this process has claimed, with the open lock file for each.
_HOST_LOCKS: dict[str, int] = {}


class SambaError(RuntimeError):
    """The DC could not be provisioned, started, seeded or stopped."""


def default_template_cache() -> Path:
    """Where provisioned templates are kept between test runs on one machine."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ringotel-bridge-tests" / "samba-templates"


def _run(
    argv: Sequence[str],
    *,
    input_text: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """Run a tool and raise with its output if it fails, so seeding errors say what broke."""
    proc = subprocess.run(
        list(argv),
        input=input_text,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        shown = " ".join(a if "pass" not in a.lower() else a.split("=")[0] + "=***" for a in argv)
        raise SambaError(
            f"{shown} exited {proc.returncode}\n"
            f"stdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}"
        )
    return proc


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


def free_loopback_host(candidates: int = 32) -> str:
    """Reserve the first of 127.0.0.1, 127.0.0.2, ... that no other test run holds.

    Samba's ports are fixed, so concurrent test runs on one machine (developers
    sharing it, a second DC for failover) each need an address of their own.
    Free ports alone are not enough: a DC that restarts frees them for a moment.
    So the address is also claimed with a lock file that this process holds
    until it exits; every run that picks its address here respects it.
    """
    lock_dir = Path(tempfile.gettempdir()) / "ringotel-samba-hosts"
    lock_dir.mkdir(exist_ok=True)
    for last in range(1, candidates + 1):
        host = f"127.0.0.{last}"
        if host not in _HOST_LOCKS and _claim(lock_dir / f"{host}.lock", host):
            return host
    raise SambaError(f"no free address among 127.0.0.1-{candidates}")


def _claim(lock_file: Path, host: str) -> bool:
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    if any(_port_open(host, port) for port in _PORTS):
        os.close(fd)  # also releases the lock
        return False
    _HOST_LOCKS[host] = fd
    return True


def live_group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in a process group: Samba's workers outlive a killed master."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            line = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses
        fields = line.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


class SambaDC:
    """One throwaway AD domain under *base_dir*: ``EXAMPLE.TEST`` seeded from
    `ad_people`, or the realm of another ``people`` module (a second domain).

    ``start()`` provisions and seeds on first use and only starts later
    (``restart()`` keeps the data). ``require_strong_auth=False`` allows simple
    binds on plain 389 (Samba's default refuses them like a hardened Windows
    DC). ``big_group=True`` adds `ad_people.BULK_GROUP_COUNT` one-member groups.
    ``host`` picks the loopback address; one DC per address.
    """

    admin_password = ADMIN_PASSWORD

    def __init__(
        self,
        base_dir: Path,
        *,
        require_strong_auth: bool = True,
        big_group: bool = False,
        template_cache: Path | None = None,
        start_timeout: float = 30.0,
        host: str = DEFAULT_HOST,
        people: People = ad_people,
    ) -> None:
        self.people = people
        self.realm = self.people.REALM
        self.base_dn = self.people.BASE_DN
        self.admin_bind = f"Administrator@{self.realm}"
        self.host = host
        self.ldap_url = f"ldap://{host}:{LDAP_PORT}"
        self.ldaps_url = f"ldaps://{host}:{LDAPS_PORT}"
        #: its DNS server, as ``[directory] nameservers`` takes it
        self.nameserver = f"{host}:{DNS_PORT}"
        self.directory = Path(base_dir).resolve() / "samba"
        self.require_strong_auth = require_strong_auth
        self.big_group = big_group
        self.template_cache = template_cache
        self.start_timeout = start_timeout
        self.conf_path = self.directory / "etc" / "smb.conf"
        self.log_path = self.directory / "log" / "log.samba"
        self.tls_dir = self.directory / "tls"
        self.ca: CA | None = None
        self.timings: dict[str, float] = {}
        self._proc: subprocess.Popen[bytes] | None = None

    # --- public surface -------------------------------------------------

    @property
    def ca_file(self) -> Path:
        """The CA certificate that LDAPS and StartTLS clients must trust."""
        return self.tls_dir / "ca.pem"

    @property
    def pid(self) -> int | None:
        """The samba master's pid (also in ``run/samba.pid``), None when not running."""
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        """Build the domain if this directory is new, then run until its ports answer."""
        if self._proc is not None:
            raise SambaError("already started")
        if not (self.directory / ".provisioned").exists():
            self._timed("provision", self._provision)
            self._timed("configure", self._configure)
        self._timed("start", self._spawn_and_wait)
        marker = self.directory / ".dns-host"
        if not marker.exists() or marker.read_text() != self.host:
            self._timed("dns", self._point_dns_at_host)
        if not (self.directory / ".seeded").exists():
            self._timed("seed", self._seed)
            if self.template_cache is not None:
                self._timed("save_template", self._save_seeded_template)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the whole process group, SIGKILL what is left after *timeout*."""
        proc = self._proc
        if proc is None:
            return
        self._signal_group(signal.SIGTERM)
        self._signal_group(signal.SIGCONT)  # a paused DC cannot act on SIGTERM
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            proc.wait(5)
        self._reap_group(proc.pid, timeout)
        self._forget()

    def kill(self) -> None:
        """Die like a crashed server: SIGKILL to every process, no clean-up by Samba."""
        proc = self._proc
        if proc is None:
            return
        self._signal_group(signal.SIGKILL)
        proc.wait(5)
        self._reap_group(proc.pid, 5.0)
        self._forget()

    def restart(self) -> None:
        self.stop()
        self.start()

    def set_require_strong_auth(self, required: bool) -> None:
        """Switch plain-389 simple binds off or on; a running DC restarts to apply it."""
        self.require_strong_auth = required
        if (self.directory / ".provisioned").exists():
            self.conf_path.write_text(self._smb_conf())
        if self._proc is not None:
            self.restart()

    def pause(self) -> None:
        """Freeze every Samba process: TCP connects still complete, nothing answers."""
        self._signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_group(signal.SIGCONT)

    def samba_tool(self, *args: str, faketime: str | None = None) -> str:
        """Run ``samba-tool ARGS -s CONF`` on the local database; returns stdout."""
        argv = ["samba-tool", *args, "-s", str(self.conf_path)]
        if faketime is not None:
            argv = ["faketime", "-f", faketime, *argv]
        return _run(argv).stdout

    def ldapmodify(self, ldif: str) -> None:
        """Apply *ldif* as Administrator over verified LDAPS (records may say changetype)."""
        _run(["ldapmodify", *self._admin_args()], input_text=ldif, env=self.tool_env())

    def read_attr(self, dn: str, attr: str) -> list[str]:
        """Values of one attribute, read as Administrator (operational ones too)."""
        query = ["-LLL", "-o", "ldif-wrap=no", "-b", dn, "-s", "base", "(objectClass=*)", attr]
        out = _run(["ldapsearch", *self._admin_args(), *query], env=self.tool_env()).stdout
        return list(_ldif_values(out, attr))

    def simple_bind_result(self, bind_name: str, password: str) -> subprocess.CompletedProcess[str]:
        """One simple bind over LDAPS with ldap-utils; never raises (a failure is data).

        ``ldapsearch`` of the root DSE rather than ``ldapwhoami``: Samba has no
        WhoAmI operation, so ldapwhoami fails even after a good bind.
        """
        bind = ["-x", "-H", self.ldaps_url, "-D", bind_name, "-w", password]
        query = ["-LLL", "-b", "", "-s", "base", "(objectClass=*)", "1.1"]
        return subprocess.run(
            ["ldapsearch", *bind, *query],
            capture_output=True,
            text=True,
            env=self.tool_env(),
            timeout=30,
            check=False,
        )

    def samba_tool_dns(self, action: str, *args: str) -> str:
        """``samba-tool dns ACTION THIS-DC ARGS`` as Administrator, over RPC to this DC
        (the password from a file, ``PASSWD_FILE``: never on a command line)."""
        argv = ["samba-tool", "dns", action, self.host, *args, "-U", "Administrator"]
        env = {**os.environ, "PASSWD_FILE": str(self._admin_pw_file())}
        return _run([*argv, "-s", str(self.conf_path)], env=env).stdout

    def dns_records(self, zone: str, name: str, kind: str) -> list[str]:
        """The values of one name's records of one type (``A``, ``AAAA``, ``SRV``)."""
        try:
            out = self.samba_tool_dns("query", zone, name, kind)
        except SambaError as exc:
            if "WERR_DNS_ERROR_NAME_DOES_NOT_EXIST" in str(exc):
                return []
            raise
        prefix = f"{kind}: "
        found = []
        for line in out.splitlines():
            line = line.strip()
            if line.startswith(prefix):
                found.append(line[len(prefix) :].split(" (flags=")[0])
        return found

    def unlock(self, user: str) -> None:
        """Clear lockoutTime and badPwdCount, as an administrator would."""
        self.samba_tool("user", "unlock", user)

    def tool_env(self) -> dict[str, str]:
        """Environment for ldap-utils: trust only the test CA and insist on verification."""
        return {**os.environ, "LDAPTLS_CACERT": str(self.ca_file), "LDAPTLS_REQCERT": "demand"}

    def log_tail(self, lines: int = 40) -> str:
        """The end of Samba's log and console output, for error messages."""
        parts = []
        for path in (self.log_path, self.directory / "log" / "samba.out"):
            with contextlib.suppress(OSError):
                parts.append(f"--- {path}\n" + "\n".join(path.read_text().splitlines()[-lines:]))
        return "\n".join(parts)

    def __enter__(self) -> SambaDC:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- provisioning ---------------------------------------------------

    def _timed(self, name: str, step: Callable[[], None]) -> None:
        """Keep each phase's wall time: CI time is the budget this harness spends."""
        begin = time.monotonic()
        step()
        self.timings[name] = round(time.monotonic() - begin, 3)

    def _template_keys(self) -> tuple[str, str]:
        """Keys of the provisioned and the seeded template.

        The first covers what `samba-tool domain provision` depends on; the
        second adds the seed's source, so editing the people or the seeding
        code can never reuse a stale directory.
        """
        version = _run(["samba", "--version"]).stdout.strip()
        provisioned = _digest(_TEMPLATE_FORMAT, version, *self._provision_args())
        people = Path(getattr(self.people, "__file__", ad_people.__file__)).read_text()
        sources = (people, Path(__file__).read_text())
        seeded = _digest(provisioned, str(self.big_group), *sources)
        return f"provisioned-{provisioned}", f"seeded-{seeded}"

    def _provision(self) -> None:
        """Restore the newest usable template, else run samba-tool (and keep the result)."""
        if self.directory.exists():
            shutil.rmtree(self.directory)
        if self.template_cache is not None:
            provisioned, seeded = self._template_keys()
            if _restore_template(self.template_cache / seeded, self.directory):
                (self.directory / ".seeded").touch()
                return
            if _restore_template(self.template_cache / provisioned, self.directory):
                return
        self._run_provision()
        if self.template_cache is not None:
            _save_template(self.directory, self.template_cache / provisioned)

    def _run_provision(self) -> None:
        self.directory.mkdir(parents=True)
        log = self.directory / "provision.log"
        argv = ["samba-tool", "domain", "provision", f"--targetdir={self.directory}"]
        with log.open("w") as out:
            proc = subprocess.run(
                [*argv, *self._provision_args()],
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=300,
                check=False,
            )
        if proc.returncode != 0:
            tail = "\n".join(log.read_text().splitlines()[-30:])
            raise SambaError(f"samba-tool domain provision exited {proc.returncode}\n{tail}")

    def _provision_args(self) -> tuple[str, ...]:
        """`_PROVISION_ARGS` with this DC's realm and NetBIOS name."""
        own = (f"--realm={self.realm.upper()}", f"--domain={self.people.NETBIOS_DOMAIN}")
        rest = [a for a in _PROVISION_ARGS if not a.startswith(("--realm=", "--domain="))]
        return (*own, *rest)

    def _save_seeded_template(self) -> None:
        """Snapshot the seeded database; Samba must be stopped so every file is consistent."""
        assert self.template_cache is not None
        self.stop()
        _save_template(self.directory, self.template_cache / self._template_keys()[1])
        self._spawn_and_wait()

    def _configure(self) -> None:
        for sub in ("run", "log", "cache", "state", "bind-dns"):
            (self.directory / sub).mkdir(exist_ok=True)
        self.ca = make_ca(self.tls_dir)
        names = LOOPBACK_NAMES if self.host == DEFAULT_HOST else (self.host, "localhost")
        # DC_NAME: what a client that found this DC by its SRV records checks
        self.ca.issue_server_cert(self.tls_dir, (*names, f"dc1.{self.realm}"))
        self.conf_path.write_text(self._smb_conf())
        (self.directory / ".provisioned").touch()

    def _smb_conf(self) -> str:
        d = self.directory
        settings = {
            "netbios name": "DC1",
            "realm": self.realm.upper(),
            "workgroup": self.people.NETBIOS_DOMAIN,
            "server role": "active directory domain controller",
            "server services": "ldap, dns, cldap, rpc",
            "dns port": DNS_PORT,
            "idmap_ldb:use rfc2307": "yes",
            # lo carries 127.0.0.1 and ::1; any other 127/8 address is on lo too.
            "interfaces": "lo" if self.host == DEFAULT_HOST else f"{self.host}/8",
            "bind interfaces only": "yes",
            "private dir": d / "private",
            "binddns dir": d / "bind-dns",
            "state directory": d / "state",
            "cache directory": d / "cache",
            "lock directory": d,
            "pid directory": d / "run",
            "ncalrpc dir": d / "run" / "ncalrpc",
            "winbindd socket directory": d / "run" / "winbindd",
            "ntp signd socket directory": d / "run" / "ntp_signd",
            "log file": self.log_path,
            "logging": "file",
            "max log size": "0",
            "tls enabled": "yes",
            "tls keyfile": self.tls_dir / "server-key.pem",
            "tls certfile": self.tls_dir / "server.pem",
            "tls cafile": self.ca_file,
            "ldap server require strong auth": "yes" if self.require_strong_auth else "no",
        }
        body = "".join(f"\t{key} = {value}\n" for key, value in settings.items())
        return f"# written by tests/harness/samba.py\n[global]\n{body}"

    # --- running --------------------------------------------------------

    def _spawn_and_wait(self) -> None:
        for port in _PORTS:
            if _port_open(self.host, port):
                raise SambaError(f"{self.host}:{port} is taken: another DC still running?")
        out = (self.directory / "log" / "samba.out").open("ab")
        # -F: no daemon, so the pid is ours to wait for (and reap); a new session
        # makes it the leader of a process group that holds every Samba process.
        # --log-basename: Samba opens its log before reading smb.conf, and would
        # otherwise create /var/log/samba/log.samba.
        log_dir = f"--log-basename={self.log_path.parent}"
        self._proc = subprocess.Popen(
            ["samba", "-s", str(self.conf_path), "-F", log_dir],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        atexit.register(self.kill)
        try:
            self._wait_for_ports()
        except BaseException:
            self.kill()
            raise

    def _wait_for_ports(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        while not all(_port_open(self.host, port) for port in _PORTS):
            if self._proc.poll() is not None:
                raise SambaError(f"samba exited {self._proc.returncode}\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise SambaError(
                    f"no answer on ports {_PORTS} in {self.start_timeout} s\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, sig)

    def _reap_group(self, pgid: int, timeout: float) -> None:
        """Wait until no worker of the group is left, SIGKILLing stragglers at the end."""
        deadline = time.monotonic() + timeout
        while (left := live_group_members(pgid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        if left:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            time.sleep(0.2)
            if still := live_group_members(pgid):
                raise SambaError(f"samba processes {still} survived SIGKILL")

    def _forget(self) -> None:
        atexit.unregister(self.kill)
        self._proc = None

    # --- seeding --------------------------------------------------------

    def _admin_args(self) -> list[str]:
        pw_file = str(self._admin_pw_file())
        return ["-x", "-H", self.ldaps_url, "-D", self.admin_bind, "-y", pw_file]

    def _point_dns_at_host(self) -> None:
        """``dc1.example.test`` must name the address this DC listens on: the zone was
        provisioned for 127.0.0.1 and ::1 (a DC elsewhere in 127/8 has no IPv6)."""
        zone = self.realm
        wanted = {"A": self.host, "AAAA": "::1" if self.host == DEFAULT_HOST else None}
        for kind, address in wanted.items():
            present = False
            for value in self.dns_records(zone, "dc1", kind):
                if address is not None and ip_address(value) == ip_address(address):
                    present = True
                else:
                    self.samba_tool_dns("delete", zone, "dc1", kind, value)
            if address is not None and not present:
                self.samba_tool_dns("add", zone, "dc1", kind, address)
        (self.directory / ".dns-host").write_text(self.host)

    def _admin_pw_file(self) -> Path:
        """ldap-utils read the password from a file (-y): it never shows up in ps."""
        path = self.directory / "admin-password"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(self.admin_password)
        return path

    def _seed(self) -> None:
        people = self.people
        self.ldapmodify(people.seed_ldif(big_group=self.big_group))
        self._grant_pso_read(people.SERVICE_ACCOUNT)
        if people.PASSWORD_EXPIRED is not None:
            self._expire_password(people.PASSWORD_EXPIRED)
        if people.EXPIRING is not None:
            self._expire_password(people.EXPIRING, f"-{people.EXPIRING_SET_DAYS_AGO}d")
        if people.LOCKED_OUT is not None:
            self._lock_out(people.LOCKED_OUT, people.LOCKED_OUT_THRESHOLD)
        (self.directory / ".seeded").touch()

    def _grant_pso_read(self, account: ad_people.Person) -> None:
        """Let the bridge's service account read fine-grained password policies, as the
        README tells administrators to: AD's default ACL shows PSOs to admins only."""
        shown = self.samba_tool("user", "show", account.sam, "--attributes=objectSid")
        sid = next(
            line.split(":", 1)[1].strip() for line in shown.splitlines() if "objectSid" in line
        )
        self.samba_tool(
            "dsacl",
            "set",
            f"--objectdn={self.people.PSO_CONTAINER}",
            f"--sddl=(A;CI;RPLCLORC;;;{sid})",
        )

    def _expire_password(self, person: ad_people.Person, ago: str = "-3d") -> None:
        """Set the password 3 days in the past; its 2-day PSO then has it expired (or
        ``ago`` for one that expires later: ``expiring``'s 10-day PSO).

        pwdLastSet cannot be written with a date over LDAP, and an age under
        one day counts as "never expires", so the clock of samba-tool (which
        writes the local database itself) is moved instead.
        """
        new_password = f"--newpassword={person.password}"
        self.samba_tool("user", "setpassword", person.sam, new_password, faketime=ago)

    def _lock_out(self, person: ad_people.Person, threshold: int) -> None:
        """Lock the account the way it happens in real life: wrong passwords."""
        for attempt in range(threshold):
            result = self.simple_bind_result(person.bind_names[0], f"wrong-{attempt}")
            if "data 52e" not in result.stderr and "data 775" not in result.stderr:
                raise SambaError(f"bad bind {attempt} for {person.sam}: {result.stderr}")
        if self.read_attr(person.dn, "lockoutTime") in ([], ["0"]):
            raise SambaError(f"{person.sam} not locked after {threshold} bad passwords")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _restore_template(template: Path, directory: Path) -> bool:
    """Copy *template* to *directory* if it exists and is young enough to trust.

    Passwords in it age like real ones (the domain's 42-day maximum applies to
    Administrator too), so an old template is rebuilt rather than reused.
    """
    try:
        age = time.time() - template.stat().st_mtime
    except FileNotFoundError:
        return False
    if age > TEMPLATE_MAX_AGE:
        shutil.rmtree(template, ignore_errors=True)
        return False
    shutil.copytree(template, directory, symlinks=True)
    return True


def _not_in_templates(folder: str, names: list[str]) -> set[str]:
    """Per-run files, and sockets (ldapi, messaging) that cannot be copied anyway."""
    return {n for n in names if n in _PER_RUN or stat.S_ISSOCK(os.lstat(Path(folder, n)).st_mode)}


def _save_template(directory: Path, template: Path) -> None:
    """Copy the database aside; the final rename makes a half-written template impossible."""
    template.parent.mkdir(parents=True, exist_ok=True)
    scratch = template.parent / f".{template.name}.{os.getpid()}"
    try:
        shutil.copytree(directory, scratch, symlinks=True, ignore=_not_in_templates)
        shutil.rmtree(template, ignore_errors=True)
        scratch.rename(template)
        os.utime(template)  # its age is counted from now (copytree kept the old times)
    finally:  # after a failed copy, or when a concurrent run saved it first
        shutil.rmtree(scratch, ignore_errors=True)
    _prune_templates(template)


def _prune_templates(keep: Path) -> None:
    """Each edit of the seed makes a new 35 MB template; keep only the newest few."""
    kind = keep.name.split("-", 1)[0]
    siblings = sorted(
        (p for p in keep.parent.glob(f"{kind}-*") if p != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in siblings[_TEMPLATES_KEPT - 1 :]:
        shutil.rmtree(old, ignore_errors=True)


def _ldif_values(ldif: str, attr: str) -> Iterator[str]:
    """Values of *attr* in unwrapped ldapsearch output, decoding base64 ones."""
    for line in ldif.splitlines():
        name, sep, rest = line.partition(":")
        if not sep or name.lower() != attr.lower():
            continue
        if rest.startswith(":"):
            yield base64.b64decode(rest[1:].strip()).decode("utf-8", "replace")
        else:
            yield rest.strip()
