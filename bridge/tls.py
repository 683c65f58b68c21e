"""The HTTPS side of the bridge: the server's TLS context, TLS 1.2 or newer.

The context is built once and its certificate chain reloaded in place on SIGHUP, so new
handshakes use a renewed certificate without a restart. A pair that does not load is a
configuration error naming ``server.tls_cert_file``, at start and at reload alike.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from bridge.config import Config, ServerSettings
from bridge.errors import ConfigError, Problem

MODERN_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20"


def tls_context(settings: ServerSettings, files: dict[str, Path]) -> ssl.SSLContext | None:
    if settings.tls_cert_file is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(MODERN_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    load_certificates(context, files)
    return context


def load_certificates(context: ssl.SSLContext, files: dict[str, Path]) -> None:
    """(Re)load the chain into an existing context; new handshakes use it at once."""
    context.load_cert_chain(files["server.tls_cert_file"], files["server.tls_key_file"])


def checked_tls_context(config: Config) -> ssl.SSLContext | None:
    """The server TLS context, or ConfigError naming the key when the pair does not load."""
    try:
        return tls_context(config.settings.server, dict(config.files))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError([Problem("server.tls_cert_file", f"cannot load: {exc}")]) from None


def check_tls(config: Config) -> None:
    """Load the configured certificate into a scratch context: a reload check.

    Loading straight into the live context could leave it half-replaced (a new chain
    with the old key) when the key does not match; so a new pair is tried first and
    the whole reload is refused when it does not load.
    """
    checked_tls_context(config)
