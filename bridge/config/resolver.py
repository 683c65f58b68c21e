"""The files a config names: secrets read once and checked, plain files checked.

Secrets never need to be inline: every secret has a ``*_file`` form. A relative
secret path resolves under ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``)
when that is set, else beside the config file. Inline secrets are accepted for demos
and produce a warning at start-up.

Secret files (and ``server.tls_key_file``) are read here, once, by
:mod:`bridge.config.secret_files`: a symlink, a non-regular file, or a file that group or
others may write or others may read is a problem naming the key. What is used later
(the bind password, the JWT keys, the TLS key) is the bytes read then, never the file
opened again, so nothing can be swapped in between the check and the use.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bridge.config.client_auth import (
    MIN_CLIENT_SECRET,
    BasicAuthSettings,
    BearerAuthSettings,
    OAuth2Settings,
)
from bridge.config.directories import SINGLE_DIRECTORY_NAME, DirectorySection
from bridge.config.directory import LdapDirectorySettings
from bridge.config.secret_files import SecretFileRefused, read_secret_file
from bridge.config.server import ServerSettings
from bridge.config.settings import Settings
from bridge.core.errors import Problem


class Secret:
    """Bytes that never show up in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"


@dataclass(frozen=True)
class Secrets:
    """Every secret the config names, read once at load time."""

    #: each directory's service-account password, by directory name
    bind_passwords: Mapping[str, Secret] = field(default_factory=dict, repr=False)
    basic_password: Secret | None = None
    bearer_tokens: tuple[Secret, ...] = ()
    client_secrets: tuple[Secret, ...] = ()
    #: where the JWT keys came from (for messages); their bytes are in ``key_files``
    signing_key_file: Path | None = None
    verification_key_files: tuple[Path, ...] = ()
    #: the checked bytes of each key file, by resolved path: see `key_bytes`
    key_files: Mapping[Path, Secret] = field(default_factory=dict, repr=False)
    #: the checked bytes of ``server.tls_key_file``, loaded by bridge.process.tls
    tls_key: Secret | None = None
    #: ``protection.store_password_file``
    store_password: Secret | None = None

    @property
    def bind_password(self) -> Secret | None:
        """``[directory]``'s service-account password (the one directory's)."""
        return self.bind_passwords.get(SINGLE_DIRECTORY_NAME)

    def key_bytes(self, path: Path) -> bytes:
        """A key file's bytes as read and checked at load time; the file is not opened
        again, so it cannot have been swapped since."""
        try:
            return self.key_files[path].reveal()
        except KeyError:
            raise ValueError(f"{path}: not a key file this configuration read") from None


