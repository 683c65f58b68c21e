"""The composition root: a loaded Config becomes a working Service.

A Service is immutable once built; a reload builds a new one and swaps it in, so
requests in flight finish with the objects they started with.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from bridge.client_auth.keys import KeyMaterialError, load_signing_material
from bridge.client_auth.modes import BasicAuth, BearerAuth, ClientAuthenticator, OAuth2Auth
from bridge.client_auth.token_endpoint import ClientRegistry
from bridge.client_auth.tokens import TokenService
from bridge.config import Config, Settings
from bridge.core import template as response
from bridge.core.errors import ConfigError, Problem
from bridge.core.groups import GroupCache
from bridge.core.login import LoginService
from bridge.core.ports import AttributeVerdict, Directory
from bridge.directory.ldap.catalog import GlobalCatalog
from bridge.directory.lockout_flavors import budget_problems
from bridge.guard import Guard, GuardLimits, GuardStore, MemoryStore
from bridge.guard.key import KeyFileError, load_or_create
from bridge.guard.redis_store import RedisStore, connect
from bridge.guard.shared_store import SharedStore
from bridge.observability.metrics import Metrics
from bridge.process.directories import (
    Member,
    build_branch,
    build_catalog,
    build_directory,
    build_router,
    members,
)

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
    #: every directory by name, in the file's order (``[directory]``: one, "default")
    directories: Mapping[str, Directory]
    login: LoginService
    client_auth: ClientAuthenticator
    template: Any  # parsed JSON: bridge.core.template documents its shape
    oauth2: OAuth2Issuer | None = None
    #: global catalogs, by the name of the directory that names one
    catalogs: Mapping[str, GlobalCatalog] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.config.settings

    @property
    def directory(self) -> Directory:
        """The directory of a config with exactly one (commands and tests)."""
        if len(self.directories) != 1:
            raise LookupError("several directories: pick one from Service.directories")
        return next(iter(self.directories.values()))

    @property
    def members(self) -> Sequence[Member]:
        """Every directory and catalog, for readiness, metrics and check-config."""
        return members(self.directories, self.catalogs)

    async def close(self) -> None:
        for member in self.members:
            await member.target.close()


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
    directories: dict[str, Directory] = {}
    catalogs: dict[str, GlobalCatalog] = {}
    branches = []
    for options in config.directories:  # nothing connects before the first use
        directory = build_directory(config, options, metrics)
        directories[options.name] = directory
        branches.append(build_branch(config, options, directory, metrics, clock))
        catalog = build_catalog(config, options, metrics)
        if catalog is not None:
            catalogs[options.name] = catalog
    groups = settings.groups
    login = LoginService(
        branches,
        guard or build_guard(config),
        GroupCache(groups.cache_ttl, groups.cache_size, clock=clock),
        build_router(config),
        catalogs,
    )
    return Service(config, directories, login, client_auth, template, oauth2, catalogs)


async def check_lockout_budget(service: Service) -> list[str]:
    """Warn when the failure budget or window would let the bridge lock accounts.

    Reads every lockout policy the service account can see (the domain's, each PSO's;
    OpenLDAP's ppolicy entries) and returns the problems found; the guard holds each
    account below its own threshold anyway, so these are warnings at start-up.
    """
    protection = service.settings.protection
    found = []
    for name, directory in service.directories.items():
        policies = await directory.lockout_policies()
        problems = budget_problems(protection.max_failures, protection.failure_window, policies)
        for problem in problems:
            _log.warning(
                "lockout_budget_too_high",
                directory=name,
                max_failures=protection.max_failures,
                failure_window=protection.failure_window,
                reason=problem,
            )
        found += problems
    return found


async def check_username_attributes(service: Service) -> list[AttributeVerdict]:
    """Warn about each username attribute users may write on their own account.

    Such an attribute lets anyone claim a colleague's extension (the duplicate check
    keeps the value from both, which still takes it from the colleague). Judged from
    the AD schema; OpenLDAP publishes no such facts, so there it is not checked.
    """
    found = []
    for name, directory in service.directories.items():
        verdicts = await directory.username_attribute_verdicts()
        for verdict in verdicts:
            if verdict.writable_by_self:
                _log.warning(
                    "username_attribute_self_writable",
                    directory=name,
                    attribute=verdict.attribute,
                    reason=verdict.reason,
                )
            elif not verdict.in_schema:
                _log.warning(
                    "username_attribute_not_in_schema",
                    directory=name,
                    attribute=verdict.attribute,
                    reason=verdict.reason,
                )
        found += verdicts
    return found
