"""The Directory protocol: what the login core needs from any user store.

Implementations (``ldap``, ``file``) translate their own exceptions at this boundary:
callers only ever see ``LoginRejected`` (the directory answered no) and
``DirectoryUnavailable`` (it did not answer). Everything is async; blocking client
libraries run in a bounded executor behind these methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True)
class UserEntry:
    """A user as the directory reports it; attribute names as the server spells them."""

    dn: str
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    groups: frozenset[str] | None = None
    server: str | None = None
    #: True when the entry was built from a bind template and not read yet.
    provisional: bool = False
    #: Direct-bind mode: who holds each of the entry's username values, searched with
    #: the user's own rights right after the bind (there is no service account).
    holders: Mapping[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class Readiness:
    """What a readiness probe found."""

    server: str
    detail: str = ""


@dataclass(frozen=True)
class LockoutPolicy:
    """The directory's own lockout rule for one account (AD: its PSO or the domain's;
    OpenLDAP: its ppolicy entry).

    ``threshold`` 0 means the account never locks; None means a policy applies but the
    bridge may not read it (e.g. a PSO the service account cannot see), and the guard
    then assumes the strictest rule it can still honour. ``window`` is the observation
    window in seconds (failures older than that no longer count); None: failures never
    expire by time (ppolicy's ``pwdFailureCountInterval: 0``) or it is not known.
    """

    threshold: int | None
    window: float | None
    source: str


@dataclass(frozen=True)
class AccountLockout:
    """An account's lockout counters as a directory server reports them."""

    policy: LockoutPolicy
    #: bad passwords the directory counts now (AD: badPwdCount), None when not read
    failures: int | None = None
    #: when the last one happened (Unix time), None when unknown
    last_failure: float | None = None
    #: the directory has locked the account already
    locked: bool = False
    #: the server the counters were read on (AD: the PDC emulator when reachable)
    server: str | None = None


class Directory(Protocol):
    """A user store the login core can ask."""

    async def find(self, login: str) -> UserEntry | None:
        """The single entry for ``login``; None when there is none.

        Raises LoginRejected(AMBIGUOUS_USER) for several matches and
        DirectoryUnavailable when no server answered.
        """
        ...

    async def authenticate(self, user: UserEntry, password: str) -> UserEntry:
        """Verify the password; return the (possibly re-read) entry or raise."""
        ...

    async def groups(self, user: UserEntry) -> frozenset[str]:
        """Every group DN the user is in, nested ones included where configured."""
        ...

    async def holders_of(self, value: str) -> tuple[str, ...]:
        """DNs of the entries (two at most) that hold ``value`` in any username attribute.

        Searched in the whole user base, so a username claimed by two entries is seen.
        Raises DirectoryUnavailable when no server answered.
        """
        ...

    async def check(self) -> Readiness:
        """Prove a server answers (and the service account binds); raise otherwise."""
        ...

    async def lockout(
        self, user: UserEntry, counters: Literal["none", "entry", "read"]
    ) -> AccountLockout | None:
        """The directory's lockout policy for ``user``, and its counters: ``none`` (the
        entry's counters are stale: policy only), ``entry`` (as just searched), ``read``
        (read them now). None when the directory has no lockout rule the bridge knows."""
        ...

    async def lockout_policies(self) -> list[LockoutPolicy]:
        """Every lockout policy the bridge can see, for the start-up budget check."""
        ...

    async def close(self) -> None: ...
