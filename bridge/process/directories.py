"""The directories of a config, built: each backend, its global catalog, its Branch.

One directory (``[directory]``) or several (``[[directories]]``) are built the same
way, one per resolved :class:`~bridge.directory.options.DirectoryOptions`: the
backend its options name (LDAP with the connection keys of its table, or a users
file), a global catalog when it names one, and the Branch the login core runs a login
in (its login rules, group lists, username rules, caches). The router is built from
their routing rules; one directory is the router with one entry.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from bridge.config import Config, LdapDirectorySettings
from bridge.core.branch import Branch, LoginPolicy
from bridge.core.errors import ConfigError, Problem
from bridge.core.groups import GroupPolicy
from bridge.core.ports import Directory, DirectoryStats, Probe, Readiness
from bridge.core.routing import Router
from bridge.core.typed_login import LoginRules
from bridge.core.unique_usernames import UniqueUsernames
from bridge.directory.ldap.catalog import GlobalCatalog
from bridge.directory.ldap.directory import LdapDirectory
from bridge.directory.ldap.discovery import DiscoverySettings
from bridge.directory.ldap.options import LdapOptions
from bridge.directory.ldap.transport import TransportOptions
from bridge.directory.locator.locator import LocatorSettings
from bridge.directory.locator.srv import parse_nameserver
from bridge.directory.options import DirectoryOptions, FileBackend, LdapBackend
from bridge.observability.metrics import Metrics


class Examined(Protocol):
    """What the ops endpoints and ``check-config`` ask of a directory or a catalog."""

    async def check(self) -> Readiness: ...

    async def probe(self) -> Probe: ...

    def stats(self) -> DirectoryStats: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Member:
    """A directory, or a directory's global catalog, as the administrator sees it."""

    #: the directory's name
    directory: str
    #: what it is shown as: the name, or "NAME (global catalog)"
    label: str
    target: Examined


def build_directory(
    config: Config, options: DirectoryOptions | None = None, metrics: Metrics | None = None
) -> Directory:
    """The backend ``options`` names (default: the config's one directory)."""
    options = options or _only(config)
    backend = options.backend
    if isinstance(backend, FileBackend):
        from bridge.directory.file import FileDirectory

        try:
            return FileDirectory.load(backend.users_file, options)
        except ConfigError as exc:
            raise _under(exc, options.key) from None
    ldap_options = ldap_options_for(config, options, backend)
    failures = metrics.discovery_failures.labels(options.name).inc if metrics else None
    try:
        return LdapDirectory(
            ldap_options,
            on_operation=observer(metrics, options.name),
            on_discovery_failure=failures,
        )
    except (ssl.SSLError, OSError) as exc:
        problem = f"cannot load CA certificates from {ldap_options.transport.ca_file}: {exc}"
        raise ConfigError([Problem(f"{options.key}.ca_file", problem)]) from None


def build_catalog(
    config: Config, options: DirectoryOptions, metrics: Metrics | None = None
) -> GlobalCatalog | None:
    """The directory's global catalog, if it names one: its servers, found with the
    directory's service account, TLS settings and user filter, under the forest root."""
    backend = options.backend
    if not isinstance(backend, LdapBackend) or backend.global_catalog is None:
        return None
    catalog = replace(
        ldap_options_for(config, options, backend),
        urls=(backend.global_catalog,),
        base_dn="",
        attributes=(),
        username_attributes=(),
        discovery=None,  # the catalog is the url configured for it
    )
    return GlobalCatalog(catalog, on_operation=observer(metrics, options.name))


