"""``ringotel-bridge hash-password``: an argon2id hash for the file directory."""

from __future__ import annotations

import sys

from bridge.commands.prompt import NoPassword, read_password
from bridge.directory.passwords import hash_password


def hash_password_command() -> int:
    """Print only the hash, so it can be piped into the users file."""
    try:
        password = read_password(confirm=True)
    except NoPassword as exc:
        print(f"ringotel-bridge: {exc}", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0
