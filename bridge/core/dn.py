"""Distinguished names compared the way directories compare them.

``CN=Ringotel Users,OU=Groups,DC=corp,DC=example`` and
``cn=ringotel users, ou=groups,dc=CORP,dc=example`` name the same group, so group
allow/deny lists compare normalised DNs. A value put into a DN (a login in a bind
template, the file directory's synthetic DNs) is escaped by the one RFC 4514 escaper
here. Pure code, no ldap3: the login core uses it.
"""

from __future__ import annotations

import functools

_SPECIAL = ',+"\\<>;='


def split_rdns(dn: str) -> list[str]:
    """Split on unescaped commas (RFC 4514), keeping escapes intact."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in dn:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    out = bytearray()
    index = 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            pair = value[index + 1 : index + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                out.append(int(pair, 16))
                index += 3
                continue
            out.extend(value[index + 1].encode())
            index += 2
            continue
        out.extend(char.encode())
        index += 1
    return out.decode("utf-8", errors="replace")


def escape_rdn_value(value: str) -> str:
    """``value`` as it must be written in a DN (RFC 4514 2.4), so that whatever it holds
    (``a,ou=x``, a trailing space) stays one attribute value of one RDN.

    ``=`` is escaped too (allowed, not required): a canonical form must pick one.
    """
    last = len(value) - 1
    out = []
    for index, char in enumerate(value):
        if char in _SPECIAL:
            out.append("\\" + char)
        elif char == "\x00":
            out.append("\\00")
        elif (index == 0 and char in " #") or (index == last and char == " "):
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def _trim(value: str) -> str:
    """Strip surrounding spaces, but keep an escaped trailing one (``CN=x\\ ``)."""
    value = value.lstrip()
    end = len(value.rstrip())
    backslashes = end - len(value[:end].rstrip("\\"))
    if end < len(value) and backslashes % 2:
        end += 1
    return value[:end]


@functools.lru_cache(maxsize=20_000)
def normalize_dn(dn: str) -> str:
    """Lower-case types and values, trim spaces, canonical escapes.

    Pure and called several times per login (account key, group policy), so memoised.
    """
    rdns = []
    for rdn in split_rdns(dn.lstrip()):
        attribute, sep, value = rdn.partition("=")
        if not sep:
            return dn.strip().casefold()
        rdns.append(
            f"{attribute.strip().lower()}={escape_rdn_value(_unescape(_trim(value))).casefold()}"
        )
    return ",".join(rdns)


def is_dn_like(text: str) -> bool:
    """True for text that looks like a DN typed where a login was expected."""
    first = split_rdns(text)[0]
    attribute, sep, _ = first.partition("=")
    return bool(sep) and attribute.strip().isidentifier()
