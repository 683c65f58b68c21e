"""Settings: one TOML file, validated completely, then frozen.

``load(path)`` returns a :class:`Config` (typed settings, secrets already read, the
source path) or raises :class:`~bridge.core.errors.ConfigError` listing *every* problem
with its dotted key, e.g. ``directory.urls[1]: scheme must be ldap or ldaps``.

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
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bridge.client_auth.keys import Algorithm
from bridge.config.secret_files import SecretFileRefused, read_secret_file
from bridge.core.errors import ConfigError, Problem
from bridge.directory.locator.srv import parse_nameserver
from bridge.directory.presets import PRESETS, Flavor, GroupStrategy, Preset

DEFAULT_CONFIG_PATH = Path("/etc/ringotel-bridge/bridge.toml")
#: Shortest Basic password, Bearer token or client secret accepted (HS256 keys: 32,
#: checked where keys are loaded).
MIN_CLIENT_SECRET = 16
CONFIG_ENV = "RINGOTEL_BRIDGE_CONFIG"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object) -> object:
    """Accept ``"5m"``, ``"1.5s"``, ``"250ms"`` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError('expected a duration such as "5s" or "5m"')
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2)]
    raise ValueError(f'expected a duration such as "5s" or "5m", got {value!r}')


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
#: A duration where 0 switches the feature off.
OptionalDuration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - an explicit ":8443" means all


def _check_listen(value: str) -> str:
    _parse_listen(value)
    return value


