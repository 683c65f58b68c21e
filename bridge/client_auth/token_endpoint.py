"""The token endpoint's decisions (RFC 6749 §4.4 client credentials), free of aiohttp.

The handler reads the body into parameters (:mod:`bridge.web.reading`: form-encoded
as RFC 6749 §4.4.2 has it, or JSON as Ringotel sends it, every key kept in order,
repeats included), passes them in with the ``Authorization`` header and the query's
keys, and maps :class:`OAuthError` to a response with :func:`error_body`, ``status``
and ``www_authenticate``. Everything that can be argued about with the RFC lives here,
where it is tested without a server.

Flow::

    request = parse_token_request(parameters, authorization, query_keys)
    client_id = await authenticate_client(request, registry, guard, source_address)
    token = token_service.issue(client_id)

Deliberate choices, each backed by the RFC where it has a say:

* Parameters sent without a value count as omitted (§3.1); parameters we do not use,
  including ``scope``, are ignored (§3.2), and only the ones we read are vetted: a
  repeated ``scope`` is fine, a repeated ``client_id`` is not (§3.1).
* Credentials in the query string are refused outright (§2.3.1 "MUST NOT").
* One authentication method per request (§2.3). A body ``client_id`` equal to the
  Basic user-id, without a body secret, is tolerated: §3.2.1 lets a client name
  itself that way and some HTTP libraries always add it.
* ``invalid_client`` is always 401 with ``WWW-Authenticate: Basic realm=...``. §5.2
  requires exactly that when the client tried the Authorization header, and allows 401
  otherwise "to indicate which HTTP authentication schemes are supported"; RFC 9110
  §15.5.2 requires every 401 to carry a challenge. Sending 400 for body credentials
  would let a client tell "wrong secret" from "sent it the other way" for no gain.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal, Protocol, TypeAlias

from bridge.client_auth.credentials import (
    MalformedBasic,
    basic_user_pass,
    credentials_for,
    matches_any,
)
from bridge.core.errors import BridgeError

__all__ = [
    "MAX_VALUE_CHARS",
    "WWW_AUTHENTICATE",
    "ClientCredentialsRequest",
    "ClientRegistry",
    "ErrorCode",
    "OAuthError",
    "authenticate_client",
    "error_body",
    "parse_token_request",
]

if TYPE_CHECKING:
    from bridge.core.ports import Refusal

#: Longest client_id, client_secret or grant_type we read; real values are far shorter.
MAX_VALUE_CHARS: Final = 512
#: The challenge sent with every ``invalid_client``.
WWW_AUTHENTICATE: Final = 'Basic realm="ringotel-bridge"'

_GRANT_TYPE: Final = "client_credentials"
_PARAMETERS: Final = ("grant_type", "client_id", "client_secret")
_CREDENTIALS: Final = ("client_id", "client_secret")


#: RFC 6749 §5.2 codes we send, plus ours for a source address over its failure budget.
ErrorCode: TypeAlias = Literal[
    "invalid_request", "invalid_client", "unsupported_grant_type", "too_many_attempts"
]


class OAuthError(BridgeError):
    """An RFC 6749 §5.2 error; ``description`` is safe to send and never echoes input."""

    def __init__(
        self,
        error: ErrorCode,
        description: str,
        status: int = 400,
        www_authenticate: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.error: ErrorCode = error
        self.description = description
        self.status = status
        self.www_authenticate = www_authenticate
        self.retry_after = retry_after
        super().__init__(f"{error}: {description}")


@dataclass(frozen=True)
class ClientCredentialsRequest:
    """A well-formed client-credentials request whose secret is not yet checked."""

    client_id: str
    client_secret: str = field(repr=False)
    used_basic: bool


def error_body(err: OAuthError) -> dict[str, str]:
    """The JSON body of an error response (RFC 6749 §5.2)."""
    return {"error": err.error, "error_description": err.description}


def _invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description, 400)


def _invalid_client(description: str) -> OAuthError:
    return OAuthError("invalid_client", description, 401, WWW_AUTHENTICATE)


# ------------------------------------------------------------------------ parameters


def parse_token_request(
    parameters: Sequence[tuple[str, object]],
    authorization: str | None,
    query_keys: Collection[str],
) -> ClientCredentialsRequest:
    """Turn the request's parameters into a client id and secret, or the §5.2 error."""
    if any(key in query_keys for key in _CREDENTIALS):
        raise _invalid_request("client credentials must not be sent in the query string")
    params = _vetted(parameters)
    grant_type = params.get("grant_type")
    if grant_type is None:
        raise _invalid_request("grant_type is required")
    if grant_type != _GRANT_TYPE:
        raise OAuthError("unsupported_grant_type", "only client_credentials is supported")
    return _client_credentials(params, authorization)


