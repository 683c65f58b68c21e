"""The composition root: a loaded Config becomes a working Service.

A Service is immutable once built; a reload builds a new one and swaps it in, so
requests in flight finish with the objects they started with.
"""

from __future__ import annotations

import secrets
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from bridge.client_auth.keys import KeyMaterialError, load_signing_material
from bridge.client_auth.modes import BasicAuth, BearerAuth, ClientAuthenticator, OAuth2Auth
from bridge.client_auth.token_endpoint import ClientRegistry
from bridge.client_auth.tokens import TokenService
from bridge.config import Config, LdapDirectorySettings, Settings
from bridge.core import template as response
from bridge.core.errors import ConfigError, Problem
from bridge.core.groups import GroupCache, GroupPolicy
from bridge.core.login import LoginPolicy, LoginService
from bridge.core.ports import AttributeVerdict, Directory
from bridge.core.typed_login import LoginRules
from bridge.core.unique_usernames import UniqueUsernames
from bridge.directory.ldap.directory import LdapDirectory
from bridge.directory.ldap.discovery import DiscoverySettings
from bridge.directory.ldap.options import LdapOptions
from bridge.directory.ldap.transport import TransportOptions
from bridge.directory.locator.locator import LocatorSettings
from bridge.directory.locator.srv import parse_nameserver
from bridge.directory.lockout_flavors import budget_problems
from bridge.directory.options import FileBackend
from bridge.guard import Guard, GuardLimits, GuardStore, MemoryStore
from bridge.guard.key import KeyFileError, load_or_create
from bridge.guard.redis_store import RedisStore, connect
from bridge.guard.shared_store import SharedStore
from bridge.observability.metrics import Metrics

_log = structlog.get_logger("bridge.process.wiring")


@dataclass
class OAuth2Issuer:
    """The token endpoint's parts (oauth2 mode only); failures are limited per source
    address by the Runtime's guard, not here."""

    tokens: TokenService
    registry: ClientRegistry


@dataclass
class Service:
    """Everything one request needs, built from one config."""

    config: Config
    directory: Directory
    login: LoginService
    client_auth: ClientAuthenticator
    template: Any  # parsed JSON: bridge.core.template documents its shape
    oauth2: OAuth2Issuer | None = None

    @property
    def settings(self) -> Settings:
        return self.config.settings

    async def close(self) -> None:
        await self.directory.close()


