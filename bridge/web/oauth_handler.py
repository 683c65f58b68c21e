"""``POST /oauth/token``: RFC 6749 section 4.4 client credentials, a thin adapter.

Every decision lives in :mod:`bridge.client_auth.token_endpoint`; this module only
moves bytes in and out. The body is read by :mod:`bridge.web.reading` under this
endpoint's rules (:data:`TOKEN_BODY`); an unreadable one is an ``invalid_request``.
Every answer, success or error, carries ``Cache-Control: no-store`` (RFC 6749 §5.1),
and every ``invalid_client`` carries the challenge that the token endpoint attached
to it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

import structlog
from aiohttp import web

from bridge.client_auth.token_endpoint import (
    ClientCredentialsRequest,
    OAuthError,
    authenticate_client,
    error_body,
    parse_token_request,
)
from bridge.process.wiring import Service
from bridge.web import netguard
from bridge.web.keys import RUNTIME
from bridge.web.limits import retry_after
from bridge.web.reading import BodyFormat, UnreadableBody

__all__ = ["TOKEN_BODY", "parse_request", "token_endpoint"]

_log = structlog.get_logger("bridge.client_auth.token_endpoint")
_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}

#: More lenient than ``/auth``'s: RFC 6749 §3.2 has unknown parameters ignored, so a
#: repeated or empty one is no reason to refuse (the token endpoint refuses repeats of
#: the parameters it reads, §3.1); only the two media types the RFC and Ringotel use.
TOKEN_BODY: Final = BodyFormat(
    json_suffix=False, strict_form=False, max_form_fields=64, unique_keys=False
)


def _error(err: OAuthError) -> web.Response:
    headers = dict(_NO_STORE)
    if err.www_authenticate:
        headers["WWW-Authenticate"] = err.www_authenticate
    if err.retry_after is not None:
        headers["Retry-After"] = retry_after(err.retry_after)
    return web.json_response(error_body(err), status=err.status, headers=headers)


async def _issue(request: web.Request, service: Service) -> str:
    """Parse, authenticate under the failure budget; the authenticated client id."""
    server = service.settings.server
    try:
        body = await TOKEN_BODY.read(request, server.max_body_size, server.request_deadline)
    except UnreadableBody as exc:
        raise _invalid_request(exc) from None
    credentials = parse_request(
        request.headers.get("Content-Type"),
        body,
        request.headers.get("Authorization"),
        request.query.keys(),
    )
    assert service.oauth2 is not None  # dispatch routes here only in oauth2 mode
    runtime = request.app[RUNTIME]
    source = netguard.client_address(request, server)
    return await authenticate_client(credentials, service.oauth2.registry, runtime.guard, source)


def parse_request(
    content_type: str | None, body: bytes, authorization: str | None, query_keys: Collection[str]
) -> ClientCredentialsRequest:
    """The credentials of a request whose body has been read, or the §5.2 error."""
    try:
        parameters = TOKEN_BODY.parse(content_type, body)
    except UnreadableBody as exc:
        raise _invalid_request(exc) from None
    return parse_token_request(parameters, authorization, query_keys)


def _invalid_request(exc: UnreadableBody) -> OAuthError:
    """§5.2 knows no 415: a wrong media type is a plain ``invalid_request``."""
    status = 400 if exc.fault == "media_type" else exc.status
    return OAuthError("invalid_request", exc.detail, status)


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
