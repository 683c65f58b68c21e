"""Request ids and the one place where errors become HTTP answers."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from bridge.core.errors import InvalidRequest

_log = structlog.get_logger("bridge.web")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind a request id to every log line of this request and echo it back."""
    offered = request.headers.get("X-Request-Id", "")
    request_id = offered if _SAFE_ID.match(offered) else secrets.token_hex(16)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["X-Request-Id"] = request_id
        raise
    response.headers["X-Request-Id"] = request_id
    return response


def _json_error(status: int, error: str, detail: str, **headers: str) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error answer is short JSON; nothing unexpected leaks a traceback."""
    try:
        return await handler(request)
    except InvalidRequest as exc:
        _log.info("bad_request", status=exc.status, error=exc.error, detail=exc.detail)
        return _json_error(exc.status, exc.error, exc.detail)
    except web.HTTPMethodNotAllowed as exc:
        return _json_error(
            405,
            "method_not_allowed",
            f"use {', '.join(sorted(exc.allowed_methods))}",
            Allow=",".join(sorted(exc.allowed_methods)),
        )
    except web.HTTPException as exc:
        if exc.status >= 400:
            return _json_error(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
        raise
    except Exception:  # noqa: BLE001 - the last resort: log it, answer 500, keep serving
        _log.exception("unhandled_error", path=request.path)
        return _json_error(500, "internal_error", "see the bridge's log")
