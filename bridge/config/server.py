"""``[server]`` and ``[request]``: how Ringotel reaches the bridge and what it sends."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from bridge.config.durations import Duration
from bridge.config.section import Section, check_url_path

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - an explicit ":8443" means all


def _check_listen(value: str) -> str:
    parse_listen(value)
    return value


#: Validated one by one so a problem names its index: ``server.listen[1]``.
ListenAddress = Annotated[str, AfterValidator(_check_listen)]


class ServerSettings(Section):
    """``[server]``: the HTTP listeners and request limits."""

    listen: tuple[ListenAddress, ...] = ("0.0.0.0:8443",)
    tls_cert_file: Path | None = None
    #: read and checked like a secret file (bridge.config.secret_files) at load time
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
            parse_listen(value)
        return value or None

    @field_validator("auth_paths")
    @classmethod
    def _paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one path is required")
        for path in value:
            check_url_path(path)
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> ServerSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        return self

    @property
    def listen_addresses(self) -> tuple[tuple[str, int], ...]:
        return tuple(parse_listen(item) for item in self.listen)

    @property
    def ops_address(self) -> tuple[str, int] | None:
        return parse_listen(self.ops_listen) if self.ops_listen else None


class RequestSettings(Section):
    """``[request]``: the names of the fields Ringotel sends."""

    username_field: str = Field("username", min_length=1, max_length=64)
    password_field: str = Field("password", min_length=1, max_length=64)

    @model_validator(mode="after")
    def _distinct(self) -> RequestSettings:
        if self.username_field == self.password_field:
            raise ValueError("username_field and password_field must differ")
        return self
