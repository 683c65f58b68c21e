"""The composition root: a loaded Config becomes a working Service.

A Service is immutable once built; a reload builds a new one and swaps it in, so
requests in flight finish with the objects they started with.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from bridge import response
from bridge.client_auth import BasicAuth, BearerAuth, ClientAuthenticator, OAuth2Auth
from bridge.config import Config, Settings
from bridge.directory.base import Directory
from bridge.directory.ldap import LdapDirectory, LdapOptions
from bridge.directory.ldap_transport import TransportOptions
from bridge.errors import ConfigError, Problem
from bridge.groups import GroupCache, GroupPolicy
from bridge.login import LoginPolicy, LoginService
from bridge.logins import LoginRules
from bridge.oauth import ClientFailureLimiter, ClientRegistry
from bridge.observability.metrics import Metrics
from bridge.throttle import Throttle, lockout_budget_problem
from bridge.tokens import InvalidToken, KeyMaterialError, TokenService, load_signing_material
from bridge.usernames import Rule

_log = structlog.get_logger("bridge.service")


@dataclass
class OAuth2Issuer:
    """The token endpoint's parts (oauth2 mode only)."""

    tokens: TokenService
    registry: ClientRegistry
    limiter: ClientFailureLimiter


@dataclass
class Service:
    """Everything one request needs, built from one config."""

    config: Config
    directory: Directory
    login: LoginService
    client_auth: ClientAuthenticator
    template: Any  # parsed JSON: bridge.response documents its shape
    oauth2: OAuth2Issuer | None = None

    @property
    def settings(self) -> Settings:
        return self.config.settings

    async def close(self) -> None:
        await self.directory.close()


def build_directory(config: Config, metrics: Metrics | None = None) -> Directory:
    settings = config.settings
    directory = settings.directory
    if directory.type == "file":
        from bridge.directory.file import FileDirectory

        return FileDirectory.from_config(config)
    options = LdapOptions(
        urls=directory.urls,
        transport=TransportOptions(
            start_tls=directory.start_tls,
            ca_file=str(config.files["directory.ca_file"]) if directory.ca_file else None,
            tls_server_name=directory.tls_server_name,
            connect_timeout=directory.connect_timeout,
            operation_timeout=directory.operation_timeout,
            pool_size=directory.pool_size or settings.protection.max_concurrent_directory_ops,
            max_age=directory.connection_max_age,
            cooldown=directory.server_cooldown,
        ),
        base_dn=directory.base_dn,
        user_filter=directory.effective_user_filter,
        bind_dn=directory.bind_dn,
        bind_password=(
            config.secrets.bind_password.reveal() if config.secrets.bind_password else None
        ),
        bind_template=directory.bind_template,
        attributes=_attributes(settings),
        group_strategy=settings.groups.effective_strategy(directory.preset),
        active_directory=directory.flavor == "active_directory",
        password_policy_control=directory.preset.password_policy_control,
        needs_groups=bool(settings.groups.allow or settings.groups.deny),
        page_size=directory.page_size,
        max_concurrent=settings.protection.max_concurrent_directory_ops,
    )
    try:
        ldap = LdapDirectory(options, on_operation=_observer(metrics))
    except (ssl.SSLError, OSError) as exc:
        problem = f"cannot load CA certificates from {options.transport.ca_file}: {exc}"
        raise ConfigError([Problem("directory.ca_file", problem)]) from None
    if metrics is not None:
        ldap.servers.on_state = lambda server, up: metrics.server_up.labels(server.name).set(
            int(up)
        )
    return ldap


def _observer(metrics: Metrics | None) -> Callable[[str, str, float, str], None] | None:
    if metrics is None:
        return None

    def observe(server: str, operation: str, seconds: float, result: str) -> None:
        metrics.directory_latency.labels(server, operation, result).observe(seconds)

    return observe


def _attributes(settings: Settings) -> tuple[str, ...]:
    names = [rule.attribute for rule in settings.username_rules]
    names.append(settings.display_name_attribute)
    names += list(settings.directory.effective_login_attributes)
    if settings.directory.accept_mail:
        names.append(settings.directory.mail_attribute)
    return tuple(dict.fromkeys(names))


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
    limiter = ClientFailureLimiter(auth.max_failures, auth.failure_window)
    return OAuth2Auth(_TokenClient(service)), OAuth2Issuer(service, registry, limiter)


@dataclass(frozen=True)
class _TokenClient:
    service: TokenService

    def verify_client(self, token: str) -> str:
        try:
            return str(self.service.verify(token).client_id)
        except InvalidToken as exc:
            raise ValueError(exc.reason) from None


def build_service(config: Config, metrics: Metrics | None = None) -> Service:
    settings = config.settings
    try:
        template = response.parse_template(settings.response.template)
    except response.TemplateError as exc:
        raise ConfigError([Problem("response.template", str(exc))]) from None
    client_auth, oauth2 = build_client_auth(config)
    directory = build_directory(config, metrics)
    protection = settings.protection
    policy = LoginPolicy(
        rules=LoginRules(
            accept_domain_prefix=settings.directory.effective_accept_domain_prefix,
            domain_names=settings.directory.domain_names,
            max_length=settings.server.max_field_length,
        ),
        group_policy=GroupPolicy.from_dns(settings.groups.allow, settings.groups.deny),
        username_rules=tuple(
            Rule(r.attribute, r.transforms, r.multi_valued) for r in settings.username_rules
        ),
        display_name_attribute=settings.display_name_attribute,
    )
    login = LoginService(
        directory,
        policy,
        Throttle(
            protection.max_failures,
            protection.failure_window,
            protection.stale_password_ttl,
            maxsize=protection.max_tracked_logins,
        ),
        GroupCache(settings.groups.cache_ttl, settings.groups.cache_size),
        user_cache_ttl=protection.user_cache_ttl,
    )
    return Service(config, directory, login, client_auth, template, oauth2)


async def check_lockout_budget(service: Service) -> int | None:
    """Warn when the failure budget would let the bridge lock AD accounts.

    Reads the domain's lockoutThreshold (a directory without one, or one the service
    account cannot read, is skipped) and returns it.
    """
    directory = service.directory
    if not isinstance(directory, LdapDirectory) or not directory.options.active_directory:
        return None
    threshold = await directory.lockout_threshold()
    budget = service.settings.protection.max_failures
    problem = lockout_budget_problem(budget, threshold)
    if problem:
        _log.warning(
            "lockout_budget_too_high",
            lockout_threshold=threshold,
            max_failures=budget,
            reason=problem,
        )
    return threshold
