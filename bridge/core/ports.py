"""The ports of the login core: what it needs from a user store (Directory) and from
the lockout guard (Guard), and the values that cross them.

Implementations (``ldap``, ``file``) translate their own exceptions at this boundary:
callers only ever see ``LoginRejected`` (the directory answered no) and
``DirectoryUnavailable`` (it did not answer). Everything is async; blocking client
libraries run in a bounded executor behind these methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bridge.core.errors import Reason


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
    #: Seconds the password has left, as the bind (389-ds, ppolicy) or the entry (AD)
    #: said when it was verified; None: it does not expire, or nothing said.
    password_expires_in: float | None = None


@dataclass(frozen=True)
class Readiness:
    """What a readiness probe found."""

    server: str
    detail: str = ""


@dataclass(frozen=True)
class ServerStats:
    """One directory server as the ops endpoint reports it, read at scrape time."""

    name: str
    #: True: it answered the last operation sent to it; False: that failed; None: none yet
    up: bool | None
    #: connections lent out right now
    in_use: int = 0
    #: operations sent its way, failed ones included
    attempts: int = 0
    last_error: str = ""
    #: where it came from: "url" (configured), "srv_site" or "srv_domain" (DNS)
    source: str = "url"


@dataclass(frozen=True)
class DirectoryStats:
    """A directory's counters of the moment: its servers, and what it was asked."""

    servers: tuple[ServerStats, ...] = ()
    #: operations done so far, by kind (LDAP: binds, searches, group_lookups, ...)
    operations: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """What ``check-config --connect`` found about one server: ``lines`` to show, and
    ``failures`` that make it unusable (none: it is usable)."""

    subject: str
    lines: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()


@dataclass(frozen=True)
class Probe:
    """A directory examined for its administrator, every server on its own."""

    servers: tuple[Finding, ...]
    #: how lockout state is read (e.g. AD's PDC emulator), shown beside the policies
    lockout_notes: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return any(finding.failures for finding in self.servers)


@dataclass(frozen=True)
class AttributeVerdict:
    """Whether users may write a username attribute on their own entry (from the AD
    schema): ``writable_by_self`` with the grant that allows it and why, or not;
    ``in_schema`` False when the schema has no such attribute (a typo, or an attribute
    of a schema extension such as Exchange's extensionAttribute1)."""

    attribute: str
    in_schema: bool
    writable_by_self: bool
    reason: str


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
        """Every lockout policy the bridge can see, for the budget check at start-up
        and in ``check-config``."""
        ...

    async def username_attribute_verdicts(self) -> list[AttributeVerdict]:
        """Which username attributes users may write on their own entry, as far as the
        directory publishes it (AD's schema); empty when it cannot tell."""
        ...

    async def probe(self) -> Probe:
        """Examine every server on its own for ``check-config --connect``: connection,
        TLS, the service account, a dry run of the user search. Never raises for a
        server that fails: that is a finding."""
        ...

    def stats(self) -> DirectoryStats:
        """Counters of the moment, for metrics; cheap, no directory traffic."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Refusal:
    """Why the guard says no without asking the directory, and for how long."""

    reason: Reason
    detail: str = ""
    #: seconds until the guard would let this through again; None when it cannot tell
    retry_after: float | None = None
    #: the directory server whose counters decided it, if any
    server: str | None = None


class Guard(Protocol):
    """Failure budgets and remembered failures, as the login core uses them.

    Subjects are strings the core builds (the typed login; ``dn:<normalised DN>`` for
    an account); the guard never sees a password except to fingerprint it.
    """

    async def before_login(self, login: str, password: str) -> Refusal | None: ...

    async def before_password(
        self, account: str, password: str, policy: LockoutPolicy | None
    ) -> Refusal | None: ...

    def directory_refusal(self, state: AccountLockout | None) -> Refusal | None: ...

    async def recent_failures(self, account: str) -> bool: ...

    async def bad_password(
        self, login: str, account: str, password: str, policy: LockoutPolicy | None
    ) -> None: ...

    async def unknown_login(self, login: str, password: str) -> None: ...

    async def good_password(self, login: str, account: str) -> None: ...

    async def alias(self, bind_name: str) -> str | None: ...

    async def remember_alias(self, bind_name: str, dn: str) -> None: ...


class Catalog(Protocol):
    """A forest-wide index (AD's global catalog) that finds which domain holds a login.

    Only the DNs are read from it: it carries a partial attribute set and only the
    universal groups, so the bind, the attributes and the groups are always asked of
    the user's own domain.
    """

    async def locate(self, login: str) -> tuple[str, ...]:
        """DNs of the entries matching ``login`` anywhere in the forest (two at most).

        Raises DirectoryUnavailable when no catalog server answered.
        """
        ...
