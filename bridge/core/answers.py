"""What Ringotel receives for each login outcome: the one place that maps them.

The HTTP handler sends it and ``test-login`` prints it, so what an administrator is
shown is byte for byte what Ringotel would get.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.core.outcomes import Accepted, Outcome, Rejected
from bridge.core.template import Identity, render

DENIED = {"error": "access_denied"}
UNAVAILABLE = {"error": "directory_unavailable"}
RETRY_AFTER = "5"


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


def answer(template: Any, outcome: Outcome) -> Answer:
    """200 with the rendered template, the same 403 for every denial, or 503."""
    if isinstance(outcome, Accepted):
        identity = Identity(outcome.usernames, outcome.display_name, outcome.login, outcome.dn)
        return Answer(200, render(template, identity))
    if isinstance(outcome, Rejected):
        return Answer(403, DENIED)
    return Answer(503, UNAVAILABLE, {"Retry-After": RETRY_AFTER})
