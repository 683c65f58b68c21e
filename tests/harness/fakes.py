"""Fakes of the core's ports for pure-logic tests, checked by mypy against the protocols.

A fake that drifts from its protocol would test a login that production cannot
run; the assignments at the bottom make mypy (``scripts/test``) prove each fake
still implements what it claims.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from bridge.core.branch import Branch, LoginPolicy
from bridge.core.errors import DirectoryUnavailable, LoginRejected, Reason
from bridge.core.groups import GroupCache, GroupPolicy
from bridge.core.login import LoginService
from bridge.core.ports import (
    AccountLockout,
    AttributeVerdict,
    Directory,
    DirectoryStats,
    Finding,
    LockoutPolicy,
    Probe,
    Readiness,
    UserEntry,
)
from bridge.core.typed_login import LoginRules
from bridge.core.usernames import Rule
from bridge.guard import Guard, GuardLimits, MemoryStore

JANE_DN = "CN=Jane Doe,OU=People,DC=corp,DC=example"
USERS = "CN=Ringotel Users,OU=Groups,DC=corp,DC=example"
PASSWORD = "Corr3ct horse!"


class FakeDirectory:
    """An in-memory directory that counts what it is asked, AD-like in its answers."""

    def __init__(self) -> None:
        self.entries: dict[str, UserEntry] = {}
        self.passwords: dict[str, str] = {}
        self.memberships: dict[str, set[str]] = {}
        self.find_calls: list[str] = []
        self.bind_calls: list[tuple[str, str]] = []
        self.group_calls = 0
        self.holder_calls: list[str] = []
        self.down: DirectoryUnavailable | None = None
        self.find_error: LoginRejected | None = None
        self.bind_error: LoginRejected | DirectoryUnavailable | None = None
        #: what the directory says of every account's lockout (None: it has no rule)
        self.lockout_state: AccountLockout | None = None
        self.lockout_calls: list[str] = []

    def add(
        self,
        login: str,
        dn: str,
        password: str,
        attributes: Mapping[str, tuple[str, ...]] | None = None,
        groups: set[str] | None = None,
    ) -> None:
        attrs = attributes if attributes is not None else {"ipPhone": ("101",)}
        self.entries[login.casefold()] = UserEntry(dn, dict(attrs), server="ldaps://dc1")
        self.passwords[dn] = password
        self.memberships[dn] = groups if groups is not None else {USERS}

    def move(self, login: str, new_dn: str) -> None:
        entry = self.entries[login.casefold()]
        self.passwords[new_dn] = self.passwords.pop(entry.dn)
        self.memberships[new_dn] = self.memberships.pop(entry.dn)
        self.entries[login.casefold()] = replace(entry, dn=new_dn)

    @property
    def calls(self) -> int:
        return len(self.find_calls) + len(self.bind_calls) + self.group_calls

    async def find(self, login: str) -> UserEntry | None:
        self.find_calls.append(login)
        if self.down is not None:
            raise self.down
        if self.find_error is not None:
            raise self.find_error
        return self.entries.get(login.casefold())

    async def authenticate(self, user: UserEntry, password: str) -> UserEntry:
        self.bind_calls.append((user.dn, password))
        if self.down is not None:
            raise self.down
        if self.bind_error is not None:
            raise self.bind_error
        if self.passwords.get(user.dn) != password:  # unknown DN too: AD answers 52e
            raise LoginRejected(Reason.BAD_PASSWORD, "data 52e")
        return user

    async def groups(self, user: UserEntry) -> frozenset[str]:
        self.group_calls += 1
        if self.down is not None:
            raise self.down
        return frozenset(self.memberships.get(user.dn, set()))

    async def holders_of(self, value: str) -> tuple[str, ...]:
        """Entries holding ``value`` in ipPhone/otherIpPhone, like the LDAP search."""
        self.holder_calls.append(value)
        if self.down is not None:
            raise self.down
        found = {  # one entry may be filed under several logins
            entry.dn: None
            for entry in self.entries.values()
            if any(value in entry.attributes.get(a, ()) for a in ("ipPhone", "otherIpPhone"))
        }
        return tuple(found)[:2]

    async def check(self) -> Readiness:
        return Readiness("ldaps://dc1")

    async def lockout(self, user: UserEntry, counters: str) -> AccountLockout | None:
        self.lockout_calls.append(counters)
        return self.lockout_state

    async def lockout_policies(self) -> list[LockoutPolicy]:
        return [self.lockout_state.policy] if self.lockout_state else []

    async def close(self) -> None:
        return None

    async def username_attribute_verdicts(self) -> list[AttributeVerdict]:
        return []

    async def probe(self) -> Probe:
        return Probe((Finding("ldaps://dc1", ("fake",)),))

    def stats(self) -> DirectoryStats:
        return DirectoryStats(operations={"finds": len(self.find_calls)})


_directory: Directory = FakeDirectory()


def make_service(
    directory: FakeDirectory,
    allow: tuple[str, ...] = (),
    deny: tuple[str, ...] = (),
    max_failures: int = 5,
    user_cache_ttl: float = 0.0,
    rules: tuple[Rule, ...] = (Rule("ipPhone"), Rule("otherIpPhone")),
) -> LoginService:
    """The login use case over ``directory``, with a memory guard and a group cache."""
    as_directory: Directory = directory  # the fake really implements the protocol
    policy = LoginPolicy(
        rules=LoginRules(accept_domain_prefix=True),
        group_policy=GroupPolicy.from_dns(allow, deny),
        username_rules=rules,
        display_name_attribute="displayName",
    )
    limits = GuardLimits(max_failures=max_failures, failure_window=900.0, stale_ttl=86400.0)
    guard = Guard(MemoryStore(), b"k" * 32, limits)
    branch = Branch("corp", as_directory, policy, user_cache_ttl=user_cache_ttl)
    return LoginService([branch], guard, GroupCache(ttl=300.0, maxsize=100))
