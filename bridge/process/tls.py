"""The HTTPS side of the bridge: the server's TLS context, TLS 1.2 or newer.

The context is built once and its certificate chain reloaded in place on SIGHUP, so new
handshakes use a renewed certificate without a restart. A pair that does not load is a
configuration error naming ``server.tls_cert_file``, at start and at reload alike.

The private key is never opened here. Config loading read ``server.tls_key_file``
once and checked that very file (bridge.config.secret_files: no symlink, regular, not
writable by group or others, not readable by others); opening the path again here
would load whatever is there *now*, which may not be the file that was checked. But
``SSLContext.load_cert_chain`` takes only paths. So the checked bytes go into a sealed
anonymous memory file (``memfd_create``: never on disk, no name in any directory,
unchangeable once sealed) and OpenSSL reads them from ``/proc/self/fd/N``. Comparing
the loaded key with the checked one afterwards was the other option, but the context
does not give its key back, and re-reading the file to compare only moves the race.
This is Linux-only, like the rest of the deployment (systemd); the unit's
``SystemCallFilter=@system-service`` allows ``memfd_create``.
"""

from __future__ import annotations

import fcntl
import os
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from bridge.config import Config
from bridge.core.errors import ConfigError, Problem

MODERN_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20"
_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def tls_context(config: Config) -> ssl.SSLContext | None:
    if config.settings.server.tls_cert_file is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(MODERN_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    load_certificates(context, config)
    return context


def load_certificates(context: ssl.SSLContext, config: Config) -> None:
    """(Re)load the chain into an existing context; new handshakes use it at once.

    The key is the bytes this config read and checked, not the file opened again.
    """
    key = config.secrets.tls_key
    if key is None:
        raise ConfigError([Problem("server.tls_key_file", "no key was read")])
    with sealed_memory_file(key.reveal()) as key_path:
        context.load_cert_chain(config.files["server.tls_cert_file"], key_path)


@contextmanager
def sealed_memory_file(data: bytes) -> Iterator[str]:
    """A path OpenSSL can open that holds exactly ``data``, only in memory, sealed."""
    fd = os.memfd_create("ringotel-bridge-tls-key", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def checked_tls_context(config: Config) -> ssl.SSLContext | None:
    """The server TLS context, or ConfigError naming the key when the pair does not load."""
    try:
        return tls_context(config)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError([Problem("server.tls_cert_file", f"cannot load: {exc}")]) from None


def check_tls(config: Config) -> None:
    """Load the configured certificate into a scratch context: a reload check.

    Loading straight into the live context could leave it half-replaced (a new chain
    with the old key) when the key does not match; so a new pair is tried first and
    the whole reload is refused when it does not load.
    """
    checked_tls_context(config)
