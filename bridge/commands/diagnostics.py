"""``check-config [--connect]`` and ``test-login``: answers for the administrator.

Both build the very Service that ``serve`` would run, so "configuration OK" means the
service would start, and ``test-login`` walks the same login code a request does. The
``--connect`` probes use ldap3 directly because they ask things a login never asks
(TLS details, the RootDSE, the domain lockout policy) and must report every server,
not fail over past the broken one.

Exit codes: 0 all good / accepted, 1 denied, 2 configuration error / unavailable.
Passwords are never printed, and nothing here logs them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ldap3
from cryptography import x509
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from bridge.commands.prompt import NoPassword, read_password
from bridge.config import Config, Settings
from bridge.core.answers import Answer, answer
from bridge.core.errors import ConfigError
from bridge.core.outcomes import Accepted, Outcome, Rejected, Trace
from bridge.directory import ad_schema
from bridge.directory.ldap.directory import LdapDirectory, LdapOptions
from bridge.directory.ldap.lockout import describe
from bridge.directory.ldap.transport import (
    TRANSPORT_ERRORS,
    ServerState,
    TransportFailure,
    describe_tls_error,
    entries,
    result_text,
)
from bridge.directory.lockout_flavors import budget_problems
from bridge.process.tls import check_tls
from bridge.process.wiring import Service, build_service

EXIT_OK = 0
EXIT_DENIED = 1
EXIT_FAILED = 2
#: Searched for by ``--connect``: proves the filter and base DN work, matches nobody.
DUMMY_LOGIN = "ringotel-bridge-connect-check"
_PROBE_ERRORS: tuple[type[BaseException], ...] = (
    *TRANSPORT_ERRORS,
    TransportFailure,
    LDAPException,
)


def _say(text: str = "") -> None:
    print(text, flush=True)


def _build(config: Config) -> Service | None:
    """The Service ``serve`` would run, after the same TLS check ``serve`` does."""
    try:
        check_tls(config)
        return build_service(config)
    except ConfigError as exc:
        print("ringotel-bridge: invalid configuration:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return None


# -- check-config ---------------------------------------------------------------------
async def check_config(config: Config, connect: bool) -> int:
    """Validate (building the Service, users file included); optionally probe servers."""
    service = _build(config)
    if service is None:
        return EXIT_FAILED
    try:
        _say(f"configuration OK: {config.source or '(in memory)'}")
        for line in summary(config):
            _say(f"  {line}")
        for warning in config.warnings:
            _say(f"  warning: {warning}")
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
    if directory.type == "file":
        lines.append(f"directory: file {config.files['directory.users_file']}")
    else:
        lines += _ldap_summary(settings)
    groups = f"groups: allow {len(settings.groups.allow)}, deny {len(settings.groups.deny)}"
    if directory.type == "ldap":
        groups += f", strategy {settings.groups.effective_strategy(directory.preset)}"
    lines.append(groups)
    lines.append("usernames from: " + ", ".join(r.attribute for r in settings.username_rules))
    return lines


def _ldap_summary(settings: Settings) -> list[str]:
    directory = settings.directory
    if directory.bind_dn:
        account = f"service account {directory.bind_dn} (search, then bind)"
    else:
        account = f"direct bind with {directory.bind_template}"
    return [
        f"directory: ldap, flavor {directory.flavor}",
        f"urls: {', '.join(directory.urls)}" + (" (StartTLS)" if directory.start_tls else ""),
        f"base DN: {directory.base_dn or '(none)'}",
        f"bind: {account}",
        f"user filter: {directory.effective_user_filter}",
    ]


async def _connect(service: Service) -> int:
    directory = service.directory
    if not isinstance(directory, LdapDirectory):
        ready = await directory.check()
        _say(f"{ready.server}: OK ({ready.detail})")
        return EXIT_OK
    failed = False
    for state in directory.servers.servers:
        probe = await asyncio.to_thread(probe_server, state, directory.options)
        _say(f"{state.url}:")
        for line in probe.lines:
            _say(f"  {line}")
        if probe.failures:
            failed = True
            for failure in probe.failures:
                _say(f"  FAILED: {failure}")
        else:
            _say("  OK")
    if not failed:
        failed = await _lockout(service, directory)
    if failed:
        print("ringotel-bridge: some directory checks failed", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


async def _lockout(service: Service, directory: LdapDirectory) -> bool:
    """The lockout policies the guard will follow, where it reads the counters, and
    whether the configured budget stays below every threshold."""
    protection = service.settings.protection
    policies = await directory.lockout_policies()
    _say("lockout:")
    for line in describe(policies) or ["no lockout policy readable (the budget alone guards)"]:
        _say(f"  {line}")
    if directory.lockouts is not None and directory.lockouts.flavor.pdc_emulator:
        pdc = await directory.lockouts.pdc()
        where = pdc.name if pdc else "unknown (counters are read on the configured servers)"
        _say(f"  PDC emulator (bad-password counters read there): {where}")
    _say(
        f"  protection.max_failures = {protection.max_failures}, "
        f"failure_window = {protection.failure_window:g}s"
    )
    problems = budget_problems(protection.max_failures, protection.failure_window, policies)
    for problem in problems:
        _say(f"  FAILED: {problem}")
    return bool(problems)


@dataclass
class Probe:
    """What one server said; ``failures`` empty means the server is usable."""

    url: str
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def probe_server(state: ServerState, options: LdapOptions) -> Probe:
    """Connect, show TLS, bind the service account, read the RootDSE, run the filter."""
    probe = Probe(state.url)
    try:
        connection = state.open(None, None)
    except _PROBE_ERRORS as exc:
        probe.failures.append(f"cannot connect: {_describe(exc)}")
        return probe
    try:
        _probe_connected(connection, options, probe)
    except _PROBE_ERRORS as exc:
        probe.failures.append(_describe(exc))
    finally:
        connection.unbind()
    return probe


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ssl.SSLError) or "certificate" in text.lower():
        return describe_tls_error(exc)
    return f"{type(exc).__name__}: {text}"


def _probe_connected(connection: ldap3.Connection, options: LdapOptions, probe: Probe) -> None:
    probe.lines += tls_details(connection.socket)
    if options.bind_dn is None:
        probe.lines.append("bind: no service account (direct bind mode); search skipped")
        _read_root_dse(connection, probe)
        probe.lines.append("username attributes: not checked (no service account)")
        return
    # bytes, as the secret file holds them: ldap3 would SASLprep a str (bridge.directory.passwords)
    if not connection.rebind(user=options.bind_dn, password=options.bind_password):
        probe.failures.append(
            f"service account bind failed: {result_text(connection.result)}; "
            "check directory.bind_dn and its password"
        )
        return
    probe.lines.append(f"bind: service account {options.bind_dn} OK")
    _read_root_dse(connection, probe)
    _run_user_filter(connection, options, probe)
    _username_attributes(connection, options, probe)


def tls_details(sock: object) -> list[str]:
    if not isinstance(sock, ssl.SSLSocket):
        return ["TLS: none (plain LDAP)"]
    cipher = sock.cipher()
    lines = [f"TLS: {sock.version()}, cipher {cipher[0] if cipher else '?'}"]
    der = sock.getpeercert(binary_form=True)
    if der:
        certificate = x509.load_der_x509_certificate(der)
        expires = certificate.not_valid_after_utc
        days = (expires - dt.datetime.now(dt.UTC)).days
        lines.append(f"certificate: {certificate.subject.rfc4514_string()}")
        lines.append(f"certificate expires: {expires:%Y-%m-%d %H:%M} UTC ({days} days)")
    return lines


_ROOT_DSE = (
    "namingContexts",
    "defaultNamingContext",
    "supportedLDAPVersion",
    "vendorName",
    "vendorVersion",
    "dnsHostName",
)


def _read_root_dse(connection: ldap3.Connection, probe: Probe) -> None:
    attributes = _read_entry(connection, "", list(_ROOT_DSE))
    if attributes is None:
        probe.lines.append(f"RootDSE: not readable ({result_text(connection.result)})")
        return
    for name in _ROOT_DSE:
        values = attributes.get(name)
        if values:
            probe.lines.append(f"RootDSE {name}: {', '.join(map(str, values))}")


def _read_entry(
    connection: ldap3.Connection, dn: str, attributes: Sequence[str]
) -> Mapping[str, list[Any]] | None:
    connection.search(dn, "(objectClass=*)", ldap3.BASE, attributes=list(attributes))
    matches = entries(connection)
    if not matches:
        return None
    found = matches[0].get("attributes", {})
    return {name: value if isinstance(value, list) else [value] for name, value in found.items()}


def _run_user_filter(connection: ldap3.Connection, options: LdapOptions, probe: Probe) -> None:
    search_filter = options.user_filter.replace("{login}", escape_filter_chars(DUMMY_LOGIN))
    connection.search(
        options.base_dn, search_filter, ldap3.SUBTREE, attributes=["1.1"], size_limit=2
    )
    result = connection.result or {}
    if result.get("result") not in (0, 4):
        probe.failures.append(
            f"user search under {options.base_dn!r} failed: {result_text(result)}"
        )
        return
    matches = entries(connection)
    probe.lines.append(
        f"user filter: OK, {len(matches)} entries for the dummy login {DUMMY_LOGIN!r}"
    )


def _username_attributes(connection: ldap3.Connection, options: LdapOptions, probe: Probe) -> None:
    """A username attribute users can write on themselves lets anyone claim a colleague's
    extension: one FAILED line for each (AD: judged from the schema)."""
    names = list(options.username_attributes)
    if not options.active_directory:
        probe.lines.append(
            "username attributes: not checked (OpenLDAP publishes no ACL facts); make sure "
            f"no slapd ACL gives 'by self write' on {', '.join(names)}"
        )
        return
    try:
        verdicts = ad_schema.read_verdicts(connection, names)
    except ad_schema.SchemaUnreadable as exc:
        probe.lines.append(f"username attributes: not checked (cannot read the schema: {exc})")
        return
    for verdict in verdicts:
        text = f"username attribute {verdict.attribute}: {verdict.reason}"
        if verdict.writable_by_self or not verdict.in_schema:
            probe.failures.append(text)
        else:
            probe.lines.append(text)


# -- test-login -----------------------------------------------------------------------
async def test_login(config: Config, login: str, password_stdin: bool) -> int:
    """Run one login through the real code and show what Ringotel would get, and why."""
    try:
        password = read_password(f"Password for {login}: ", from_stdin=password_stdin)
    except NoPassword as exc:
        print(f"ringotel-bridge: {exc}", file=sys.stderr)
        return EXIT_FAILED
    service = _build(config)
    if service is None:
        return EXIT_FAILED
    trace = Trace()
    deadline = config.settings.server.request_deadline
    try:
        outcome = await service.login.login(login, password, trace, deadline)
    finally:
        await service.close()
    _print_steps(login, trace)
    return _report(service, outcome)


def _print_steps(login: str, trace: Trace) -> None:
    _say(f"login: {login}")
    for step in trace.steps:
        _say(f"  {step}")


def _report(service: Service, outcome: Outcome) -> int:
    if isinstance(outcome, Accepted):
        _say("ACCEPTED")
        _say(f"  DN: {outcome.dn}")
        if outcome.server:
            _say(f"  server: {outcome.server}")
        groups = "not read (no allow/deny lists)"
        if outcome.groups is not None:
            groups = str(len(outcome.groups))
        _say(f"  groups: {groups}")
        _say(f"  usernames: {', '.join(outcome.usernames)}")
        _say(f"  display name: {outcome.display_name}")
        _ringotel_gets(answer(service.template, outcome))
        return EXIT_OK
    if isinstance(outcome, Rejected):
        _say(f"DENIED: {outcome.reason}" + (f" ({outcome.detail})" if outcome.detail else ""))
        if outcome.dn:
            _say(f"  DN: {outcome.dn}")
        _ringotel_gets(answer(service.template, outcome))
        return EXIT_DENIED
    where = f"{outcome.server}: " if outcome.server else ""
    kind = "MISCONFIGURED" if outcome.misconfigured else "UNAVAILABLE"
    _say(f"{kind}: {where}{outcome.detail}")
    _ringotel_gets(answer(service.template, outcome))
    return EXIT_FAILED


def _ringotel_gets(reply: Answer) -> None:
    """The body exactly as aiohttp's json_response serialises it."""
    _say(f"Ringotel would get HTTP {reply.status} with:")
    _say(json.dumps(reply.body))
