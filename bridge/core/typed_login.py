"""What a typed login may look like, and what the directory is asked for.

Ringotel passes on whatever the user typed. AD users type ``alice``,
``alice@corp.example`` or ``CORP\\alice``; all three mean the same account. The
result is the value compared with the login attributes, still unescaped: escaping
happens exactly once, where the LDAP filter is built.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from dataclasses import dataclass

from bridge.core.dn import is_dn_like
from bridge.core.errors import LoginRejected, Reason


@dataclass(frozen=True)
class LoginRules:
    """How typed logins are read; built from ``[directory]``."""

    accept_domain_prefix: bool = False
    domain_names: Collection[str] = ()
    max_length: int = 256


def normalize_login(typed: str, rules: LoginRules) -> str:
    """Return the login to look up, or raise LoginRejected(INVALID_LOGIN)."""
    login = typed.strip()
    if not login or len(login) > rules.max_length:
        raise LoginRejected(Reason.INVALID_LOGIN, "empty or too long")
    # Cs: a lone surrogate (JSON "\ud800") is no name and cannot even be encoded.
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in login):
        raise LoginRejected(Reason.INVALID_LOGIN, "control characters")
    if is_dn_like(login) and "," in login:
        raise LoginRejected(Reason.INVALID_LOGIN, "a DN is not a login")
    if rules.accept_domain_prefix and "\\" in login:
        login = _strip_domain(login, rules)
    if login.startswith("@") or login.endswith("@"):
        raise LoginRejected(Reason.INVALID_LOGIN, "incomplete user principal name")
    return login


def _strip_domain(login: str, rules: LoginRules) -> str:
    domain, _, name = login.partition("\\")
    if not domain or not name or "\\" in name:
        raise LoginRejected(Reason.INVALID_LOGIN, "malformed DOMAIN\\name")
    allowed = {d.casefold() for d in rules.domain_names}
    if allowed and domain.casefold() not in allowed:
        raise LoginRejected(Reason.INVALID_LOGIN, "domain not accepted")
    return name


def fold_login(login: str) -> str:
    """How two logins compare: case-insensitively like AD, and Unicode-normalised so a
    full-width or decomposed spelling is the same login. Failure budgets are kept under
    this key, and the file directory finds its users by it."""
    return unicodedata.normalize("NFKC", login).casefold()
