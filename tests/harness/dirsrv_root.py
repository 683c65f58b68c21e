"""The file tree of the private 389-ds instance, and the template cache that saves the
next run from ``dscreate``.

``dscreate`` and the other lib389 tools read every path, and whether to use systemd,
from ``$PREFIX/share/dirsrv/inf/defaults.inf`` when ``$PREFIX`` is set (the mechanism
behind ``dscreate ds-root``). :func:`lay_out` builds such a root: the package's
defaults, schema and templates copied in (1.3 MB), every system path moved under the
root, systemd off, and the listen host set to 127.0.0.1 in the template of
``dse.ldif``, so even the server dscreate starts during set-up is on loopback only.

A built and seeded instance is relocatable once stopped cleanly: only ``dse.ldif``,
the NSS ``pkcs11.txt`` and ``defaults.inf`` name the root (and ``dse.ldif`` the ports),
and Berkeley DB's environment files are rebuilt at start-up. So, like the Samba
harness, a run keeps a copy and the next one copies it back and rewrites those names:
under a second instead of about 12 s. The key covers the 389-ds version and the
harness's sources; a template that does not start is dropped and built afresh.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from .dirsrv_people import BASE_DN

PACKAGE_FILES = (Path("/usr/share/dirsrv"), Path("/etc/dirsrv/config"), Path("/etc/dirsrv/schema"))
#: Bump when a template would differ for a reason the key does not see.
_FORMAT = "1"
#: Seeded templates older than this are rebuilt (nothing in them ages fast: expiry
#: times and the locked account are set again on every start).
TEMPLATE_MAX_AGE = 30 * 24 * 3600.0
_TEMPLATES_KEPT = 2
#: Files that name the root, relative to it.
_NAMING_FILES = (
    "etc/dirsrv/slapd-{instance}/dse.ldif",
    "etc/dirsrv/slapd-{instance}/pkcs11.txt",
    "share/dirsrv/inf/defaults.inf",
)
#: Per-run files: logs, the pid, DB environment regions, dse.ldif's backups.
_PER_RUN = re.compile(
    r"^(__db\.\d+|.*\.pid|dse\.ldif\.(bak|startOK|tmp)|access|errors|audit|security)$"
)


def default_template_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ringotel-bridge-tests" / "dirsrv-templates"


def lay_out(root: Path) -> None:
    """The package's files under ``root``, and a defaults.inf that points inside it."""
    if root.exists():
        shutil.rmtree(root)
    for source in PACKAGE_FILES:
        relative = source.relative_to("/usr" if source.is_relative_to("/usr") else "/")
        shutil.copytree(source, root / relative)
    (root / "tmp").mkdir()
    inf = root / "share" / "dirsrv" / "inf" / "defaults.inf"
    inf.write_text(relocated_defaults(inf.read_text(), root))
    template = root / "share" / "dirsrv" / "data" / "template-dse.ldif"
    text = template.read_text()
    anchor = "nsslapd-port: %ds_port%\n"
    if anchor not in text:
        raise RuntimeError(f"{template}: no '{anchor.strip()}' to put the listen host beside")
    template.write_text(text.replace(anchor, anchor + "nsslapd-listenhost: 127.0.0.1\n", 1))


def instance_inf(instance: str, port: int, secure_port: int, password: str) -> str:
    """dscreate's answers: loopback name, no TLS set-up, not started at the end (the
    harness starts ns-slapd itself), the suffix with its root entry."""
    return (
        "[general]\nfull_machine_name = localhost\nstrict_host_checking = False\n"
        "selinux = False\nstart = False\n"
        f"[slapd]\ninstance_name = {instance}\nport = {port}\nsecure_port = {secure_port}\n"
        f"self_sign_cert = False\nroot_password = {password}\n"
        f"[backend-userroot]\nsuffix = {BASE_DN}\ncreate_suffix_entry = True\n"
    )


