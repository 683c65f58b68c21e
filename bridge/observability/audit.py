"""One audit event per login attempt: who, outcome, reason, server, latency, request id.

An accepted login whose password expires soon carries ``password_expires_in_days``
(within ``[directory] password_expiry_warning``), for administrators to warn its owner.

Never a password, never a token. The request id comes from structlog's contextvars,
bound by the request-id middleware.
"""

from __future__ import annotations

from typing import Any

import structlog

from bridge.core.outcomes import Accepted, Outcome, Rejected, Trace, Unavailable

_log = structlog.get_logger("bridge.audit")


def expires_in_days(seconds: float | None) -> float | None:
    """Days to one decimal: what an administrator warning the user needs, no more."""
    return None if seconds is None else round(seconds / 86400, 1)


def outcome_fields(outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, Accepted):
        return {
            "outcome": "accepted",
            "reason": "ok",
            "dn": outcome.dn,
            "server": outcome.server,
            "usernames": len(outcome.usernames),
            "password_expires_in_days": expires_in_days(outcome.password_expires_in),
        }
    if isinstance(outcome, Rejected):
        return {
            "outcome": "rejected",
            "reason": str(outcome.reason),
            "detail": outcome.detail or None,
            "dn": outcome.dn,
            "server": outcome.server,
            "guarded": outcome.guarded or None,
        }
    return {
        "outcome": "unavailable",
        "reason": "directory_misconfigured" if outcome.misconfigured else "directory_unavailable",
        "detail": outcome.detail,
        "server": outcome.server,
    }


def reason_label(outcome: Outcome) -> tuple[str, str]:
    fields = outcome_fields(outcome)
    return fields["outcome"], fields["reason"]


def audit_login(outcome: Outcome | Unavailable, trace: Trace, latency: float, client: str) -> None:
    fields = {k: v for k, v in outcome_fields(outcome).items() if v is not None}
    if trace.dropped_usernames:  # extensions, not secrets: the admin needs the values
        fields["dropped_usernames"] = dict(trace.dropped_usernames)
    level = "warning" if isinstance(outcome, Unavailable) else "info"
    if trace.directory is not None:
        fields["directory"] = trace.directory
    getattr(_log, level)(
        "login",
        login=outcome.login,
        latency_ms=round(latency * 1000, 1),
        directory_asked=trace.directory_used,
        cached_entry=trace.cached_entry,
        client=client,
        **fields,
    )
