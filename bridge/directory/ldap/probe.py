"""``check-config --connect``: every configured server examined on its own.

A login fails over past a broken server; the administrator must hear about each one.
So each server gets a fresh connection of its own (not a pooled one, no failover) and
is asked what a login never asks: which TLS version and certificate, what its RootDSE
says, whether the user filter runs under base_dn (a dry run with a login that matches
nobody), and which username attributes users may write on themselves. The filter and
the verdicts come from the same code the directory uses for logins and at start-up.
"""

from __future__ import annotations

import ldap3
from ldap3.core.exceptions import LDAPException

from bridge.core.attributes import values
from bridge.core.errors import DirectoryUnavailable
from bridge.core.ports import Finding
from bridge.directory import ad_schema
from bridge.directory.ldap import filters
from bridge.directory.ldap.options import LdapOptions
from bridge.directory.ldap.results import found_entries, result_text, user_entries
from bridge.directory.ldap.tls import describe_failure, tls_details
from bridge.directory.ldap.transport import (
    TRANSPORT_ERRORS_AND_FAILURES,
    ServerState,
    close_connection,
)

#: Searched for by the dry run: proves the filter and base DN work, matches nobody.
DUMMY_LOGIN = "ringotel-bridge-connect-check"
ROOT_DSE = (
    "namingContexts",
    "defaultNamingContext",
    "supportedLDAPVersion",
    "vendorName",
    "vendorVersion",
    "dnsHostName",
)
_ERRORS: tuple[type[BaseException], ...] = (
    *TRANSPORT_ERRORS_AND_FAILURES,
    LDAPException,
    DirectoryUnavailable,
)

#: What the dry run may raise: a failure of the search (a filter ldap3 cannot parse,
#: a base_dn outside the naming context), said as such.
_SEARCH_FAILURES: tuple[type[BaseException], ...] = (
    DirectoryUnavailable,
    LDAPException,
    *TRANSPORT_ERRORS_AND_FAILURES,
)


class _Report:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.failures: list[str] = []


def probe_server(server: ServerState, options: LdapOptions) -> Finding:
    """Connect, show TLS, bind the service account, read the RootDSE, run the filter,
    judge the username attributes. Blocks: run it in a thread."""
    report = _Report()
    try:
        connection = server.open(None, None)
    except _ERRORS as exc:
        return Finding(server.url, failures=(f"cannot connect: {describe_failure(exc)}",))
    try:
        _probe_connected(connection, server, options, report)
    except _ERRORS as exc:
        report.failures.append(describe_failure(exc))
    finally:
        close_connection(connection)
    return Finding(server.url, tuple(report.lines), tuple(report.failures))


def _probe_connected(
    connection: ldap3.Connection, server: ServerState, options: LdapOptions, report: _Report
) -> None:
    report.lines += tls_details(connection.socket)
    if options.bind_dn is None:
        report.lines.append("bind: no service account (direct bind mode); search skipped")
        _root_dse(connection, server, report)
        report.lines.append("username attributes: not checked (no service account)")
        return
    # bytes, as the secret file holds them: ldap3 would SASLprep a str (directory.passwords)
    if not connection.rebind(user=options.bind_dn, password=options.bind_password):
        report.failures.append(
            f"service account bind failed: {result_text(connection.result)}; "
            "check directory.bind_dn and its password"
        )
        return
    report.lines.append(f"bind: service account {options.bind_dn} OK")
    _root_dse(connection, server, report)
    _dry_run(connection, server, options, report)
    _username_attributes(connection, options, report)


def _root_dse(connection: ldap3.Connection, server: ServerState, report: _Report) -> None:
    connection.search("", "(objectClass=*)", ldap3.BASE, attributes=list(ROOT_DSE))
    found = user_entries(connection, server.name)
    if not found:
        report.lines.append(f"RootDSE: not readable ({result_text(connection.result)})")
        return
    for name in ROOT_DSE:
        said = values(found[0].attributes, name)
        if said:
            report.lines.append(f"RootDSE {name}: {', '.join(said)}")


def _dry_run(
    connection: ldap3.Connection, server: ServerState, options: LdapOptions, report: _Report
) -> None:
    """The login's own search, with a login that matches nobody."""
    search_filter = filters.user_filter(options.user_filter, DUMMY_LOGIN)
    try:
        connection.search(
            options.base_dn, search_filter, ldap3.SUBTREE, attributes=["1.1"], size_limit=2
        )
        matches = found_entries(connection, "user search", server.name)
    except _SEARCH_FAILURES as exc:
        report.failures.append(f"user search under {options.base_dn!r} failed: {exc}")
        return
    report.lines.append(
        f"user filter: OK, {len(matches)} entries for the dummy login {DUMMY_LOGIN!r}"
    )


def _username_attributes(
    connection: ldap3.Connection, options: LdapOptions, report: _Report
) -> None:
    """A username attribute users can write on themselves lets anyone claim a colleague's
    extension: one failure for each (AD: judged from the schema)."""
    names = list(options.username_attributes)
    if not names:  # a global catalog: only DNs are read there
        return
    acl = options.preset.username_acl
    if not acl.from_ad_schema:
        manual = acl.manual_check.format(attributes=", ".join(names))
        report.lines.append(f"username attributes: {manual}")
        return
    try:
        verdicts = ad_schema.read_verdicts(connection, names)
    except ad_schema.SchemaUnreadable as exc:
        report.lines.append(f"username attributes: not checked (cannot read the schema: {exc})")
        return
    for verdict in verdicts:
        text = f"username attribute {verdict.attribute}: {verdict.reason}"
        if verdict.writable_by_self or not verdict.in_schema:
            report.failures.append(text)
        else:
            report.lines.append(text)
