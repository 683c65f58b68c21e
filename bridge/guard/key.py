"""The guard's HMAC key: one file, made on first start, shared by every instance.

The key turns logins and wrong passwords into store keys and fingerprints. It must not
be per process: a restart would forget which wrong passwords were already counted
(an app retrying a stale password would cost the account a new bad attempt after
every restart), and instances sharing a store must compute the same keys. So it lives
in a file, by default ``guard-key`` under ``$STATE_DIRECTORY`` (systemd
``StateDirectory=``) or beside the config; copy that file to every instance that
shares a store.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

KEY_BYTES = 32


class KeyFileError(Exception):
    """The key file exists but cannot be used; the message says what to do."""


def load_or_create(path: Path) -> bytes:
    """Read the key, or create it (mode 0600, exclusive, never through a symlink)."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(KEY_BYTES)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:  # another instance made it a moment ago: use theirs
        return _read(path)
    except OSError as exc:
        raise KeyFileError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    return key


def _read(path: Path) -> bytes:
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"{path} is not a regular file")
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(f"{path} is accessible to group or others; chmod 600 it")
        key = os.read(descriptor, KEY_BYTES + 1)
    finally:
        os.close(descriptor)
    if len(key) != KEY_BYTES:
        raise KeyFileError(f"{path} must hold exactly {KEY_BYTES} bytes; delete it to renew")
    return key