def ldap_options_for(
    config: Config, options: DirectoryOptions, backend: LdapBackend
) -> LdapOptions:
    """The LDAP backend's options: the resolved ones, and the connection keys of the
    directory's own table as they are."""
    section = next(s for s in config.settings.directory_sections() if s.name == options.name)
    directory = section.settings
    assert isinstance(directory, LdapDirectorySettings)  # one section made both
    ca_file = config.files.get(f"{options.key}.ca_file")
    password = config.secrets.bind_passwords.get(options.name)
    return LdapOptions(
        urls=directory.urls,
        transport=TransportOptions(
            start_tls=directory.start_tls,
            ca_file=str(ca_file) if ca_file else None,
            tls_server_name=directory.tls_server_name,
            connect_timeout=directory.connect_timeout,
            operation_timeout=directory.operation_timeout,
            pool_size=backend.pool_size,
            max_age=directory.connection_max_age,
            cooldown=directory.server_cooldown,
        ),
        base_dn=directory.base_dn,
        user_filter=backend.user_filter,
        bind_dn=directory.bind_dn,
        bind_password=password.reveal() if password else None,
        bind_template=directory.bind_template,
        attributes=backend.attributes,
        group_strategy=backend.group_strategy,
        preset=backend.preset,
        password_policy_dn=directory.password_policy_dn,
        needs_groups=options.needs_groups,
        username_attributes=options.username_attributes,
        page_size=directory.page_size,
        max_concurrent=config.settings.protection.max_concurrent_directory_ops,
        discovery=discovery_settings(directory),
    )


def discovery_settings(directory: LdapDirectorySettings) -> DiscoverySettings | None:
    """The directory's ``domain``: DCs from DNS, site first, the configured urls last."""
    if not directory.domain:
        return None
    locator = LocatorSettings(
        domain=directory.domain,
        site=directory.site,
        nameservers=tuple(parse_nameserver(text) for text in directory.nameservers),
        start_tls=directory.start_tls,
        timeout=directory.connect_timeout,
        urls=directory.urls,
    )
    return DiscoverySettings(locator, directory.dns_min_ttl, directory.dns_max_ttl)


def build_branch(
    config: Config,
    options: DirectoryOptions,
    directory: Directory,
    metrics: Metrics | None,
    clock: Callable[[], float] = time.monotonic,
) -> Branch:
    """The directory as the login core runs a login in it: its own policy and caches."""
    settings = config.settings
    policy = LoginPolicy(
        rules=LoginRules(
            accept_domain_prefix=options.accept_domain_prefix,
            domain_names=options.domain_names,
            max_length=settings.server.max_field_length,
        ),
        group_policy=GroupPolicy.from_dns(options.group_allow, options.group_deny),
        username_rules=options.username_rules,
        display_name_attribute=options.display_name_attribute,
        password_expiry_warning=options.password_expiry_warning,
    )
    protection = settings.protection
    unique = UniqueUsernames(
        directory,
        policy.username_rules,
        ttl=protection.username_check_ttl,
        clock=clock,
        on_drop=_drop_counter(metrics),
    )
    return Branch(
        options.name,
        directory,
        policy,
        unique,
        user_cache_ttl=protection.user_cache_ttl,
        clock=clock,
    )


def build_router(config: Config) -> Router:
    return Router([options.routing for options in config.directories])


def members(
    directories: Mapping[str, Directory], catalogs: Mapping[str, GlobalCatalog]
) -> Sequence[Member]:
    """Every directory, each followed by its global catalog, in the file's order."""
    found = []
    for name, directory in directories.items():
        found.append(Member(name, name, directory))
        if name in catalogs:
            found.append(Member(name, f"{name} (global catalog)", catalogs[name]))
    return found


def observer(
    metrics: Metrics | None, directory: str
) -> Callable[[str, str, float, str], None] | None:
    if metrics is None:
        return None

    def observe(server: str, operation: str, seconds: float, result: str) -> None:
        metrics.directory_latency_of(directory, server, operation, result).observe(seconds)

    return observe


def _drop_counter(metrics: Metrics | None) -> Callable[[str], None] | None:
    if metrics is None:
        return None
    return lambda reason: metrics.usernames_dropped.labels(reason).inc()


def _only(config: Config) -> DirectoryOptions:
    if len(config.directories) != 1:
        raise ValueError("this config has several directories: say which one")
    return config.directories[0]


def _under(exc: ConfigError, key: str) -> ConfigError:
    """A users file's problems, under the key of the directory that names the file."""
    if key == "directory":
        return exc
    return ConfigError(
        [
            Problem(key + problem.key.removeprefix("directory"), problem.message)
            if problem.key.startswith("directory.")
            else problem
            for problem in exc.problems
        ]
    )