def _check_ldap_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
        raise ValueError(f"expected ldap://HOST[:PORT] or ldaps://..., got {url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"no path or query allowed, got {url!r}")
    return url


def _check_dns_domain(value: str) -> str:  # issue 12 §1
    name = value.strip().rstrip(".").lower()
    labels = name.split(".")
    if len(labels) < 2 or not all(_DNS_LABEL.match(label) for label in labels):
        raise ValueError(f"expected a DNS domain such as corp.example, got {value!r}")
    return name


def _check_site(value: str) -> str:  # issue 12 §1: it becomes one label of a DNS name
    if not _DNS_LABEL.match(value):
        raise ValueError(f"expected an AD site name (letters, digits, hyphens), got {value!r}")
    return value


def _check_nameserver(value: str) -> str:  # issue 12 §1
    parse_nameserver(value)
    return value


_DNS_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
#: ``IP`` or ``IP:PORT`` (``[IPv6]:PORT``), checked one by one: ``directory.nameservers[1]``.
Nameserver = Annotated[str, AfterValidator(_check_nameserver)]

#: Validated one by one so a problem names its index: ``server.listen[1]``.
ListenAddress = Annotated[str, AfterValidator(_check_listen)]
#: Validated one by one so a problem names its index: ``directory.urls[1]``.
LdapUrl = Annotated[str, AfterValidator(_check_ldap_url)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


class ServerSettings(_Section):
    """``[server]``: the HTTP listeners and request limits."""

    listen: tuple[ListenAddress, ...] = ("0.0.0.0:8443",)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    auth_paths: tuple[str, ...] = ("/auth", "/authorize")
    allowed_clients: tuple[Network, ...] = ()
    trusted_proxies: tuple[Network, ...] = ()
    request_deadline: Duration = 10.0
    #: an idle kept-alive connection is closed after this long (aiohttp's default, 3630 s,
    #: let every idle or half-sent connection hold a file descriptor for an hour)
    keepalive_timeout: Duration = 60.0
    #: open connections per source address (IPv6: per /64); trusted_proxies are exempt
    max_connections_per_client: int = Field(64, ge=1, le=1_000_000)
    #: open connections on the Ringotel-facing listeners in all; 0: half of the process's
    #: open-file limit (RLIMIT_NOFILE), keeping the other half for directory connections
    max_connections: int = Field(0, ge=0, le=10_000_000)
    ops_listen: str | None = "127.0.0.1:9100"
    max_body_size: int = Field(8192, ge=256, le=1_048_576)
    max_field_length: int = Field(1024, ge=16, le=65536)
    drain_timeout: Duration = 15.0
    #: serving processes on the same listeners (SO_REUSEPORT), supervised by the main one
    workers: int = Field(1, ge=1, le=64)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one HOST:PORT is required")
        return value

    @field_validator("ops_listen")
    @classmethod
    def _ops_listen(cls, value: str | None) -> str | None:
        if value:
            _parse_listen(value)
        return value or None

    @field_validator("auth_paths")
    @classmethod
    def _paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one path is required")
        for path in value:
            _check_path(path)
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> ServerSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        return self

    @property
    def listen_addresses(self) -> tuple[tuple[str, int], ...]:
        return tuple(_parse_listen(item) for item in self.listen)

    @property
    def ops_address(self) -> tuple[str, int] | None:
        return _parse_listen(self.ops_listen) if self.ops_listen else None


def _check_path(path: str) -> str:
    if not path.startswith("/") or any(c in path for c in "?# "):
        raise ValueError(f"expected an absolute URL path such as /auth, got {path!r}")
    return path


class RequestSettings(_Section):
    """``[request]``: the names of the fields Ringotel sends."""

    username_field: str = Field("username", min_length=1, max_length=64)
    password_field: str = Field("password", min_length=1, max_length=64)

    @model_validator(mode="after")
    def _distinct(self) -> RequestSettings:
        if self.username_field == self.password_field:
            raise ValueError("username_field and password_field must differ")
        return self


class ClientAuthSettings(_Section):
    """``[client_auth]``: how Ringotel proves who it is."""

    mode: Literal["basic", "bearer", "oauth2"] = "oauth2"
    client_id: str = Field("ringotel", min_length=1, max_length=256)
    # basic
    username: str | None = None
    password: str | None = None
    password_file: Path | None = None
    # bearer
    token: str | None = None
    token_file: Path | None = None
    token_files: tuple[Path, ...] = ()
    # oauth2
    client_secret: str | None = None
    client_secret_file: Path | None = None
    client_secret_files: tuple[Path, ...] = ()
    token_path: str = "/oauth/token"
    token_ttl: Duration = 3600.0
    token_leeway: Duration = 30.0
    signing_algorithm: Algorithm = "HS256"
    signing_key_file: Path | None = None
    verification_key_files: tuple[Path, ...] = ()
    issuer: str = "ringotel-bridge"
    audience: str = "ringotel-bridge"

    @field_validator("token_path")
    @classmethod
    def _token_path(cls, value: str) -> str:
        return _check_path(value)

    @model_validator(mode="after")
    def _mode_needs(self) -> ClientAuthSettings:
        missing = {
            "basic": not (self.password or self.password_file),
            "bearer": not (self.token or self.token_file or self.token_files),
            "oauth2": not (
                self.client_secret or self.client_secret_file or self.client_secret_files
            ),
        }[self.mode]
        if missing:
            need = {
                "basic": "password_file",
                "bearer": "token_file",
                "oauth2": "client_secret_file",
            }[self.mode]
            raise ValueError(f"mode {self.mode!r} needs {need}")
        if self.mode == "oauth2" and self.signing_key_file is None:
            raise ValueError("mode 'oauth2' needs signing_key_file")
        return self

    @property
    def basic_username(self) -> str:
        return self.username or self.client_id


class DirectorySettings(_Section):
    """``[directory]``: where users live and how to reach them."""

    type: Literal["ldap", "file"] = "ldap"
    urls: tuple[LdapUrl, ...] = ()
    start_tls: bool = False
    ca_file: Path | None = None
    tls_server_name: str | None = None
    allow_plaintext: bool = False
    flavor: Flavor = "active_directory"
    bind_dn: str | None = None
    bind_password: str | None = None
    bind_password_file: Path | None = None
    bind_template: str | None = None
    base_dn: str = ""
    user_filter: str | None = None
    login_attributes: tuple[str, ...] | None = None
    accept_mail: bool = False
    mail_attribute: str = "mail"
    accept_domain_prefix: bool | None = None
    domain_names: tuple[str, ...] = ()
    connect_timeout: Duration = 3.0
    operation_timeout: Duration = 5.0
    #: idle connections kept per server and kind; default: max_concurrent_directory_ops,
    #: so a busy steady state never closes and reopens connections
    pool_size: int | None = Field(None, ge=1, le=1024)
    server_cooldown: Duration = 30.0
    page_size: int = Field(500, ge=1, le=1000)
    connection_max_age: Duration = 600.0
    #: OpenLDAP: the ppolicy entry that applies to users that name none (ppolicy_default)
    password_policy_dn: str | None = None
    users_file: Path | None = None
    # -- issue 12 §1, DCs from DNS: added keys (urls become the fallback) --
    #: AD DNS domain whose DCs are found by SRV records, nearest site first
    domain: Annotated[str, AfterValidator(_check_dns_domain)] | None = None
    #: the AD site to prefer; None: learnt from the DCs by the CLDAP netlogon ping
    site: Annotated[str, AfterValidator(_check_site)] | None = None
    #: "IP[:PORT]" each; empty: the system resolver
    nameservers: tuple[Nameserver, ...] = ()
    #: the SRV records' TTL is held between these before they are resolved again
    dns_min_ttl: Duration = 60.0
    dns_max_ttl: Duration = 3600.0

    @model_validator(mode="after")
    def _consistent(self) -> DirectorySettings:
        if self.type == "file":
            if self.users_file is None:
                raise ValueError("type 'file' needs users_file")
            return self
        errors = []
        if not self.urls and not self.domain:  # issue 12 §1: or domain
            errors.append("type 'ldap' needs at least one entry in urls, or domain")
        if self.dns_min_ttl > self.dns_max_ttl:  # issue 12 §1
            errors.append("dns_min_ttl must not be longer than dns_max_ttl")
        if self.bind_dn and not (self.bind_password or self.bind_password_file):
            errors.append("bind_dn needs bind_password_file")
        if not self.bind_dn and not self.bind_template:
            errors.append("set bind_dn (search, then bind) or bind_template (direct bind)")
        if not self.base_dn:
            errors.append(
                "base_dn is required: users, and the holders of each username "
                "(a value two entries hold is never handed out), are searched there"
            )
        if self.bind_template and "{login}" not in self.bind_template:
            errors.append("bind_template must contain {login}")
        if self.user_filter and self.user_filter.count("{login}") < 1:
            errors.append("user_filter must contain {login}")
        plain = [u for u in self.urls if u.lower().startswith("ldap://")]
        if plain and not self.start_tls and not self.allow_plaintext:
            errors.append(
                "a simple bind over plain ldap:// would send passwords in clear text: "
                "use ldaps://, set start_tls = true, or set allow_plaintext = true"
            )
        if errors:
            raise ValueError("; ".join(errors))
        return self

    @property
    def preset(self) -> Preset:
        return PRESETS[self.flavor]

    @property
    def effective_login_attributes(self) -> tuple[str, ...]:
        return self.login_attributes or self.preset.login_attributes

    @property
    def effective_accept_domain_prefix(self) -> bool:
        if self.accept_domain_prefix is None:
            return self.preset.accept_domain_prefix
        return self.accept_domain_prefix

    @property
    def effective_user_filter(self) -> str:
        """The search filter with a ``{login}`` placeholder (escaped later, once)."""
        if self.user_filter:
            return self.user_filter
        attributes = list(self.effective_login_attributes)
        if self.accept_mail:
            attributes.append(self.mail_attribute)
        terms = "".join(f"({attribute}={{login}})" for attribute in attributes)
        match = terms if len(attributes) == 1 else f"(|{terms})"
        return f"(&{self.preset.object_filter}{match})"


class GroupSettings(_Section):
    """``[groups]``: who may use Ringotel."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    nested: bool = True
    strategy: GroupStrategy | None = None
    cache_ttl: Duration = 300.0
    cache_size: int = Field(10_000, ge=1)

    def effective_strategy(self, preset: Preset) -> GroupStrategy:
        if self.strategy:
            return self.strategy
        return preset.nested_group_strategy if self.nested else preset.group_strategy


Transform = Literal["lowercase", "uppercase", "strip", "strip_domain", "digits_only"]


#: Usernames of a file directory when ``[[usernames]]`` is absent. Only the administrator
#: writes that file, so nobody can forge a value in it; an LDAP directory has no default.
FILE_USERNAME_ATTRIBUTES = ("ipPhone", "otherIpPhone")

USERNAMES_REQUIRED = (
    "required for an LDAP directory (there is no default): add a [[usernames]] table "
    "with an attribute that users cannot write on their own entry, e.g. employeeNumber, "
    "extensionAttribute1, or ipPhone once the ACL is hardened (AD's default ACL lets every "
    "user write ipPhone, otherIpPhone, telephoneNumber and mobile on themselves)"
)


_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.;-]*$")


def _check_attribute_name(name: str) -> str:
    """The name goes into a search filter (the duplicate check): no filter syntax in it."""
    if not _ATTRIBUTE_NAME.match(name):
        raise ValueError(f"expected an attribute name such as ipPhone, got {name!r}")
    return name


class UsernameRule(_Section):
    """``[[usernames]]``: one directory attribute that yields Ringotel usernames."""

    attribute: Annotated[str, AfterValidator(_check_attribute_name)]
    transforms: tuple[Transform, ...] = ()
    multi_valued: bool = True


class ResponseSettings(_Section):
    """``[response]``: what Ringotel receives on success."""

    display_name_attribute: str | None = None
    template: str = '{"values":[{"username":"$username$","display_name":"$displayname$"}]}'


class ProtectionSettings(_Section):
    """``[protection]``: keep AD accounts from locking, secrets from being guessed, and
    the DCs from overload."""

    #: wrong passwords per login (and per account) before the bridge stops asking; each
    #: account is also held below its own directory lockout threshold
    max_failures: int = Field(5, ge=1, le=1000)
    #: sliding: a failure counts until this long after the *last* one; AD's default
    #: lockout observation window is 30 minutes
    failure_window: Duration = 1800.0
    stale_password_ttl: Duration = 900.0
    #: wrong client credentials (Basic, Bearer, token endpoint) per source address
    client_max_failures: int = Field(10, ge=1, le=10_000)
    client_failure_window: Duration = 900.0
    #: the guard's HMAC key; relative: under $STATE_DIRECTORY, else beside the config
    key_file: Path = Path("guard-key")
    max_concurrent_directory_ops: int = Field(16, ge=1, le=1024)
    user_cache_ttl: OptionalDuration = 60.0
    #: how long "this value is held by this entry alone" is believed; 0: search every time
    username_check_ttl: OptionalDuration = 300.0
    max_tracked_logins: int = Field(100_000, ge=100)


class LoggingSettings(_Section):
    """``[logging]``."""

    format: Literal["json", "console", "auto"] = "json"
    level: Literal["debug", "info", "warning", "error"] = "info"


class Settings(_Section):
    """The whole file. Frozen: a reload builds a new one."""

    server: ServerSettings = ServerSettings()
    request: RequestSettings = RequestSettings()
    client_auth: ClientAuthSettings
    directory: DirectorySettings
    groups: GroupSettings = GroupSettings()
    usernames: tuple[UsernameRule, ...] = Field((), validate_default=True)
    response: ResponseSettings = ResponseSettings()
    protection: ProtectionSettings = ProtectionSettings()
    logging: LoggingSettings = LoggingSettings()

    @field_validator("usernames")
    @classmethod
    def _usernames_chosen(
        cls, value: tuple[UsernameRule, ...], info: ValidationInfo
    ) -> tuple[UsernameRule, ...]:
        """No default for LDAP: the obvious attributes are often self-writable (see
        ``bridge.directory.presets``). A directory section that failed validation is reported on
        its own, so this check waits for it."""
        directory = info.data.get("directory")
        if not value and isinstance(directory, DirectorySettings) and directory.type == "ldap":
            raise ValueError(USERNAMES_REQUIRED)
        return value

    @property
    def username_rules(self) -> tuple[UsernameRule, ...]:
        if self.usernames:
            return self.usernames
        return tuple(UsernameRule(attribute=a) for a in FILE_USERNAME_ATTRIBUTES)

    @property
    def display_name_attribute(self) -> str:
        return self.response.display_name_attribute or self.directory.preset.display_name_attribute


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

    bind_password: Secret | None = None
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

    def key_bytes(self, path: Path) -> bytes:
        """A key file's bytes as read and checked at load time; the file is not opened
        again, so it cannot have been swapped since."""
        try:
            return self.key_files[path].reveal()
        except KeyError:
            raise ValueError(f"{path}: not a key file this configuration read") from None


@dataclass(frozen=True)
class Config:
    """Validated settings plus what they point to, resolved against the config's folder."""

    settings: Settings
    secrets: Secrets
    source: Path | None = None
    warnings: tuple[str, ...] = ()
    files: Mapping[str, Path] = field(default_factory=dict)


def load(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, validate and resolve a config file; raise ConfigError with every problem."""
    environ = os.environ if environ is None else environ
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError([Problem("", f"{path}: no such file")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem("", f"{path}: cannot read: {exc}")]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem("", f"{path}: not valid TOML: {exc}")]) from exc
    return from_mapping(raw, base_dir=path.parent, environ=environ, source=path)


def from_mapping(
    raw: Mapping[str, Any],
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
    source: Path | None = None,
) -> Config:
    """Validate an already-parsed TOML document (tests build configs this way)."""
    environ = os.environ if environ is None else environ
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_problems(exc)) from None
    resolver = _Resolver(base_dir, environ.get("CREDENTIALS_DIRECTORY"))
    secrets = resolver.secrets(settings)
    files = resolver.plain_files(settings)
    files["protection.key_file"] = _state_path(
        settings.protection.key_file, base_dir, environ.get("STATE_DIRECTORY")
    )
    if resolver.problems:
        raise ConfigError(resolver.problems)
    return Config(settings, secrets, source, tuple(resolver.warnings), files)


def _state_path(path: Path, base_dir: Path, state_directory: str | None) -> Path:
    """State the bridge writes itself: under systemd's ``StateDirectory=`` when set
    (the config folder is read-only there), else beside the config."""
    if path.is_absolute():
        return path
    if state_directory:
        return Path(state_directory.split(":")[0]) / path
    return base_dir / path


def _problems(exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        key = _dotted(error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "required key is missing"
        problems.append(Problem(key, message))
    return problems


def _dotted(loc: Sequence[int | str]) -> str:
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        elif part.startswith(("function-", "tagged-union", "is-instance")) or part in {
            "list[str]",
            "tuple[str, ...]",
        }:
            continue
        else:
            key += f".{part}" if key else part
    return key


class _Resolver:
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
        """A key file is parsed by bridge.client_auth.keys from the bytes kept here (all of them:
        keys decides about line endings); the path is only for its messages."""
        resolved = self.secret_path(path)
        data = self.read_private(key, resolved)
        if data is not None:
            self.key_files[resolved] = Secret(data)
        return resolved

    def tls_key(self, settings: ServerSettings) -> Secret | None:
        """The server's private key, kept as bytes for bridge.process.tls to load."""
        if settings.tls_key_file is None:
            return None
        data = self.read_private("server.tls_key_file", self.secret_path(settings.tls_key_file))
        return None if data is None else Secret(data)

    def secrets(self, settings: Settings) -> Secrets:
        auth = settings.client_auth
        directory = settings.directory
        bind = None
        if directory.type == "ldap" and directory.bind_dn:
            bind = self.either(
                "directory.bind_password", directory.bind_password, directory.bind_password_file
            )
            bind = self.utf8("directory.bind_password_file", bind)
        result = Secrets(bind_password=bind)
        if auth.mode == "basic":
            basic = self.either(
                "client_auth.password", auth.password, auth.password_file, MIN_CLIENT_SECRET
            )
            result = Secrets(bind_password=bind, basic_password=basic)
        elif auth.mode == "bearer":
            tokens = self.many(
                "client_auth.token",
                auth.token,
                auth.token_file,
                auth.token_files,
                MIN_CLIENT_SECRET,
            )
            result = Secrets(bind_password=bind, bearer_tokens=tokens)
        else:
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
            result = Secrets(
                bind_password=bind,
                client_secrets=secrets,
                signing_key_file=signing,
                verification_key_files=verification,
            )
        return dataclasses.replace(
            result, key_files=dict(self.key_files), tls_key=self.tls_key(settings.server)
        )

    def plain_files(self, settings: Settings) -> dict[str, Path]:
        wanted = {
            "server.tls_cert_file": settings.server.tls_cert_file,
            "server.tls_key_file": settings.server.tls_key_file,
            "directory.ca_file": settings.directory.ca_file,
            "directory.users_file": settings.directory.users_file,
        }
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
