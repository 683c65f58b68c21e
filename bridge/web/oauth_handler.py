"""``POST /oauth/token``: RFC 6749 section 4.4 client credentials, a thin adapter.

Every decision lives in :mod:`bridge.client_auth.token_endpoint`; this module only
moves bytes in and out. Every answer, success or error, carries ``Cache-Control:
no-store`` (RFC 6749 §5.1), and every ``invalid_client`` carries the challenge that
the token endpoint attached to it.
"""

from __future__ import annotations

import asyncio
from typing import Final

import structlog
from aiohttp import web

from bridge.client_auth.token_endpoint import (
    OAuthError,
    authenticate_client,
    error_body,
    parse_token_request,
)
from bridge.process.wiring import Service
from bridge.web import netguard
from bridge.web.keys import RUNTIME
from bridge.web.limits import retry_after

__all__ = ["token_endpoint"]

_log = structlog.get_logger("bridge.client_auth.token_endpoint")
_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _too_large(max_size: int) -> OAuthError:
    return OAuthError("invalid_request", f"the body is larger than {max_size} bytes", 413)


def _error(err: OAuthError) -> web.Response:
    headers = dict(_NO_STORE)
    if err.www_authenticate:
        headers["WWW-Authenticate"] = err.www_authenticate
    if err.retry_after is not None:
        headers["Retry-After"] = retry_after(err.retry_after)
    return web.json_response(error_body(err), status=err.status, headers=headers)


async def _read_limited(request: web.Request, max_size: int) -> bytes:
    """The whole body, or OAuthError(413) as soon as it exceeds ``max_size``.

    A declared Content-Length is checked before reading; a chunked body is read in
    pieces until EOF, because one ``read(n)`` may return fewer bytes than were sent.
    """
    if request.content_length is not None and request.content_length > max_size:
        raise _too_large(max_size)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(max_size + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > max_size:
            raise _too_large(max_size)


async def _issue(request: web.Request, service: Service) -> str:
    """Parse, authenticate under the failure budget; the authenticated client id."""
    try:
        async with asyncio.timeout(service.settings.server.request_deadline):
            body = await _read_limited(request, service.settings.server.max_body_size)
    except TimeoutError:  # a client trickling its body must not hold a slot forever
        raise OAuthError("invalid_request", "the body did not arrive in time", 408) from None
    credentials = parse_token_request(
        request.headers.get("Content-Type"),
        body,
        request.headers.get("Authorization"),
        request.query.keys(),
    )
    assert service.oauth2 is not None  # dispatch routes here only in oauth2 mode
    runtime = request.app[RUNTIME]
    source = netguard.client_address(request, service.settings.server)
    return await authenticate_client(credentials, service.oauth2.registry, runtime.guard, source)


async def token_endpoint(request: web.Request, service: Service) -> web.StreamResponse:
    metrics = request.app[RUNTIME].metrics
    try:
        client_id = await _issue(request, service)
    except OAuthError as err:
        metrics.tokens.labels(err.error).inc()
        _log.warning("token_refused", error=err.error, description=err.description)
        return _error(err)
    assert service.oauth2 is not None
    issued = service.oauth2.tokens.issue(client_id)
    metrics.tokens.labels("issued").inc()
    _log.info("token_issued", client_id=client_id, expires_in=issued.expires_in)
    return web.json_response(
        {
            "access_token": issued.access_token,
            "token_type": issued.token_type,
            "expires_in": issued.expires_in,
        },
        headers=_NO_STORE,
    )
