"""A throwaway certificate authority for test directory servers.

Servers made by `samba-tool` or a bare slapd carry self-made certificates that
name a host (``DC1.example.test``) but never ``127.0.0.1``, so a client that
verifies certificates (the bridge always does) cannot talk to them. Every
harness therefore gets its certificates from one small CA made here, and the
tests pass ``CA.cert_path`` to the client as its trust anchor.

Besides a good server certificate, the CA can issue the bad ones that TLS
failure tests need: one that has expired, one for the wrong name. Keys are
ECDSA P-256 (instant to generate; GnuTLS and OpenSSL both accept them) and are
written with mode 0600 because Samba refuses a key file that others can read.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: What a loopback test server is reached as: every form a client may dial.
LOOPBACK_NAMES: tuple[str, ...] = ("127.0.0.1", "::1", "localhost")

_ONE_DAY = dt.timedelta(days=1)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Create the key file 0600 from the start, so it is never briefly readable."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _general_name(name: str) -> x509.GeneralName:
    """An IP literal must be an iPAddress SAN: clients never match IPs against DNS names."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


@dataclass(frozen=True)
class CA:
    """A test CA on disk: ``cert_path`` is what clients trust."""

    cert_path: Path
    key_path: Path
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def issue_server_cert(
        self,
        directory: Path,
        names: Sequence[str] = LOOPBACK_NAMES,
        *,
        stem: str = "server",
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> tuple[Path, Path]:
        """Write ``{stem}.pem`` and ``{stem}-key.pem`` into *directory*.

        The validity defaults to yesterday .. in 30 days, so clock skew between
        the test and the server never matters; pass both bounds to make a
        certificate that is not (or no longer) valid.
        """
        if not names:
            raise ValueError("a server certificate needs at least one name")
        now = dt.datetime.now(dt.UTC)
        start = not_before or now - _ONE_DAY
        end = not_after or now + 30 * _ONE_DAY
        key = _new_key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        cert_path = directory / f"{stem}.pem"
        key_path = directory / f"{stem}-key.pem"
        _write_cert(cert_path, cert)
        _write_key(key_path, key)
        return cert_path, key_path

    def issue_expired_server_cert(
        self, directory: Path, names: Sequence[str] = LOOPBACK_NAMES, *, stem: str = "expired"
    ) -> tuple[Path, Path]:
        """A certificate for the right names whose validity ended yesterday."""
        now = dt.datetime.now(dt.UTC)
        return self.issue_server_cert(
            directory, names, stem=stem, not_before=now - 30 * _ONE_DAY, not_after=now - _ONE_DAY
        )

    def issue_wrong_name_server_cert(
        self, directory: Path, *, stem: str = "wrong-name"
    ) -> tuple[Path, Path]:
        """A valid certificate that names neither the loopback addresses nor localhost."""
        return self.issue_server_cert(directory, ("wrong.example.invalid",), stem=stem)


def make_ca(directory: Path, *, common_name: str = "ringotel-bridge test CA") -> CA:
    """Create a CA (``ca.pem``, ``ca-key.pem``) in *directory*, valid for a year."""
    directory.mkdir(parents=True, exist_ok=True)
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _ONE_DAY)
        .not_valid_after(now + 365 * _ONE_DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "ca.pem"
    key_path = directory / "ca-key.pem"
    _write_cert(cert_path, cert)
    _write_key(key_path, key)
    return CA(cert_path=cert_path, key_path=key_path, cert=cert, key=key)
