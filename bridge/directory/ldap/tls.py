"""TLS to the directory: the verifying context, the handshake, and saying what failed.

The context is built once per loaded config and shared by every connection, so a
reload (not a restart) is what picks up a replaced CA file. A failed handshake is
described in words an administrator acts on ("check ca_file"), the same words in the
log of a failed login and in ``check-config --connect``.
"""

from __future__ import annotations

import datetime as dt
import ssl
from urllib.parse import urlsplit

import ldap3
from cryptography import x509
from ldap3.core import exceptions as ldap_exc


class VerifiedTls(ldap3.Tls):
    """TLS done by the standard library: chain and name checked in the handshake.

    ldap3 2.9 checks the name itself with ``ssl.match_hostname`` (deprecated since
    Python 3.7, removed in 3.12, a DeprecationWarning that aborts the handshake under
    warnings-as-errors) and treats ``valid_names`` as names to accept *besides* the
    dialled host, so ``tls_server_name`` could never narrow the check. Here the
    context checks the one expected name (``tls_server_name`` or the URL's host, IP
    literals against IP SANs) and refuses anything below TLS 1.2.
    """

    def __init__(self, context: ssl.SSLContext, server_name: str) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED)
        self.context = context
        self.server_name = server_name

    def wrap_socket(self, connection: ldap3.Connection, do_handshake: bool = False) -> None:
        connection.socket = self.context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=self.server_name,
        )


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The verifying client context, shared by every connection of one config."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def needs_tls(url: str, start_tls: bool) -> bool:
    return urlsplit(url).scheme == "ldaps" or start_tls


def describe_failure(exc: BaseException) -> str:
    """One line about a failed connection or operation; TLS failures say what to fix."""
    if is_tls_error(exc):
        return describe_tls_error(exc)
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


def describe_tls_error(exc: BaseException) -> str:
    """Say what failed in a TLS handshake, so an admin knows what to fix."""
    text = str(exc)
    lowered = text.lower()
    if "expired" in lowered:
        return f"TLS: the server certificate has expired ({text})"
    if "doesn't match" in lowered or "hostname" in lowered or "ip address mismatch" in lowered:
        return f"TLS: the certificate does not name this server; set tls_server_name ({text})"
    if (
        "unable to get local issuer" in lowered
        or "self-signed" in lowered
        or "self signed" in lowered
    ):
        return f"TLS: certificate chain not trusted; check ca_file ({text})"
    if "certificate verify failed" in lowered:
        return f"TLS: certificate verification failed ({text})"
    return text


def is_tls_error(exc: BaseException) -> bool:
    return isinstance(
        exc, ssl.SSLError | ldap_exc.LDAPCertificateError | ldap_exc.LDAPStartTLSError
    ) or ("certificate" in str(exc).lower() or "ssl" in type(exc).__name__.lower())


def tls_details(sock: object) -> list[str]:
    """What was negotiated on ``sock`` and whose certificate it was, until when."""
    if not isinstance(sock, ssl.SSLSocket):
        return ["TLS: none (plain LDAP)"]
    cipher = sock.cipher()
    lines = [f"TLS: {sock.version()}, cipher {cipher[0] if cipher else '?'}"]
    der = sock.getpeercert(binary_form=True)
    if der:
        certificate = x509.load_der_x509_certificate(der)
        expires = certificate.not_valid_after_utc
        days = (expires - dt.datetime.now(dt.UTC)).days
        lines.append(f"certificate: {certificate.subject.rfc4514_string()}")
        lines.append(f"certificate expires: {expires:%Y-%m-%d %H:%M} UTC ({days} days)")
    return lines