def _vetted(pairs: Sequence[tuple[str, object]]) -> dict[str, str]:
    """Apply RFC 6749 §3.1 to the parameters we read and ignore the rest (§3.2)."""
    params: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in pairs:
        if name not in _PARAMETERS:
            continue
        if name in seen:
            raise _invalid_request(f"{name} must not be repeated")
        seen.add(name)
        if not isinstance(value, str):
            raise _invalid_request(f"{name} must be a string")
        _check_value(name, value, _invalid_request)
        if value:
            params[name] = value
    return params


def _check_value(name: str, value: str, error: Callable[[str], OAuthError]) -> None:
    if len(value) > MAX_VALUE_CHARS:
        raise error(f"{name} is longer than {MAX_VALUE_CHARS} characters")
    if "\x00" in value:
        raise error(f"{name} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSON \ud800 escape
        raise error(f"{name} is not valid Unicode") from None


# ---------------------------------------------------------------- authentication


def _client_credentials(
    params: Mapping[str, str], authorization: str | None
) -> ClientCredentialsRequest:
    """Pick the single authentication method the client used (RFC 6749 §2.3)."""
    body_id = params.get("client_id")
    body_secret = params.get("client_secret")
    if authorization is not None and authorization.strip():
        if body_secret is not None:
            raise _invalid_request("use either HTTP Basic or body credentials, not both")
        client_id, secret = _basic_credentials(authorization)
        if body_id is not None and body_id != client_id:
            raise _invalid_request("client_id in the body differs from HTTP Basic")
        return ClientCredentialsRequest(client_id, secret, used_basic=True)
    if body_id is None or body_secret is None:
        raise _invalid_client("client authentication is required")
    return ClientCredentialsRequest(body_id, body_secret, used_basic=False)


def _basic_credentials(authorization: str) -> tuple[str, str]:
    """RFC 7617 Basic with RFC 6749 §2.3.1's extra form-encoding of id and secret."""
    credentials = credentials_for(authorization, "Basic")
    if credentials is None:
        raise _invalid_client("only the Basic authentication scheme is supported")
    try:
        raw_id, raw_secret = basic_user_pass(credentials)
        client_id = urllib.parse.unquote_plus(raw_id.decode(), errors="strict")
        secret = urllib.parse.unquote_plus(raw_secret.decode(), errors="strict")
    except (MalformedBasic, UnicodeDecodeError):
        raise _invalid_client("malformed Basic credentials") from None
    for name, value in (("client_id", client_id), ("client_secret", secret)):
        _check_value(name, value, _invalid_client)
    if not client_id or not secret:
        raise _invalid_client("client authentication is required")
    return client_id, secret


class ClientRegistry:
    """The one client we know (Ringotel) and its currently valid secrets.

    Several secrets are accepted at once so a secret can be rotated without a window in
    which Ringotel's logins fail; :func:`~bridge.client_auth.credentials.matches_any`
    keeps timing from telling which one matched, or how much of one.
    """

    def __init__(self, client_id: str, secrets: Sequence[bytes]) -> None:
        if not client_id:
            raise ValueError("client_id must not be empty")
        if not secrets or not all(secrets):
            raise ValueError("at least one non-empty client secret is required")
        self._client_id = client_id.encode("utf-8")
        self._secrets = tuple(secrets)

    def check(self, client_id: str, secret: str) -> bool:
        """True when the id is ours and the secret is any of the configured ones."""
        id_ok = matches_any(_utf8(client_id), (self._client_id,))
        secret_ok = matches_any(_utf8(secret), self._secrets)
        return id_ok & secret_ok


def _utf8(value: str) -> bytes:
    # surrogatepass: never raise on odd input, it simply will not match any secret.
    return value.encode("utf-8", "surrogatepass")


class SourceLimiter(Protocol):
    """Failures per source address (the Runtime's guard)."""

    async def client_refusal(self, source: str) -> Refusal | None: ...

    async def client_failed(self, source: str) -> None: ...


async def authenticate_client(
    request: ClientCredentialsRequest,
    registry: ClientRegistry,
    limiter: SourceLimiter,
    source: str,
) -> str:
    """Check the secret under the source address's failure budget; returns the client id.

    The budget is per source address, not per ``client_id``: an id is whatever the
    caller sends, so counting by it would let anyone lock Ringotel out by sending ten
    wrong secrets under its name. Kept here rather than in the handler so that no
    caller can check a secret without also counting the failure.
    """
    refusal = await limiter.client_refusal(source)
    if refusal is not None:
        raise OAuthError(
            "too_many_attempts",
            "too many failed attempts from this address; try again later",
            429,
            retry_after=refusal.retry_after,
        )
    if not registry.check(request.client_id, request.client_secret):
        await limiter.client_failed(source)
        raise _invalid_client("client authentication failed")
    return request.client_id
