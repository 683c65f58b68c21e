"""What an LDAP answer means: entries, and result codes turned into the right error.

ldap3 runs with ``raise_exceptions=False``, so an answer is a result dict. Three kinds
of "no" must stay apart: this server cannot answer now (``TransportFailure``: try the
next one), only a config change fixes it (``DirectoryMisconfigured``, saying what to
set), and the answer itself (no such entry, wrong password) for the caller to read.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import ldap3

from bridge.core.errors import DirectoryMisconfigured
from bridge.core.ports import UserEntry
from bridge.directory.ldap.transport import TransportFailure

#: Result codes that mean "this server cannot answer now": try the next one.
TRANSIENT_RESULTS = frozenset({51, 52, 80, 81})  # busy, unavailable, other, server down
#: A search that found what there was: success, or sizeLimitExceeded with entries.
FOUND = (0, 4)


def entries(connection: ldap3.Connection) -> list[dict[str, Any]]:
    """The entries of the last search; referrals (searchResRef) are never followed."""
    return [r for r in connection.response or [] if r.get("type") == "searchResEntry"]


def user_entries(connection: ldap3.Connection, server: str) -> list[UserEntry]:
    """The entries of the last search as the core sees them: values as text."""
    return [to_entry(response, server) for response in entries(connection)]


def to_entry(response: Mapping[str, Any], server: str) -> UserEntry:
    attributes: dict[str, tuple[str, ...]] = {}
    for name, value in (response.get("attributes") or {}).items():
        values = value if isinstance(value, list) else [value]
        attributes[name] = tuple(_text(v) for v in values if v not in (None, b"", ""))
    return UserEntry(dn=response["dn"], attributes=attributes, server=server)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def result_text(result: Mapping[str, Any] | None) -> str:
    """``description: message``, or the description alone when the server said nothing."""
    result = result or {}
    message = str(result.get("message") or "").strip().rstrip("\x00").strip()
    description = str(result.get("description", "no result"))
    return (f"{description}: {message}" if message else description)[:200]


def check_result(connection: ldap3.Connection, what: str) -> dict[str, Any]:
    """Turn an ldap3 result into an exception when it means "server cannot answer"."""
    result: dict[str, Any] = connection.result or {}
    code = result.get("result", 0)
    if code in TRANSIENT_RESULTS:
        raise TransportFailure(f"{what}: {result.get('description')} {result.get('message', '')}")
    if code == 8:  # strongerAuthRequired
        raise DirectoryMisconfigured(
            f"{what}: the server requires transport encryption for simple binds; "
            "use an ldaps:// URL or set start_tls = true",
            str(connection.server),
        )
    return result


def found_entries(
    connection: ldap3.Connection, what: str, server: str, accepted: Collection[int] = FOUND
) -> list[dict[str, Any]]:
    """The entries of the last search. Any other result with nothing found raises,
    naming what to change when only the config can fix it."""
    result = check_result(connection, what)
    matches = entries(connection)
    if result.get("result") not in accepted and not matches:
        explain_search_failure(result, server)
    return matches


def explain_search_failure(result: Mapping[str, Any], server: str) -> None:
    """Answers only a config change fixes become DirectoryMisconfigured, saying what to set."""
    code = result.get("result")
    if code == 10:  # referral
        raise DirectoryMisconfigured(
            "the search returned a referral: base_dn is outside this server's naming "
            f"context ({_referrals(result)}); referrals are never chased: set directory.base_dn "
            "to a DN inside the domain this server holds (e.g. DC=corp,DC=example)",
            server,
        )
    if code == 32:  # noSuchObject
        raise DirectoryMisconfigured(
            f"directory.base_dn does not exist ({result_text(result)})", server
        )
    if code == 50:
        raise DirectoryMisconfigured(
            f"the service account may not search ({result_text(result)})", server
        )
    raise TransportFailure(f"search: {result_text(result)}")


def _referrals(result: Mapping[str, Any]) -> str:
    urls = result.get("referrals") or []
    return "referred to " + ", ".join(str(u) for u in urls) if urls else "no referral URL"
