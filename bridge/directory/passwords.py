"""Passwords as the bridge hands them on: the typed UTF-8 bytes, and argon2id hashes.

A password is compared *as typed*. AD checks a simple-bind password octet for octet
(UTF-8 on the wire) and applies no SASLprep; slapd compares the octets with the stored
hash. ldap3, given a ``str``, runs SASLprep (RFC 4013) first: a no-break space or a
zero-width space became a plain space and a soft hyphen or a BOM vanished, so a user
whose real password holds one could never log in; a tab, a control character, a lone
surrogate or mixed-direction text raised inside the bind and answered 500 where a
wrong password gets 403. `as_typed` is the one conversion: every directory sends or
hashes its result, and nothing trims or normalises a password on the way.

The file directory stores argon2id hashes, never passwords, so a leaked users file
costs an attacker real work per guess. argon2id with OWASP's recommended minimum
(19 MiB, two passes, one lane) rather than argon2-cffi's 64 MiB x 3 x 4 lanes: every
login and every unknown-user decoy pays the cost on the bridge's own (often two-core)
host, and the larger profile took about a second per login there. Verification reads the
parameters from each hash, so older or stronger hashes keep working.

``verify_password`` never raises: a malformed hash is a configuration problem that
the users-file loader reports at start-up, and at login time it can only mean "no".
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

ARGON2ID_PREFIX = "$argon2id$"


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1, type=Type.ID)


def as_typed(password: str) -> bytes | None:
    """The password's UTF-8 bytes, exactly as typed; None when it has none.

    Only a lone surrogate (JSON can spell ``"\\ud800"``, a keyboard cannot type it) has
    no UTF-8 form. No password holds one, so None can only mean "wrong password";
    the HTTP layer refuses such a body earlier, as malformed.
    """
    try:
        return password.encode("utf-8")
    except UnicodeEncodeError:
        return None


def hash_password(password: str) -> str:
    """A fresh argon2id hash of the typed bytes, with a random salt."""
    typed = as_typed(password)
    if typed is None:
        raise ValueError("the password is not valid Unicode (it holds a lone surrogate)")
    return _hasher().hash(typed)


def verify_password(hash: str, password: str) -> bool:
    """True only for the right password; False for a wrong one or a broken hash."""
    typed = as_typed(password)
    if typed is None:
        return False
    try:
        return _hasher().verify(hash, typed)
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
