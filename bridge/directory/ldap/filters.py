"""Every LDAP search filter the bridge sends is built here, each value escaped once.

RFC 4515: in a filter value ``\\``, ``*``, ``(``, ``)`` and NUL must be written as
``\\5c``, ``\\2a``, ``\\28``, ``\\29``, ``\\00``; binary values (SIDs) byte by byte. A
login such as ``star*user`` must match that one entry and not everyone whose name
starts with ``star``; escaping it twice would match nobody. So the templates from the
config (``user_filter``) are filled here, and the values come in raw.

Pure code: the directory, the check-config probe and the presets (AD's self filter)
all use it.
"""

from __future__ import annotations

from collections.abc import Iterable

#: The OID of AD's LDAP_MATCHING_RULE_IN_CHAIN: nested membership in one search.
IN_CHAIN = "1.2.840.113556.1.4.1941"

_ESCAPES = str.maketrans({"\\": r"\5c", "*": r"\2a", "(": r"\28", ")": r"\29", "\x00": r"\00"})


def escape(value: str) -> str:
    """A text value for a filter (RFC 4515 3)."""
    return value.translate(_ESCAPES)


def escape_bytes(raw: bytes) -> str:
    """A binary value for a filter: every byte as ``\\xx``."""
    return "".join(f"\\{b:02x}" for b in raw)


def user_filter(template: str, login: str) -> str:
    """The configured user filter with ``{login}`` filled in, escaped."""
    return template.replace("{login}", escape(login))


def any_of(terms: Iterable[str]) -> str:
    """``(|...)`` of ``terms``; one term stands alone. Empty: no filter at all."""
    listed = list(terms)
    if len(listed) <= 1:
        return "".join(listed)
    return f"(|{''.join(listed)})"


def equals(attribute: str, value: str) -> str:
    return f"({attribute}={escape(value)})"


def holding(attributes: Iterable[str], value: str) -> str:
    """Entries holding ``value`` in any of ``attributes`` (the duplicate check)."""
    return any_of(equals(name, value) for name in attributes)


def nested_groups_of(user_dn: str) -> str:
    """AD: every group ``user_dn`` is in, nested ones included, in one search."""
    return f"(&(objectClass=group)(member:{IN_CHAIN}:={escape(user_dn)}))"


def groups_with_member(dns: Iterable[str]) -> str:
    """Groups listing any of ``dns`` in ``member`` or ``uniqueMember``."""
    return "(|" + "".join(f"(member={escape(dn)})(uniqueMember={escape(dn)})" for dn in dns) + ")"


def sids(batch: Iterable[bytes]) -> str:
    """Entries with any of the SIDs in ``batch``."""
    return "(|" + "".join(f"(objectSid={escape_bytes(sid)})" for sid in batch) + ")"
