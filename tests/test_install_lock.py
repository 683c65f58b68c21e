"""deploy/install.sh installs only what the hashed lock names, and builds unprivileged.

The real script runs with real pip into a staging ROOT, offline: the checkout copy's
project, dependency and build backend are small stand-ins whose wheels this test
makes, and pip's only source is their folder (``PIP_NO_INDEX``), so the run needs no
network and still goes through every pip step install.sh takes. The committed lock
files themselves are checked against pyproject.toml.
"""

from __future__ import annotations

import getpass
import hashlib
import inspect
import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "deploy" / "requirements.lock"
BUILD_LOCK = REPO / "deploy" / "build-requirements.lock"
#: The build runs as the service account, which must be able to run the interpreter:
#: the Debian one (python3-venv, see scripts/bootstrap), not a virtualenv under /root.
SYSTEM_PYTHON = Path("/usr/bin/python3")
SERVICE_USER = "ringotel-bridge"

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def write_wheel(
    directory: str, name: str, version: str, files: Mapping[str, str], requires: tuple[str, ...]
) -> str:
    """A minimal valid py3-none-any wheel (used by the test and by the stand-in backend)."""
    import base64 as b64
    import hashlib as hl
    import zipfile as zf

    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    contents = {
        **files,
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in contents.items():
        data = text.encode()
        digest = b64.urlsafe_b64encode(hl.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    filename = f"{dist}-{version}-py3-none-any.whl"
    with zf.ZipFile(f"{directory}/{filename}", "w") as archive:
        for path, text in contents.items():
            archive.writestr(path, text)
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return filename


#: The stand-in build backend: needs the build lock's package, records who built it.
#: It lives in bridge/ because install.sh copies only pyproject.toml, README.md and
#: bridge/ into the build's scratch folder.
BACKEND = f"""
from __future__ import annotations

import os
from collections.abc import Mapping

import standin_build_helper  # installed from the build lock, or this import fails

{inspect.getsource(write_wheel)}

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open("bridge/__init__.py") as source:
        init = source.read() + f"BUILT_BY_UID = {{os.getuid()}}\\n"
    files = {{"bridge/__init__.py": init}}
    requires = tuple(open("bridge/requires.txt").read().split())
    return write_wheel(wheel_directory, "ringotel-ldap-bridge", "0.1.0", files, requires)
"""
PYPROJECT = """\
[build-system]
requires = ["standin-build-helper"]
build-backend = "standin_backend"
backend-path = ["bridge"]

[project]
name = "ringotel-ldap-bridge"
version = "0.1.0"
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def lock_line(wheel: Path, name: str, version: str, digest: str | None = None) -> str:
    return f"{name}=={version} \\\n    --hash=sha256:{digest or sha256(wheel)}\n"


@pytest.fixture
def shared() -> Iterator[Path]:
    """A world-readable folder: the build runs as another user and reads the wheels."""
    with tempfile.TemporaryDirectory(prefix="ringotel-lock-") as base:
        Path(base).chmod(0o755)
        yield Path(base)


@pytest.fixture
def checkout(shared: Path) -> Path:
    """The parts of the checkout install.sh reads, with the stand-in project and locks."""
    src = shared / "src"
    shutil.copytree(REPO / "deploy", src / "deploy")
    (src / "config").mkdir()
    (src / "config" / "bridge.example.toml").write_text("[server]\n")
    (src / "bridge").mkdir()
    (src / "bridge" / "__init__.py").write_text('MARKER = "stand-in"\n')
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / "bridge" / "standin_backend.py").write_text(BACKEND)
    (src / "bridge" / "requires.txt").write_text("standin-dep==1.0\n")
    wheels = shared / "wheels"
    wheels.mkdir()
    for name in ("standin-dep", "standin-build-helper", "standin-unlocked"):
        module = name.replace("-", "_")
        write_wheel(str(wheels), name, "1.0", {f"{module}.py": "VALUE = 1\n"}, ())
    (src / "deploy" / "requirements.lock").write_text(
        lock_line(wheels / "standin_dep-1.0-py3-none-any.whl", "standin-dep", "1.0")
    )
    (src / "deploy" / "build-requirements.lock").write_text(
        lock_line(
            wheels / "standin_build_helper-1.0-py3-none-any.whl", "standin-build-helper", "1.0"
        )
    )
    for path in [shared, *shared.rglob("*")]:
        path.chmod(0o755 if path.is_dir() or path.suffix == ".sh" else 0o644)
    (shared / "tmp").mkdir()
    (shared / "tmp").chmod(0o1777)  # like /tmp: the build account makes its files there
    return src


def install(src: Path, root: Path) -> subprocess.CompletedProcess[str]:
    assert SYSTEM_PYTHON.exists(), "needs Debian's python3 with python3-venv (scripts/bootstrap)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env |= {
        "ROOT": str(root),
        "PYTHON": str(SYSTEM_PYTHON),
        "PIP_CONFIG_FILE": os.devnull,  # no index or mirror from the machine's pip.conf
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(src.parent / "wheels"),
        "TMPDIR": str(src.parent / "tmp"),  # where the build's scratch folder goes
    }
    env.pop("SKIP_VENV", None)
    return subprocess.run(
        ["bash", str(src / "deploy" / "install.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def site_packages(root: Path) -> Path:
    [found] = (root / "opt" / "ringotel-bridge" / "venv" / "lib").glob("python3*/site-packages")
    return found


def installed(root: Path) -> set[str]:
    return {
        canonicalize_name(p.name.split("-")[0]) for p in site_packages(root).glob("*.dist-info")
    } - {"pip", "setuptools"}


def service_uid(root: Path) -> int:
    for line in (root / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == SERVICE_USER:
            return int(fields[2])
    raise AssertionError(f"no {SERVICE_USER} in {root}/etc/passwd")


@pytest.mark.slow
def test_install_uses_the_lock_with_required_hashes_and_builds_unprivileged(
    checkout: Path, shared: Path
) -> None:
    root = shared / "root"
    root.mkdir()
    lock = checkout / "deploy" / "requirements.lock"
    good = lock.read_text()

    # A wheel whose bytes are not the ones locked: refused, nothing installed.
    lock.write_text(re.sub(r"sha256:[0-9a-f]{64}", "sha256:" + "0" * 64, good))
    tampered = install(checkout, root)
    assert tampered.returncode != 0, tampered.stdout
    assert "DO NOT MATCH THE HASHES" in tampered.stderr
    assert installed(root) == set()

    # A lock entry without a hash: refused as well (--require-hashes).
    lock.write_text("standin-dep==1.0\n")
    unhashed = install(checkout, root)
    assert unhashed.returncode != 0
    assert "Hashes are required in --require-hashes mode" in unhashed.stderr
    assert installed(root) == set()

    lock.write_text(good)
    result = install(checkout, root)
    assert result.returncode == 0, result.stdout + result.stderr
    builder = SERVICE_USER if os.geteuid() == 0 else getpass.getuser()
    assert f"in deploy/requirements.lock (hash-checked) as {builder}" in result.stdout
    assert installed(root) == {"standin-dep", "ringotel-ldap-bridge"}
    assert "standin_build_helper" not in os.listdir(site_packages(root))  # build-only
    init = (site_packages(root) / "bridge" / "__init__.py").read_text()
    builder_uid = service_uid(root) if os.geteuid() == 0 else os.geteuid()
    assert f"BUILT_BY_UID = {builder_uid}\n" in init
    assert list((shared / "tmp").iterdir()) == []  # the scratch folder is gone

    # The bridge now needs a package the lock does not name: refused before the venv
    # is touched (the bridge goes in with --no-deps, so nothing unlocked ever would).
    (checkout / "bridge" / "requires.txt").write_text("standin-dep==1.0 standin-unlocked==1.0\n")
    unlocked = install(checkout, root)
    assert unlocked.returncode != 0
    assert "the lock lacks what the bridge needs" in unlocked.stderr
    assert "standin-unlocked" in unlocked.stderr
    assert "refresh the lock (scripts/lock)" in unlocked.stderr
    assert installed(root) == {"standin-dep", "ringotel-ldap-bridge"}
    assert (site_packages(root) / "bridge" / "__init__.py").read_text() == init


# ----------------------------------------------------------------- the committed locks


def pins(lock: Path) -> dict[str, str]:
    """name -> version; and every pin carries at least one sha256."""
    found: dict[str, str] = {}
    entries = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text())
    for entry in entries:
        match = _PIN.match(entry)
        if match is None:
            assert entry.startswith("#"), entry
            continue
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", entry), f"{match.group(1)} has no hash"
        found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def assert_locked(requirements: list[str], lock: Path) -> None:
    locked = pins(lock)
    for text in requirements:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in {lock.name}: run scripts/lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{lock.name} pins {name}=={locked[name]}, pyproject.toml wants "
            f"{requirement.specifier}: run scripts/lock"
        )


def test_the_lock_pins_every_runtime_dependency_with_hashes() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert_locked(project["project"]["dependencies"], LOCK)
    assert "cryptography" in pins(LOCK)  # pyjwt[crypto]: extras are locked too
    assert "#    scripts/lock" in LOCK.read_text()


def test_the_build_lock_pins_the_build_backend_with_hashes() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert_locked(project["build-system"]["requires"], BUILD_LOCK)
