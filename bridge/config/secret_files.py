"""Reading a secret file: opened once, never through a symlink, used only if private.

A secret file (a password, a token, a signing key, the server's TLS key) is refused
when it could have been written by someone other than its owner (group- or
other-writable: they could put in a password or key of their choosing) or read by
everyone (others-readable). Group-readable is fine: ``0640`` with the service's
group is how an administrator shares a key with the service user.

The checks and the read are one step: the file is opened with ``O_NOFOLLOW``, the
*opened* file is checked with ``fstat``, and the bytes are read from that same
descriptor and handed back. Checking a path and then reading it again would let the
file be swapped in between; so callers get the bytes, never the path to re-open.

* A symlink as the last path component is refused (``O_NOFOLLOW``): whoever may
  change the link could point it at another file, and the mode checked would be
  the target's. systemd's ``LoadCredential=`` copies a (possibly symlinked) source
  into a regular file under ``$CREDENTIALS_DIRECTORY``, so pointing the service at
  the link's target, or loading it as a credential, costs nothing. Directories above
  the file may be symlinks (``/etc`` often is); only their owner can change them.
* ``O_NONBLOCK``: opening a FIFO for reading would otherwise wait for a writer
  forever; ``fstat`` then finds it is no regular file and nothing is read.
* ``O_NOCTTY``: a terminal device named by mistake never becomes ours.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

#: Far above any password, token or PEM key; a bigger file was named by mistake.
MAX_SECRET_BYTES = 1 << 20
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
_CHMOD_ADVICE = "chmod 600 it (or 640 with the service's group)"


class SecretFileRefused(Exception):
    """The file cannot be used as a secret; the message says why and what to do."""


def read_secret_file(path: Path) -> bytes:
    """The file's bytes, read once after checking the very file that was opened."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise SecretFileRefused(_open_problem(path, exc)) from None
    try:
        _check(path, os.fstat(fd))
        return _read_all(path, fd)
    finally:
        os.close(fd)


def _open_problem(path: Path, exc: OSError) -> str:
    """Say what is wrong with a file that could not even be opened (lstat: no link followed)."""
    try:
        mode: int | None = os.lstat(path).st_mode
    except OSError:
        mode = None
    if mode is not None and stat.S_ISLNK(mode):
        return (
            f"{path} is a symbolic link (to {os.path.realpath(path)}); secret files are "
            "opened without following links, so nobody who can change a link can swap "
            "the secret: name the file itself, or load it with systemd "
            f"LoadCredential=NAME:{path}, which copies it into a regular file"
        )
    if mode is not None and not stat.S_ISREG(mode):  # e.g. a socket: ENXIO
        return f"{path} is {_kind(mode)}, not a regular file"
    hint = ""
    if exc.errno == errno.EACCES:
        hint = "; the service user must be able to read it (chmod 640 and chgrp its group)"
    return f"cannot read secret file {path}: {exc.strerror or exc}{hint}"


def _check(path: Path, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise SecretFileRefused(f"{path} is {_kind(info.st_mode)}, not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    writers = [
        who for who, bit in (("group", stat.S_IWGRP), ("others", stat.S_IWOTH)) if mode & bit
    ]
    if writers:
        raise SecretFileRefused(
            f"{path} can be written by {' and '.join(writers)} (mode {mode:04o}), so someone "
            f"else could put in a secret of their choosing; {_CHMOD_ADVICE}"
        )
    if mode & stat.S_IROTH:
        raise SecretFileRefused(
            f"{path} is readable by everyone (mode {mode:04o}); {_CHMOD_ADVICE}"
        )
    if info.st_size > MAX_SECRET_BYTES:
        raise SecretFileRefused(
            f"{path} is {info.st_size} bytes, more than any secret; is it the right file?"
        )


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "of an unknown type"


def _read_all(path: Path, fd: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_SECRET_BYTES:  # it grew after fstat
                raise SecretFileRefused(f"{path} is larger than {MAX_SECRET_BYTES} bytes")
    except OSError as exc:
        raise SecretFileRefused(f"cannot read secret file {path}: {exc.strerror or exc}") from None
    return b"".join(chunks)
