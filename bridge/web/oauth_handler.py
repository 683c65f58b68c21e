"""``POST /oauth/token``: RFC 6749 section 4.4 client credentials, a thin adapter."""

from __future__ import annotations

import structlog
from aiohttp import web

from bridge.oauth import OAuthError, error_body, parse_token_request
from bridge.service import Service
from bridge.web.keys import RUNTIME

_log = structlog.get_logger("bridge.oauth")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _error(err: OAuthError) -> web.Response:
    headers = dict(_NO_STORE)
    if err.www_authenticate:
        headers["WWW-Authenticate"] = err.www_authenticate
    return web.json_response(error_body(err), status=err.status, headers=headers)


async def token_endpoint(request: web.Request, service: Service) -> web.StreamResponse:
    metrics = request.app[RUNTIME].metrics
    max_size = service.settings.server.max_body_size
    if request.content_length is not None and request.content_length > max_size:
        metrics.tokens.labels("invalid_request").inc()
        return _error(OAuthError("invalid_request", "the body is too large", 413, None))
    body = await request.content.read(max_size + 1)
    try:
        if len(body) > max_size:
            raise OAuthError("invalid_request", "the body is too large", 413, None)
        credentials = parse_token_request(
            request.headers.get("Content-Type"),
            body,
            request.headers.get("Authorization"),
            request.query.keys(),
        )
        limiter, registry = service.token_limiter, service.client_registry
        if limiter.blocked(credentials.client_id):
            raise _invalid_client(credentials.used_basic, "too many failed attempts; try later")
        if not registry.check(credentials.client_id, credentials.client_secret):
            limiter.record_failure(credentials.client_id)
            raise _invalid_client(credentials.used_basic, "client authentication failed")
        limiter.record_success(credentials.client_id)
    except OAuthError as err:
        metrics.tokens.labels(err.error).inc()
        _log.warning("token_refused", error=err.error, description=err.description)
        return _error(err)
    issued = service.tokens.issue(credentials.client_id)
    metrics.tokens.labels("issued").inc()
    _log.info("token_issued", client_id=credentials.client_id, expires_in=issued.expires_in)
    return web.json_response(
        {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
        },
        headers=_NO_STORE,
    )


def _invalid_client(used_basic: bool, description: str) -> OAuthError:
    challenge = 'Basic realm="ringotel-bridge"' if used_basic else None
    return OAuthError("invalid_client", description, 401, challenge)
