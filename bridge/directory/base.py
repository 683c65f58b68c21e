"""The Directory protocol: what the login core needs from any user store.

Implementations (``ldap``, ``file``) translate their own exceptions at this boundary:
callers only ever see ``LoginRejected`` (the directory answered no) and
``DirectoryUnavailable`` (it did not answer). Everything is async; blocking client
libraries run in a bounded executor behind these methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


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

    async def close(self) -> None: ...