def build_directory(config: Config, metrics: Metrics | None = None) -> Directory:
    """The backend the resolved options name; the LDAP one also takes the connection
    keys of ``[directory]`` as they are."""
    options = config.directory
    backend = options.backend
    if isinstance(backend, FileBackend):
        from bridge.directory.file import FileDirectory

        return FileDirectory.load(backend.users_file, options)
    directory = config.settings.directory
    assert isinstance(directory, LdapDirectorySettings)  # one section made both
    ldap_options = LdapOptions(
        urls=directory.urls,
        transport=TransportOptions(
            start_tls=directory.start_tls,
            ca_file=str(config.files["directory.ca_file"]) if directory.ca_file else None,
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
        bind_password=(
            config.secrets.bind_password.reveal() if config.secrets.bind_password else None
        ),
        bind_template=directory.bind_template,
        attributes=backend.attributes,
        group_strategy=backend.group_strategy,
        preset=backend.preset,
        password_policy_dn=directory.password_policy_dn,
        needs_groups=options.needs_groups,
        username_attributes=options.username_attributes,
        page_size=directory.page_size,
        max_concurrent=config.settings.protection.max_concurrent_directory_ops,
        discovery=_discovery(config.settings),
    )
    try:
        return LdapDirectory(
            ldap_options,
            on_operation=_observer(metrics),
            on_discovery_failure=(metrics.discovery_failures.inc if metrics else None),
        )
    except (ssl.SSLError, OSError) as exc:
        problem = f"cannot load CA certificates from {ldap_options.transport.ca_file}: {exc}"
        raise ConfigError([Problem("directory.ca_file", problem)]) from None


def _discovery(settings: Settings) -> DiscoverySettings | None:
    """``[directory] domain``: DCs from DNS, site first, the configured urls last."""
    directory = settings.directory
    if not isinstance(directory, LdapDirectorySettings) or not directory.domain:
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


def _observer(metrics: Metrics | None) -> Callable[[str, str, float, str], None] | None:
    if metrics is None:
        return None

    def observe(server: str, operation: str, seconds: float, result: str) -> None:
        metrics.directory_latency_of(server, operation, result).observe(seconds)

    return observe


def _drop_counter(metrics: Metrics | None) -> Callable[[str], None] | None:
    if metrics is None:
        return None
    return lambda reason: metrics.usernames_dropped.labels(reason).inc()


def build_client_auth(config: Config) -> tuple[ClientAuthenticator, OAuth2Issuer | None]:
    """The authenticator for the configured mode, plus the token endpoint's parts."""
    auth = config.settings.client_auth
    secrets = config.secrets
    if auth.mode == "basic":
        assert secrets.basic_password is not None
        basic = BasicAuth(auth.basic_username.encode(), (secrets.basic_password.reveal(),))
        return basic, None
    if auth.mode == "bearer":
        tokens = tuple(s.reveal() for s in secrets.bearer_tokens)
        return BearerAuth(tokens, auth.client_id), None
    assert secrets.signing_key_file is not None
    try:
        keys = load_signing_material(
            auth.signing_algorithm,
            secrets.signing_key_file,
            secrets.verification_key_files,
            read=secrets.key_bytes,  # the bytes checked at load time, not the files again
        )
    except KeyMaterialError as exc:
        raise ConfigError([Problem("client_auth.signing_key_file", str(exc))]) from None
    service = TokenService(
        keys,
        issuer=auth.issuer,
        audience=auth.audience,
        ttl=auth.token_ttl,
        leeway=auth.token_leeway,
    )
    registry = ClientRegistry(auth.client_id, [s.reveal() for s in secrets.client_secrets])
    return OAuth2Auth(service), OAuth2Issuer(service, registry)


def guard_limits(settings: Settings) -> GuardLimits:
    protection = settings.protection
    return GuardLimits(
        max_failures=protection.max_failures,
        failure_window=protection.failure_window,
        stale_ttl=protection.stale_password_ttl,
        client_max_failures=protection.client_max_failures,
        client_window=protection.client_failure_window,
    )


def build_guard(config: Config, key: bytes | None = None, workers: int = 1) -> Guard:
    """The guard for ``config``; without ``key`` an ephemeral one (commands, tests).

    With ``store = "memory"`` its memory is this process's: with ``workers`` processes
    each gets 1/N of every budget, so together they never give the directory more than
    the budget. With a shared store every process of every instance shares it, and
    falls back to its own memory (with 1/N per instance) while the store is down."""
    protection = config.settings.protection
    local = MemoryStore(protection.max_tracked_logins, share=workers)
    store: GuardStore = local
    if protection.store != "memory":
        password = config.secrets.store_password
        ca_file = config.files.get("protection.store_ca_file")
        client = connect(
            protection.store,
            password.reveal() if password else None,
            str(ca_file) if ca_file else None,
            protection.store_timeout,
        )
        store = SharedStore(
            RedisStore(client),
            local,
            expected_instances=protection.expected_instances,
            timeout=protection.store_timeout,
        )
    return Guard(store, key or secrets.token_bytes(32), guard_limits(config.settings))


def load_guard(config: Config, workers: int = 1) -> Guard:
    """The serving process's guard, keyed from ``protection.key_file`` (made if absent)."""
    path = config.files["protection.key_file"]
    try:
        key = load_or_create(path)
    except KeyFileError as exc:
        raise ConfigError([Problem("protection.key_file", str(exc))]) from None
    return build_guard(config, key, workers)


def build_service(
    config: Config,
    metrics: Metrics | None = None,
    guard: Guard | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Service:
    """The Service for ``config``; ``clock`` drives its caches (tests pass a fake one)."""
    settings = config.settings
    try:
        template = response.parse_template(settings.response.template)
    except response.TemplateError as exc:
        raise ConfigError([Problem("response.template", str(exc))]) from None
    client_auth, oauth2 = build_client_auth(config)
    directory = build_directory(config, metrics)
    protection = settings.protection
    resolved = config.directory
    policy = LoginPolicy(
        rules=LoginRules(
            accept_domain_prefix=resolved.accept_domain_prefix,
            domain_names=resolved.domain_names,
            max_length=settings.server.max_field_length,
        ),
        group_policy=GroupPolicy.from_dns(settings.groups.allow, settings.groups.deny),
        username_rules=resolved.username_rules,
        display_name_attribute=resolved.display_name_attribute,
        password_expiry_warning=resolved.password_expiry_warning,
    )
    login = LoginService(
        directory,
        policy,
        guard or build_guard(config),
        GroupCache(settings.groups.cache_ttl, settings.groups.cache_size),
        user_cache_ttl=protection.user_cache_ttl,
        clock=clock,
        unique=UniqueUsernames(
            directory,
            policy.username_rules,
            ttl=protection.username_check_ttl,
            clock=clock,
            on_drop=_drop_counter(metrics),
        ),
    )
    return Service(config, directory, login, client_auth, template, oauth2)


async def check_lockout_budget(service: Service) -> list[str]:
    """Warn when the failure budget or window would let the bridge lock accounts.

    Reads every lockout policy the service account can see (the domain's, each PSO's;
    OpenLDAP's ppolicy entries) and returns the problems found; the guard holds each
    account below its own threshold anyway, so these are warnings at start-up.
    """
    policies = await service.directory.lockout_policies()
    protection = service.settings.protection
    problems = budget_problems(protection.max_failures, protection.failure_window, policies)
    for problem in problems:
        _log.warning(
            "lockout_budget_too_high",
            max_failures=protection.max_failures,
            failure_window=protection.failure_window,
            reason=problem,
        )
    return problems


async def check_username_attributes(service: Service) -> list[AttributeVerdict]:
    """Warn about each username attribute users may write on their own account.

    Such an attribute lets anyone claim a colleague's extension (the duplicate check
    keeps the value from both, which still takes it from the colleague). Judged from
    the AD schema; OpenLDAP publishes no such facts, so there it is not checked.
    """
    verdicts = await service.directory.username_attribute_verdicts()
    for verdict in verdicts:
        if verdict.writable_by_self:
            _log.warning(
                "username_attribute_self_writable",
                attribute=verdict.attribute,
                reason=verdict.reason,
            )
        elif not verdict.in_schema:
            _log.warning(
                "username_attribute_not_in_schema",
                attribute=verdict.attribute,
                reason=verdict.reason,
            )
    return verdicts