def relocated_defaults(text: str, root: Path) -> str:
    """The package's defaults.inf with every system path under ``root`` and systemd off:
    what ``dscreate ds-root`` writes, but keeping Debian's library and binary paths and
    the user root (the tests' temporary directories are private to root)."""
    keep = {"bin_dir", "sbin_dir", "lib_dir", "plugin_dir"}
    fixed = {
        "with_systemd": "0",
        "with_selinux": "no",
        "user": "root",
        "group": "root",
        "prefix": str(root),
        "data_dir": f"{root}/share",
        "system_schema_dir": f"{root}/share/dirsrv/schema",
        "inst_dir": f"{root}/lib/dirsrv/slapd-{{instance_name}}",
    }
    lines = []
    for line in text.splitlines(keepends=True):
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or line.lstrip().startswith((";", "#")) or key in keep:
            lines.append(line)
        elif key in fixed:
            lines.append(f"{key} = {fixed[key]}\n")
        elif value.strip().startswith("/"):
            lines.append(f"{key} = {root}{value.strip()}\n")
        else:
            lines.append(line)
    return "".join(lines)


class TemplateCache:
    """Seeded instances kept between runs, keyed by what they were built from."""

    def __init__(self, directory: Path, instance: str, sources: tuple[Path, ...]) -> None:
        self.directory = directory
        self.instance = instance
        self.sources = sources

    def key(self) -> str:
        version = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "389-ds-base"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        parts = [_FORMAT, version, *(path.read_text() for path in self.sources)]
        return "seeded-" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]

    def restore(self, base_dir: Path, port: int, secure_port: int) -> bool:
        """Copy the template into ``base_dir`` with its names and ports rewritten."""
        template = self.directory / self.key()
        try:
            age = time.time() - template.stat().st_mtime
        except FileNotFoundError:
            return False
        if age > TEMPLATE_MAX_AGE:
            shutil.rmtree(template, ignore_errors=True)
            return False
        old_root = (template / "root-path").read_text()
        root = base_dir / "root"
        shutil.copytree(template / "root", root, symlinks=True)
        shutil.copy2(template / "admin.pw", base_dir / "admin.pw")
        for name in _NAMING_FILES:
            path = root / name.format(instance=self.instance)
            text = path.read_text()
            if path.name == "dse.ldif":
                text = _unfolded(text)
                text = re.sub(r"(?m)^nsslapd-port: \d+$", f"nsslapd-port: {port}", text)
                secure = f"nsslapd-secureport: {secure_port}"
                text = re.sub(r"(?m)^nsslapd-secureport: \d+$", secure, text)
            path.write_text(text.replace(old_root, str(root)))
        return True

    def save(self, base_dir: Path) -> None:
        """Copy a stopped instance aside; the final rename makes a half-written one impossible."""
        self.directory.mkdir(parents=True, exist_ok=True)
        template = self.directory / self.key()
        scratch = self.directory / f".{template.name}.{os.getpid()}"
        try:
            shutil.copytree(base_dir / "root", scratch / "root", symlinks=True, ignore=_per_run)
            shutil.copy2(base_dir / "admin.pw", scratch / "admin.pw")
            (scratch / "root-path").write_text(str(base_dir / "root"))
            shutil.rmtree(template, ignore_errors=True)
            scratch.rename(template)
            os.utime(template)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        self._prune(template)

    def discard(self) -> None:
        shutil.rmtree(self.directory / self.key(), ignore_errors=True)

    def _prune(self, keep: Path) -> None:
        siblings = sorted(
            (p for p in self.directory.glob("seeded-*") if p != keep),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for old in siblings[_TEMPLATES_KEPT - 1 :]:
            shutil.rmtree(old, ignore_errors=True)


def _unfolded(ldif: str) -> str:
    """389 folds dse.ldif at 78 columns, through the paths too; it reads long lines fine."""
    return ldif.replace("\n ", "")


def _per_run(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if _PER_RUN.match(n) or Path(folder, n).is_socket()}
