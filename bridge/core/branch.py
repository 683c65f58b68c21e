"""One directory as the login core sees it, and the guard subjects inside it.

A :class:`Branch` is a directory with everything a login there depends on: its login
rules, group lists and username rules (:class:`LoginPolicy`; directories differ in
all three), its duplicate-username check and its cache of user entries. Every guard
subject is built here and carries the directory's name: ``jane`` typed for one
directory and ``jane`` typed for another are two budgets, and so is the same DN
string in two directories.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache

from bridge.core.dn import normalize_dn
from bridge.core.errors import LoginRejected
from bridge.core.groups import GroupPolicy
from bridge.core.ports import Directory, Refusal, UserEntry
from bridge.core.typed_login import LoginRules, fold_login
from bridge.core.unique_usernames import UniqueUsernames
from bridge.core.usernames import Rule


def login_key(directory: str, login: str) -> str:
    """Guard subject of a typed login in one directory (names never hold a colon)."""
    return f"login:{directory}:{fold_login(login)}"


def account_key(directory: str, dn: str) -> str:
    """Guard subject of an account; cannot collide with a typed login's subject."""
    return f"dn:{directory}:{normalize_dn(dn)}"


@dataclass(frozen=True)
class LoginPolicy:
    """Everything a login decision depends on, built once from settings."""

    rules: LoginRules
    group_policy: GroupPolicy
    username_rules: tuple[Rule, ...]
    display_name_attribute: str
    #: an accepted password that expires within this many seconds is reported (audit,
    #: metrics) so administrators can warn its owner; 0: never
    password_expiry_warning: float = 0.0


class Branch:
    """One directory and what a login there depends on: its policy and its caches."""

    def __init__(
        self,
        name: str,
        directory: Directory,
        policy: LoginPolicy,
        unique: UniqueUsernames | None = None,
        user_cache_ttl: float = 0.0,
        user_cache_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.directory = directory
        self.policy = policy
        self.unique = (
            unique if unique is not None else UniqueUsernames(directory, policy.username_rules)
        )
        self.users: TTLCache[str, UserEntry] | None = (
            TTLCache(user_cache_size, user_cache_ttl, timer=clock) if user_cache_ttl > 0 else None
        )

    def forget(self, key: str) -> None:
        if self.users is not None:
            self.users.pop(key, None)


def refuse(refusal: Refusal | None, what: str, user: UserEntry | None = None) -> None:
    """Turn a guard refusal into the rejection, saying which check refused."""
    if refusal is None:
        return
    detail = f"{what}: {refusal.detail}" if refusal.detail else what
    if refusal.retry_after is not None:
        detail += f"; retry in {refusal.retry_after:.0f}s"
    dn = user.dn if user is not None and not user.provisional else None
    raise LoginRejected(refusal.reason, detail, refusal.server, dn, guarded=True)
