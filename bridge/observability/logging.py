"""structlog set-up: JSON lines to stdout (journald), a console renderer on a terminal.

A redaction processor is the last line of defence: any event key that names a secret
is masked even if a caller passes one by mistake. Callers must still never pass them.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = ("password", "secret", "token", "authorization", "credential")
#: Keys that name a secret word but hold none.
_NOT_SECRETS = frozenset({"token_type"})
#: The same, but only while their value is a number (the audit line of an accepted
#: login: days until the password expires).
_NUMBERS = frozenset({"password_expires_in_days"})


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in event:
        if key in _NUMBERS and _is_number(event[key]):
            continue
        if _names_a_secret(key):
            event[key] = "***"
    return event


@functools.lru_cache(maxsize=512)  # the bridge logs a few dozen distinct keys
def _names_a_secret(key: str) -> bool:
    lowered = key.lower()
    return key != "token_type" and any(word in lowered for word in _SECRET_KEYS)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def configure(
    format: str = "json", level: str = "info", stream: Any = None, once: bool = False
) -> None:
    """Configure structlog and the stdlib root logger (for aiohttp's own messages).

    ``once``: this process configures logging one time only (``serve``), so each
    module's logger may keep what it bound on first use instead of binding again on
    every event (a tenth of an audit line's cost). Tests reconfigure per test and
    leave it off."""
    stream = stream or sys.stdout
    use_console = format == "console" or (format == "auto" and stream.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=stream.isatty())
        if use_console
        else structlog.processors.JSONRenderer(sort_keys=False)
    )
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # one write() per line: workers share stdout, and lines must never interleave
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=once,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=stream, force=True)
