"""The token endpoint's decisions (RFC 6749 §4.4 client credentials), free of aiohttp.

The handler passes in what it read from the request and maps :class:`OAuthError` to a
response with :func:`error_body`, ``status`` and ``www_authenticate``; everything that
can be argued about with the RFC lives here, where it is tested without a server.

Flow::

    request = parse_token_request(content_type, body, authorization, query_keys)
    client_id = await authenticate_client(request, registry, guard, source_address)
    token = token_service.issue(client_id)

Deliberate choices, each backed by the RFC where it has a say:

* Bodies may be form-encoded (RFC 6749 §4.4.2) or JSON (Ringotel sends JSON). Media
  type parameters such as ``charset`` are ignored; the body is always read as UTF-8.
* Parameters sent without a value count as omitted (§3.1); parameters we do not use,
  including ``scope``, are ignored (§3.2), and only the ones we read are vetted.
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

import base64
import binascii
import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from bridge.core.errors import BridgeError

__all__ = [
    "MAX_VALUE_CHARS",
    "WWW_AUTHENTICATE",
    "ClientCredentialsRequest",
    "ClientRegistry",
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
_JSON: Final = "application/json"
_FORM: Final = "application/x-www-form-urlencoded"
_PARAMETERS: Final = ("grant_type", "client_id", "client_secret")
_CREDENTIALS: Final = ("client_id", "client_secret")
_MAX_FORM_FIELDS: Final = 64


class OAuthError(BridgeError):
    """An RFC 6749 §5.2 error; ``description`` is safe to send and never echoes input."""

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        www_authenticate: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.error = error
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


# ------------------------------------------------------------------------ parsing


def parse_token_request(
    content_type: str | None,
    body: bytes,
    authorization: str | None,
    query_keys: Collection[str],
) -> ClientCredentialsRequest:
    """Turn the raw request into a client id and secret, or the §5.2 error to answer.

    The body size limit is the handler's job; this function only reads what it is given.
    """
    if any(key in query_keys for key in _CREDENTIALS):
        raise _invalid_request("client credentials must not be sent in the query string")
    params = _body_parameters(content_type, body)
    grant_type = params.get("grant_type")
    if grant_type is None:
        raise _invalid_request("grant_type is required")
    if grant_type != _GRANT_TYPE:
        raise OAuthError("unsupported_grant_type", "only client_credentials is supported")
    return _client_credentials(params, authorization)


def _body_parameters(content_type: str | None, body: bytes) -> dict[str, str]:
    """The parameters we use, vetted, with empty values dropped (RFC 6749 §3.1)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in (_JSON, _FORM):
        raise _invalid_request(f"the body must be {_FORM} or {_JSON}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid_request("the body is not valid UTF-8") from None
    pairs = _json_pairs(text) if media_type == _JSON else _form_pairs(text)
    return _vetted(pairs)


def _json_pairs(text: str) -> list[tuple[str, object]]:
    try:
        document = json.loads(text, object_pairs_hook=_PairList)
    except (ValueError, RecursionError):
        raise _invalid_request("the body is not valid JSON") from None
    if not isinstance(document, _PairList):
        raise _invalid_request("the JSON body must be an object")
    return list(document)


class _PairList(list[tuple[str, Any]]):
    """Keeps every key of a JSON object, so duplicates can be refused instead of lost."""


def _form_pairs(text: str) -> list[tuple[str, object]]:
    try:
        pairs = urllib.parse.parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=_MAX_FORM_FIELDS,
        )
    except ValueError:  # includes UnicodeDecodeError from a bad %-escape
        raise _invalid_request("the form body cannot be decoded") from None
    return list(pairs)


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
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        raise _invalid_client("only the Basic authentication scheme is supported")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _invalid_client("malformed Basic credentials") from None
    raw_id, colon, raw_secret = decoded.partition(":")
    if not colon:
        raise _invalid_client("malformed Basic credentials")
    try:
        client_id = urllib.parse.unquote_plus(raw_id, errors="strict")
        secret = urllib.parse.unquote_plus(raw_secret, errors="strict")
    except UnicodeDecodeError:
        raise _invalid_client("malformed Basic credentials") from None
    for name, value in (("client_id", client_id), ("client_secret", secret)):
        _check_value(name, value, _invalid_client)
    if not client_id or not secret:
        raise _invalid_client("client authentication is required")
    return client_id, secret


class ClientRegistry:
    """The one client we know (Ringotel) and its currently valid secrets.

    Several secrets are accepted at once so a secret can be rotated without a window in
    which Ringotel's logins fail. Every comparison runs, whatever the outcome, and on
    fixed-length digests, so timing reveals neither a prefix, a length, nor which
    secret matched.
    """

    def __init__(self, client_id: str, secrets: Sequence[bytes]) -> None:
        if not client_id:
            raise ValueError("client_id must not be empty")
        if not secrets or not all(secrets):
            raise ValueError("at least one non-empty client secret is required")
        self._client_id = _digest(client_id.encode("utf-8"))
        self._secrets = tuple(_digest(secret) for secret in secrets)

    def check(self, client_id: str, secret: str) -> bool:
        """True when the id is ours and the secret is any of the configured ones."""
        id_ok = hmac.compare_digest(_digest(_utf8(client_id)), self._client_id)
        presented = _digest(_utf8(secret))
        secret_ok = False
        for known in self._secrets:
            secret_ok |= hmac.compare_digest(presented, known)
        return id_ok & secret_ok


def _utf8(value: str) -> bytes:
    # surrogatepass: never raise on odd input, it simply will not match any secret.
    return value.encode("utf-8", "surrogatepass")


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


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
