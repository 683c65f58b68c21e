"""The Ringotel integration descriptor, derived from the running config.

Ringotel support configures the SSO integration from this JSON document alone, so it
must describe exactly what the bridge accepts and answers: the URL and field names of
the login request, how Ringotel proves who it is (an ``OAuth2`` block, or a fixed
``Authorization`` header for the basic and bearer modes), and a ``response_map`` that
mirrors the response template. A config that cannot yield a working descriptor is a
:class:`DescriptorError` naming the reason, never a document that silently fails.

Secrets appear only with ``include_secret``; otherwise an obvious ``<placeholder>``
stands in, so the output can be pasted into a ticket without leaking anything.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import urllib.parse
from typing import Any, Final

from bridge.config import Config, Secret
from bridge.core import template as response

__all__ = ["DescriptorError", "build_descriptor", "dump"]

_LOCAL_HOSTS: Final = frozenset({"localhost"})


class DescriptorError(Exception):
    """The config or the arguments cannot produce a descriptor Ringotel could follow."""


def build_descriptor(
    config: Config,
    public_url: str,
    service_id: str,
    name: str,
    logo: str,
    include_secret: bool,
) -> dict[str, Any]:
    """The descriptor as a JSON-ready dict; see :func:`dump` for the printed form."""
    base = _base_url(public_url)
    settings = config.settings
    auth_url = base + settings.server.auth_paths[0]
    authenticate: dict[str, Any] = {
        "request_method": "POST",
        "request_url": auth_url,
        "request_content_type": "application/json",
    }
    headers = _request_headers(config, include_secret)
    if headers:
        authenticate["request_headers"] = headers
    authenticate["request_parameters"] = {
        settings.request.username_field: "$username$",
        settings.request.password_field: "$password$",
    }
    authenticate["response_map"] = _response_map(settings.response.template)
    document: dict[str, Any] = {
        "id": service_id,
        "name": name,
        "logo": logo,
        "class": "auth",
        "parameters": {"user_id": "string", "username": "string"},
        "properties": [],
        "resource_url": auth_url,
    }
    if settings.client_auth.mode == "oauth2":
        document["OAuth2"] = _oauth2_block(config, base, include_secret)
    document["API"] = {"authenticate": authenticate}
    return document


def dump(document: dict[str, Any]) -> str:
    """Indented JSON with non-ASCII kept readable; stable key order for diffs."""
    return json.dumps(document, indent=2, ensure_ascii=False)


# ------------------------------------------------------------------------ the URL


def _base_url(public_url: str) -> str:
    """Check the URL Ringotel will call and return it without a trailing slash.

    A base path is allowed (a reverse proxy may publish the bridge under ``/sso``);
    a query, fragment or user-info would be glued onto every request URL, so they are
    refused. Plain http is only for loopback, where tests run.
    """
    parts = urllib.parse.urlsplit(public_url.strip())
    if parts.scheme not in ("https", "http"):
        raise DescriptorError(f"--public-url must start with https://, got {public_url!r}")
    host = parts.hostname
    if not host:
        raise DescriptorError(f"--public-url has no host name: {public_url!r}")
    if parts.scheme == "http" and not _is_loopback(host):
        raise DescriptorError(
            "--public-url must use https:// (Ringotel sends passwords to it); "
            "http:// is accepted only for localhost"
        )
    if parts.username is not None or parts.password is not None:
        raise DescriptorError("--public-url must not contain user:password@")
    if parts.query or parts.fragment or public_url.rstrip().endswith(("?", "#")):
        raise DescriptorError("--public-url must not have a query string or fragment")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise DescriptorError(f"--public-url has an invalid port: {public_url!r}") from None
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ----------------------------------------------------------------- client auth


def _oauth2_block(config: Config, base: str, include_secret: bool) -> dict[str, Any]:
    auth = config.settings.client_auth
    assert auth.mode == "oauth2"  # the caller's condition
    secret = (
        _text(config.secrets.client_secrets[0], "client_auth.client_secret")
        if include_secret
        else "<client_secret>"
    )
    return {
        "client_id": auth.client_id,
        "client_secret": secret,
        "flow_type": {"default": "3"},
        "token_endpoint": base + auth.token_path,
        "token_parameters": {"content_type": "application/json"},
        "request_auth": "Bearer",
    }


def _request_headers(config: Config, include_secret: bool) -> dict[str, str]:
    """The fixed Authorization header of the basic and bearer modes; none for oauth2."""
    auth = config.settings.client_auth
    secrets = config.secrets
    if auth.mode == "basic":
        if not include_secret:
            return {"Authorization": f"Basic <base64 of {auth.basic_username}:password>"}
        assert secrets.basic_password is not None  # guaranteed by config validation
        password = _text(secrets.basic_password, "client_auth.password")
        if ":" in auth.basic_username:
            raise DescriptorError("client_auth.username must not contain ':' (RFC 7617)")
        pair = f"{auth.basic_username}:{password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    if auth.mode == "bearer":
        token = _text(secrets.bearer_tokens[0], "client_auth.token") if include_secret else None
        return {"Authorization": f"Bearer {token or '<token>'}"}
    return {}


def _text(secret: Secret, key: str) -> str:
    """A secret as it must appear in JSON and an HTTP header."""
    try:
        value = secret.reveal().decode("utf-8")
    except UnicodeDecodeError:
        raise DescriptorError(f"{key} is not UTF-8 text, so it cannot go in JSON") from None
    if value != value.strip() or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise DescriptorError(
            f"{key} has surrounding whitespace or control characters; "
            "Ringotel could not send it back unchanged"
        )
    return value


# ---------------------------------------------------------------- response map


def _response_map(template_text: str) -> Any:
    """The template itself: Ringotel reads a ``$var$`` leaf, and we render that leaf.

    Ringotel can only read a value that is a whole JSON string, so ``$username$``
    must appear as one (``"ext-$username$"`` would hand Ringotel ``ext-101``).
    """
    try:
        template = response.parse_template(template_text)
    except response.TemplateError as exc:
        raise DescriptorError(f"response.template {exc}") from None
    if not _has_leaf(template, response.USERNAME):
        raise DescriptorError(
            'response.template must have "$username$" as a whole JSON string value, '
            "or Ringotel's response_map cannot read the username"
        )
    return template


def _has_leaf(node: Any, variable: str) -> bool:
    if isinstance(node, str):
        return node == variable
    if isinstance(node, list):
        return any(_has_leaf(item, variable) for item in node)
    if isinstance(node, dict):
        return any(_has_leaf(value, variable) for value in node.values())
    return False
