"""The Ringotel-facing aiohttp application: ``/auth`` (and friends) and the token endpoint.

The factories read no argv and no environment; everything comes from the Runtime.
Paths are looked up in the *current* config on every request, so a reload that
changes ``auth_paths`` or ``token_path`` takes effect without a restart.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from bridge.client_auth.modes import ClientAuthFailed
from bridge.core.answers import DENIED, answer
from bridge.core.errors import InvalidRequest
from bridge.core.outcomes import Accepted, Outcome, Rejected, Trace
from bridge.observability import audit
from bridge.process.runtime import Runtime
from bridge.process.wiring import Service
from bridge.web import netguard
from bridge.web.keys import RUNTIME
from bridge.web.limits import too_many_attempts
from bridge.web.login_body import read_fields
from bridge.web.middlewares import error_middleware, request_id_middleware
from bridge.web.oauth_handler import token_endpoint

_log = structlog.get_logger("bridge.web")


async def dispatch(request: web.Request) -> web.StreamResponse:
    """Route by the current config's paths, after the client network allow-list: a client
    outside it gets 403 whatever it asks for, before anything of the request is read."""
    with request.app[RUNTIME].lease() as service:
        settings = service.settings
        if not netguard.client_allowed(request, settings.server):
            _log.warning(
                "client_not_allowed",
                client=netguard.client_address(request, settings.server),
                peer=request.remote,
            )
            request.app[RUNTIME].metrics.responses.labels("not_allowed", "403").inc()
            return web.json_response(DENIED, status=403)
        path = request.path
        if path in settings.server.auth_paths:
            if request.method != "POST":
                raise web.HTTPMethodNotAllowed(request.method, ["POST"])
            return await _timed(request, service, "auth", login_endpoint)
        auth = settings.client_auth
        if auth.mode == "oauth2" and path == auth.token_path:
            if request.method != "POST":
                raise web.HTTPMethodNotAllowed(request.method, ["POST"])
            return await _timed(request, service, "token", token_endpoint)
        raise web.HTTPNotFound()


async def _timed(
    request: web.Request,
    service: Service,
    endpoint: str,
    handler: Callable[[web.Request, Service], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    metrics = request.app[RUNTIME].metrics
    started = time.monotonic()
    status = 500
    try:
        answer = await handler(request, service)
        status = answer.status
        return answer
    except web.HTTPException as exc:
        status = exc.status
        raise
    except InvalidRequest as exc:
        status = exc.status
        raise
    finally:
        metrics.request_latency_of(endpoint).observe(time.monotonic() - started)
        metrics.responses_of(endpoint, str(status)).inc()


async def login_endpoint(request: web.Request, service: Service) -> web.StreamResponse:
    settings = service.settings
    runtime = request.app[RUNTIME]
    metrics = runtime.metrics
    source = netguard.client_address(request, settings.server)
    refusal = await runtime.guard.client_refusal(source)
    if refusal is not None:  # this address guessed too often: do not even look
        metrics.client_auth_failures.labels(service.client_auth.mode, "too_many_attempts").inc()
        return too_many_attempts(refusal)
    try:
        service.client_auth.authenticate(request.headers.get("Authorization"))
    except ClientAuthFailed as exc:
        if exc.guess:
            await runtime.guard.client_failed(source)
        metrics.client_auth_failures.labels(service.client_auth.mode, exc.reason).inc()
        _log.warning(
            "client_auth_failed",
            mode=service.client_auth.mode,
            reason=exc.reason,
            detail=exc.detail or None,
            client=source,
        )
        return web.json_response(
            {
                "error": "unauthorized",
                "detail": "Ringotel's client credentials are missing or wrong",
            },
            status=401,
            headers={"WWW-Authenticate": exc.www_authenticate},
        )
    fields = await read_fields(request, settings)
    trace = Trace()
    started = time.monotonic()
    deadline = settings.server.request_deadline
    outcome = await service.login.login(fields.username, fields.password, trace, deadline)
    latency = time.monotonic() - started
    audit.audit_login(outcome, trace, latency, source)
    kind, reason = audit.reason_label(outcome)
    metrics.logins_of(kind, reason, trace.directory or "").inc()
    if isinstance(outcome, Rejected) and outcome.guarded:
        metrics.throttled.labels(reason).inc()
    if isinstance(outcome, Accepted) and outcome.password_expires_in is not None:
        metrics.password_expiring.inc()
    return _answer(service, outcome)


def _answer(service: Service, outcome: Outcome) -> web.Response:
    reply = answer(service.template, outcome)
    return web.json_response(reply.body, status=reply.status, headers=dict(reply.headers))


def create_app(runtime: Runtime) -> web.Application:
    """The Ringotel-facing application."""
    max_body = runtime.config.settings.server.max_body_size
    app = web.Application(
        middlewares=[request_id_middleware, error_middleware], client_max_size=max_body
    )
    app[RUNTIME] = runtime
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app
