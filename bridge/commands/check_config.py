"""``check-config [--connect]``: is this configuration what ``serve`` would run?

It builds the very Service that ``serve`` would run, after the same TLS check, so
"configuration OK" means the service would start. ``--connect`` then asks the
directory to examine each of its servers on its own (``Directory.probe``), and checks
the failure budget against the lockout policies the guard will follow, read by the
same code as at start-up. Everything shown here is formatted from what the directory
returns; nothing here speaks LDAP.

Exit codes: 0 all good, 2 configuration error or a failed check. Passwords are never
printed, and nothing here logs them.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from bridge.config import Config, LdapDirectorySettings, Settings
from bridge.config.directories import DirectorySection
from bridge.core.errors import ConfigError, DirectoryUnavailable
from bridge.core.ports import Directory, Finding, LockoutPolicy
from bridge.directory.lockout_flavors import budget_problems
from bridge.directory.options import DirectoryOptions, LdapBackend
from bridge.guard.shared_store import STORE_ERRORS, SharedStore
from bridge.process.tls import check_tls
from bridge.process.wiring import Service, build_service

EXIT_OK = 0
EXIT_FAILED = 2


def say(text: str = "") -> None:
    print(text, flush=True)


def build(config: Config) -> Service | None:
    """The Service ``serve`` would run, after the same TLS check ``serve`` does; None
    (with every problem on stderr) when it would not start."""
    try:
        check_tls(config)
        return build_service(config)
    except ConfigError as exc:
        print("ringotel-bridge: invalid configuration:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return None


async def check_config(config: Config, connect: bool) -> int:
    """Validate (building the Service, users file included); optionally probe servers."""
    service = build(config)
    if service is None:
        return EXIT_FAILED
    try:
        say(f"configuration OK: {config.source or '(in memory)'}")
        for line in summary(config):
            say(f"  {line}")
        for warning in config.warnings:
            say(f"  warning: {warning}")
        if not connect:
            return EXIT_OK
        return await _connect(service)
    finally:
        await service.close()


def summary(config: Config) -> list[str]:
    settings = config.settings
    server = settings.server
    lines = [
        f"listen: {', '.join(server.listen)} ({'TLS' if server.tls_cert_file else 'plain HTTP'})",
        f"ops listener: {server.ops_listen or 'off'}",
        f"auth paths: {', '.join(server.auth_paths)}",
        f"client auth mode: {settings.client_auth.mode}",
    ]
    several = len(config.directories) > 1
    for section, options in zip(settings.directory_sections(), config.directories, strict=True):
        found = _directory_summary(config, section, options)
        if several:
            lines.append(f"directory {options.name}:")
            found = [f"  {line}" for line in [*_routing(section, options), *found]]
        lines += found
    return lines


def _directory_summary(
    config: Config, section: DirectorySection, options: DirectoryOptions
) -> list[str]:
    directory = section.settings
    backend = options.backend
    groups = section.groups
    said = f"groups: allow {len(groups.allow)}, deny {len(groups.deny)}"
    if isinstance(directory, LdapDirectorySettings) and isinstance(backend, LdapBackend):
        lines = _ldap_summary(directory, backend)
        said += f", strategy {backend.group_strategy}"
    else:
        lines = [f"directory: file {config.files[f'{section.key}.users_file']}"]
    lines.append(said)
    usernames = ", ".join(rule.attribute for rule in options.username_rules)
    lines.append("usernames from: " + usernames)
    return lines


def _routing(section: DirectorySection, options: DirectoryOptions) -> list[str]:
    """How logins reach this directory, as the router reads its rules."""
    rules = options.routing
    lines = []
    if rules.prefixes:
        lines.append("routed here: " + ", ".join(f"{p}\\name" for p in rules.prefixes))
    if rules.suffixes:
        lines.append("routed here: " + ", ".join(f"name@{s}" for s in rules.suffixes))
    if rules.default:
        lines.append("bare names: asked here (default)")
    if section.global_catalog:
        lines.append(f"bare names: located forest-wide in {section.global_catalog}")
    return lines


def _ldap_summary(directory: LdapDirectorySettings, backend: LdapBackend) -> list[str]:
    if directory.bind_dn:
        account = f"service account {directory.bind_dn} (search, then bind)"
    else:
        account = f"direct bind with {directory.bind_template}"
    tls = " (StartTLS)" if directory.start_tls else ""
    servers = [f"urls: {', '.join(directory.urls)}{tls}"]
    if directory.domain:
        site = f"site {directory.site}" if directory.site else "site from the CLDAP ping"
        dns = ", ".join(directory.nameservers) or "the system resolver"
        servers = [
            f"domain controllers: from DNS SRV records for {directory.domain} ({site}; "
            f"asking {dns}){' over StartTLS' if directory.start_tls else ', LDAPS'}",
            f"fallback urls: {', '.join(directory.urls) or '(none)'}",
        ]
    return [
        f"directory: ldap, flavor {directory.flavor}",
        *servers,
        f"base DN: {directory.base_dn or '(none)'}",
        f"bind: {account}",
        f"user filter: {backend.user_filter}",
    ]


async def _connect(service: Service) -> int:
    failed = False
    several = len(service.members) > 1
    for member in service.members:
        if several:
            say(f"directory {member.label}:")
        probe = await member.target.probe()
        for finding in probe.servers:
            _show(finding)
        failed = probe.failed or failed
        directory = service.directories.get(member.label)
        if directory is not None and not probe.failed:
            failed = await _lockout_of(service.settings, directory, probe.lockout_notes) or failed
    failed = await _guard_store(service) or failed
    if failed:
        print("ringotel-bridge: some checks failed", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


async def _lockout_of(settings: Settings, directory: Directory, notes: Sequence[str]) -> bool:
    """The directory's lockout policies against the budget (True: a check failed)."""
    try:
        policies = await directory.lockout_policies()
    except DirectoryUnavailable as exc:
        say(f"lockout:\n  FAILED: the lockout policies could not be read: {exc.detail}")
        return True
    return _lockout(settings, policies, notes)


