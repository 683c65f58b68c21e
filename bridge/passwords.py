"""Password hashes for the file directory: argon2id, and nothing else.

The file directory stores hashes, never passwords, so a leaked users file costs an
attacker real work per guess. argon2id with OWASP's recommended minimum (19 MiB, two
passes, one lane) rather than argon2-cffi's 64 MiB x 3 x 4 lanes: every login and
every unknown-user decoy pays the cost on the bridge's own (often two-core) host, and
the larger profile took about a second per login there. Verification reads the
parameters from each hash, so older or stronger hashes keep working.

``verify_password`` never raises: a malformed hash is a configuration problem that
the users-file loader reports at start-up, and at login time it can only mean "no".
"""

from __future__ import annotations

import functools
import getpass
import sys

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

ARGON2ID_PREFIX = "$argon2id$"


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1, type=Type.ID)


def hash_password(password: str) -> str:
    """A fresh argon2id hash with a random salt."""
    return _hasher().hash(password)


def verify_password(hash: str, password: str) -> bool:
    """True only for the right password; False for a wrong one or a broken hash."""
    try:
        return _hasher().verify(hash, password)
    except (VerificationError, InvalidHashError):
        return False


def is_argon2id(hash: str) -> bool:
    """Whether ``hash`` is a well-formed argon2id hash (other argon2 types are refused)."""
    if not hash.startswith(ARGON2ID_PREFIX):
        return False
    try:
        extract_parameters(hash)
    except InvalidHashError:
        return False
    return True


@functools.cache
def dummy_hash() -> str:
    """A hash nobody's password matches, to spend the same time on unknown users."""
    return hash_password("ringotel-bridge: no such user")


def hash_password_command() -> int:
    """``ringotel-bridge hash-password``: print only the hash, so it can be piped."""
    try:
        password = _read_password()
    except (EOFError, KeyboardInterrupt):
        print("ringotel-bridge: no password given", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"ringotel-bridge: {exc}", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


def _read_password() -> str:
    """Ask twice on a terminal (a typo would lock the user out); else one stdin line."""
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if password and getpass.getpass("Again: ") != password:
            raise ValueError("the passwords do not match")
    else:
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        password = line.removesuffix("\n").removesuffix("\r")
    if password == "":
        raise ValueError("refusing an empty password")
    return password
