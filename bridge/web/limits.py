"""Answers for a source address that has guessed Ringotel's credentials too often."""

from __future__ import annotations

import math

from aiohttp import web

from bridge.core.ports import Refusal


def retry_after(seconds: float | None) -> str:
    """``Retry-After`` in whole seconds, at least 1 (RFC 9110 §10.2.3)."""
    return str(max(1, math.ceil(seconds or 1)))


def too_many_attempts(refusal: Refusal) -> web.Response:
    """429: the budget of this source is spent; other addresses are not affected."""
    return web.json_response(
        {
            "error": "too_many_attempts",
            "detail": "too many failed client authentications from this address",
        },
        status=429,
        headers={"Retry-After": retry_after(refusal.retry_after)},
    )