class Resolver:
    """Reads secret files and checks the plain files a config names, collecting problems."""

    def __init__(self, base_dir: Path, credentials_dir: str | None) -> None:
        self.base_dir = base_dir
        self.credentials_dir = Path(credentials_dir) if credentials_dir else None
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        self.key_files: dict[Path, Secret] = {}

    def secret_path(self, path: Path) -> Path:
        if path.is_absolute():
            return path
        if self.credentials_dir is not None:
            return self.credentials_dir / path
        return self.base_dir / path

    def read_private(self, key: str, resolved: Path) -> bytes | None:
        """The file's bytes, or None with a problem when it is no private regular file
        (bridge.config.secret_files) or holds nothing but a line ending."""
        try:
            data = read_secret_file(resolved)
        except SecretFileRefused as exc:
            self.problems.append(Problem(key, str(exc)))
            return None
        if not data.removesuffix(b"\n").removesuffix(b"\r"):
            self.problems.append(Problem(key, f"{resolved} is empty"))
            return None
        return data

    def read_secret(self, key: str, path: Path) -> Secret | None:
        """A password or token file; one trailing line ending (editors add one) is dropped."""
        data = self.read_private(key, self.secret_path(path))
        if data is None:
            return None
        return Secret(data.removesuffix(b"\n").removesuffix(b"\r"))

    def utf8(self, key: str, secret: Secret | None) -> Secret | None:
        """LDAP sends passwords as UTF-8: a file in another encoding is a config error."""
        if secret is None:
            return None
        try:
            secret.reveal().decode("utf-8")
        except UnicodeDecodeError:
            self.problems.append(Problem(key, "not UTF-8 text; save the file as UTF-8"))
            return None
        return secret

    def inline(self, key: str, value: str | None) -> Secret | None:
        if value is None:
            return None
        self.warnings.append(f"{key} is inline in the config; use {key}_file in production")
        return Secret(value.encode("utf-8"))

    def either(
        self, key: str, inline: str | None, path: Path | None, minimum: int = 0
    ) -> Secret | None:
        if inline is not None and path is not None:
            self.problems.append(Problem(key, f"set either {key} or {key}_file, not both"))
            return None
        if path is not None:
            return self.long_enough(f"{key}_file", self.read_secret(f"{key}_file", path), minimum)
        return self.long_enough(key, self.inline(key, inline), minimum)

    def long_enough(self, key: str, secret: Secret | None, minimum: int) -> Secret | None:
        """A guessable client secret is refused: the bridge answers anyone who reaches it."""
        if secret is not None and len(secret.reveal()) < minimum:
            self.problems.append(
                Problem(
                    key,
                    f"shorter than {minimum} bytes; use a random secret, e.g. "
                    "head -c 24 /dev/urandom | base64",
                )
            )
            return None
        return secret

    def many(
        self, key: str, inline: str | None, one: Path | None, more: Sequence[Path], minimum: int
    ) -> tuple[Secret, ...]:
        found = [self.either(key, inline, one, minimum)] if (inline or one) else []
        found += [
            self.long_enough(f"{key}_files[{i}]", self.read_secret(f"{key}_files[{i}]", p), minimum)
            for i, p in enumerate(more)
        ]
        return tuple(s for s in found if s is not None)

    def key_file(self, key: str, path: Path) -> Path:
        """A key file is parsed by bridge.client_auth.keys from the bytes kept here (all of
        them: keys decides about line endings); the path is only for its messages."""
        resolved = self.secret_path(path)
        data = self.read_private(key, resolved)
        if data is not None:
            self.key_files[resolved] = Secret(data)
        return resolved

    def tls_key(self, settings: ServerSettings) -> Secret | None:
        """The server's private key, kept as bytes for bridge.process.tls to load; checked
        like every other secret file."""
        if settings.tls_key_file is None:
            return None
        data = self.read_private("server.tls_key_file", self.secret_path(settings.tls_key_file))
        return None if data is None else Secret(data)

    def bind_password(self, section: DirectorySection) -> Secret | None:
        """The service account's password (direct bind and a users file have none)."""
        directory = section.settings
        if not isinstance(directory, LdapDirectorySettings) or not directory.bind_dn:
            return None
        key = f"{section.key}.bind_password"
        bind = self.either(key, directory.bind_password, directory.bind_password_file)
        return self.utf8(f"{key}_file", bind)

    def bind_passwords(self, settings: Settings) -> dict[str, Secret]:
        found = {s.name: self.bind_password(s) for s in settings.directory_sections()}
        return {name: secret for name, secret in found.items() if secret is not None}

    def secrets(self, settings: Settings) -> Secrets:
        auth = settings.client_auth
        result = Secrets()
        if isinstance(auth, BasicAuthSettings):
            basic = self.either(
                "client_auth.password", auth.password, auth.password_file, MIN_CLIENT_SECRET
            )
            result = Secrets(basic_password=basic)
        elif isinstance(auth, BearerAuthSettings):
            tokens = self.many(
                "client_auth.token",
                auth.token,
                auth.token_file,
                auth.token_files,
                MIN_CLIENT_SECRET,
            )
            result = Secrets(bearer_tokens=tokens)
        else:
            result = self.oauth2(auth)
        store_file = settings.protection.store_password_file
        store = (
            self.read_secret("protection.store_password_file", store_file) if store_file else None
        )
        return dataclasses.replace(
            result,
            bind_passwords=self.bind_passwords(settings),
            key_files=dict(self.key_files),
            tls_key=self.tls_key(settings.server),
            store_password=store,
        )

    def oauth2(self, auth: OAuth2Settings) -> Secrets:
        secrets = self.many(
            "client_auth.client_secret",
            auth.client_secret,
            auth.client_secret_file,
            auth.client_secret_files,
            MIN_CLIENT_SECRET,
        )
        assert auth.signing_key_file is not None  # checked by the model
        signing = self.key_file("client_auth.signing_key_file", auth.signing_key_file)
        verification = tuple(
            self.key_file(f"client_auth.verification_key_files[{i}]", p)
            for i, p in enumerate(auth.verification_key_files)
        )
        return Secrets(
            client_secrets=secrets,
            signing_key_file=signing,
            verification_key_files=verification,
        )

    def plain_files(self, settings: Settings) -> dict[str, Path]:
        wanted = {
            "server.tls_cert_file": settings.server.tls_cert_file,
            "server.tls_key_file": settings.server.tls_key_file,
            "protection.store_ca_file": settings.protection.store_ca_file,
        }
        for section in settings.directory_sections():
            directory = section.settings
            if isinstance(directory, LdapDirectorySettings):
                wanted[f"{section.key}.ca_file"] = directory.ca_file
            else:
                wanted[f"{section.key}.users_file"] = directory.users_file
        files = {}
        for key, path in wanted.items():
            if path is None:
                continue
            resolved = path if path.is_absolute() else self.base_dir / path
            if key == "server.tls_key_file":  # checked and read by `tls_key`
                files[key] = self.secret_path(path)
                continue
            if not resolved.is_file():
                self.problems.append(Problem(key, f"{resolved}: no such file"))
            elif not os.access(resolved, os.R_OK):
                self.problems.append(Problem(key, f"{resolved}: not readable"))
            files[key] = resolved
        return files
