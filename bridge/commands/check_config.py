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
from bridge.core.errors import ConfigError, DirectoryUnavailable
from bridge.core.ports import Finding, LockoutPolicy
from bridge.directory.lockout_flavors import budget_problems
from bridge.directory.options import LdapBackend
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
    directory = settings.directory
    backend = config.directory.backend
    groups = f"groups: allow {len(settings.groups.allow)}, deny {len(settings.groups.deny)}"
    if isinstance(directory, LdapDirectorySettings) and isinstance(backend, LdapBackend):
        lines += _ldap_summary(directory, backend)
        groups += f", strategy {backend.group_strategy}"
    else:
        lines.append(f"directory: file {config.files['directory.users_file']}")
    lines.append(groups)
    usernames = ", ".join(rule.attribute for rule in config.directory.username_rules)
    lines.append("usernames from: " + usernames)
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
    probe = await service.directory.probe()
    for finding in probe.servers:
        _show(finding)
    failed = probe.failed
    if not failed:
        try:
            policies = await service.directory.lockout_policies()
        except DirectoryUnavailable as exc:
            say(f"lockout:\n  FAILED: the lockout policies could not be read: {exc.detail}")
            failed = True
        else:
            failed = _lockout(service.settings, policies, probe.lockout_notes)
    failed = await _guard_store(service) or failed
    if failed:
        print("ringotel-bridge: some checks failed", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


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
