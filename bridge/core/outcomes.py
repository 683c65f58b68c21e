"""A login's three outcomes, kept apart all the way up, and what happened on the way.

Accepted -> 200 with the usernames; Rejected(reason) -> 403, the same body for every
reason; Unavailable -> 503, never reported as a wrong password.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.core.errors import Reason


@dataclass(frozen=True)
class Accepted:
    login: str
    dn: str
    usernames: tuple[str, ...]
    display_name: str
    groups: frozenset[str] | None
    server: str | None
    #: seconds the password has left, when that is within the configured warning
    #: (``[directory] password_expiry_warning``); None otherwise
    password_expires_in: float | None = None


@dataclass(frozen=True)
class Rejected:
    reason: Reason
    login: str
    detail: str = ""
    dn: str | None = None
    server: str | None = None
    #: refused by the lockout guard; the password did not go to the directory
    guarded: bool = False


@dataclass(frozen=True)
class Unavailable:
    detail: str
    login: str
    server: str | None = None
    misconfigured: bool = False


Outcome = Accepted | Rejected | Unavailable


@dataclass
class Trace:
    """What happened on the way, for the audit log and ``test-login``."""

    steps: list[str] = field(default_factory=list)
    #: the directory the login went to (its name), once routed
    directory: str | None = None
    directory_used: bool = False
    cached_entry: bool = False
    #: username -> why it was withheld (bridge.core.unique_usernames)
    dropped_usernames: dict[str, str] = field(default_factory=dict)

    def note(self, text: str) -> None:
        self.steps.append(text)