async def _guard_store(service: Service) -> bool:
    """A shared guard store answers PING (True: it does not)."""
    protection = service.settings.protection
    store = getattr(service.login.guard, "store", None)
    if not isinstance(store, SharedStore):
        return False
    say(f"guard store {protection.store}:")
    try:
        async with asyncio.timeout(max(1.0, protection.store_timeout * 4)):
            await store.remote.ping()
    except STORE_ERRORS as exc:
        say(f"  FAILED: {type(exc).__name__}: {exc}".rstrip(": "))
        say("  (logins would still work, each instance with its own memory and a share")
        say(f"  of every budget: 1/{protection.expected_instances})")
        return True
    say("  OK (answers PING)")
    return False


def _show(finding: Finding) -> None:
    say(f"{finding.subject}:")
    for line in finding.lines:
        say(f"  {line}")
    for failure in finding.failures:
        say(f"  FAILED: {failure}")
    if not finding.failures:
        say("  OK")


def _lockout(settings: Settings, policies: Sequence[LockoutPolicy], notes: Sequence[str]) -> bool:
    """The lockout policies the guard will follow, where it reads the counters, and
    whether the configured budget stays below every threshold (True: it does not)."""
    protection = settings.protection
    say("lockout:")
    for line in describe(policies) or ["no lockout policy readable (the budget alone guards)"]:
        say(f"  {line}")
    for note in notes:
        say(f"  {note}")
    say(
        f"  protection.max_failures = {protection.max_failures}, "
        f"failure_window = {protection.failure_window:g}s"
    )
    problems = budget_problems(protection.max_failures, protection.failure_window, policies)
    for problem in problems:
        say(f"  FAILED: {problem}")
    return bool(problems)


def describe(policies: Sequence[LockoutPolicy]) -> list[str]:
    """One line per policy."""
    lines = []
    for policy in policies:
        threshold = "never locks" if policy.threshold == 0 else f"locks at {policy.threshold}"
        if policy.threshold is None:
            threshold = "threshold not readable by the service account (guarded as the strictest)"
        window = f", window {policy.window:g}s" if policy.window else ""
        lines.append(f"lockout policy: {policy.source}: {threshold}{window}")
    return lines
