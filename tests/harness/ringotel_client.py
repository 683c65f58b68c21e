"""Ringotel's side of the SSO integration, driven by the integration descriptor alone.

This is what the conformance suite plays: it knows nothing about the bridge's config,
only the descriptor the bridge printed, and follows it the way Ringotel's documentation
says Ringotel does. If the bridge and its descriptor disagree, this client fails.

Response map convention (Ringotel's): a string leaf ``$var$`` names a value Ringotel
reads at that position, and a one-element array means "each element of the answer's
array, read with that element's map".
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import aiohttp

_VARIABLE = re.compile(r"^\$([a-z_]+)\$$")


@dataclass(frozen=True)
class Result:
    """What Ringotel took from one authenticate call."""

    status: int
    usernames: list[str]
    display_names: list[str]
    raw: Any = field(repr=False)


class RingotelClient:
    """Authenticate users exactly as the descriptor instructs, nothing more."""

    def __init__(self, descriptor: dict[str, Any], session: aiohttp.ClientSession) -> None:
        self._descriptor = descriptor
        self._api = descriptor["API"]["authenticate"]
        self._oauth = descriptor.get("OAuth2")
        self._session = session
        self._token: str | None = None
        self.token_requests = 0

    async def authenticate(self, username: str, password: str) -> Result:
        headers = dict(self._api.get("request_headers", {}))
        headers["Content-Type"] = self._api["request_content_type"]
        if self._oauth is not None:
            headers["Authorization"] = f"{self._oauth['request_auth']} {await self.token()}"
        body = _substitute(self._api["request_parameters"], username, password)
        async with self._session.request(
            self._api["request_method"],
            self._api["request_url"],
            data=_encode(self._api["request_content_type"], body),
            headers=headers,
        ) as answer:
            raw = await answer.json(content_type=None) if await answer.read() else None
            status = answer.status
        if status != 200:
            return Result(status, [], [], raw)
        values = extract(self._api["response_map"], raw)
        return Result(status, values.get("username", []), values.get("displayname", []), raw)

    async def token(self) -> str:
        """A cached access token from the descriptor's token endpoint (flow_type 3)."""
        if self._token is not None:
            return self._token
        assert self._oauth is not None
        assert self._oauth["flow_type"]["default"] == "3", "only client credentials is known"
        parameters = self._oauth.get("token_parameters", {})
        content_type = parameters.get("content_type", "application/x-www-form-urlencoded")
        headers = {"Content-Type": content_type, **parameters.get("request_headers", {})}
        body = {
            "grant_type": "client_credentials",
            "client_id": self._oauth["client_id"],
            "client_secret": self._oauth["client_secret"],
        }
        self.token_requests += 1
        async with self._session.post(
            self._oauth["token_endpoint"], data=_encode(content_type, body), headers=headers
        ) as answer:
            document = await answer.json(content_type=None)
            if answer.status != 200:
                raise TokenRefused(answer.status, document)
        assert document["token_type"].lower() == "bearer"
        token: str = document["access_token"]
        self._token = token
        return token


class TokenRefused(Exception):
    """The token endpoint said no; carries its §5.2 error body for the assertion."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        super().__init__(f"token endpoint answered {status}: {body.get('error')}")


def _substitute(parameters: dict[str, str], username: str, password: str) -> dict[str, str]:
    values = {"$username$": username, "$password$": password}
    return {name: values.get(template, template) for name, template in parameters.items()}


def _encode(content_type: str, body: dict[str, str]) -> bytes:
    if content_type.split(";")[0].strip() == "application/json":
        return json.dumps(body).encode()
    return urllib.parse.urlencode(body).encode()


def extract(response_map: Any, answer: Any) -> dict[str, list[str]]:
    """Every ``$var$`` the map names, with the values found at that place in the answer."""
    found: dict[str, list[str]] = {}
    _walk(response_map, answer, found)
    return found


def _walk(node: Any, answer: Any, found: dict[str, list[str]]) -> None:
    if isinstance(node, str):
        match = _VARIABLE.match(node)
        if match and isinstance(answer, str):
            found.setdefault(match.group(1), []).append(answer)
    elif isinstance(node, dict) and isinstance(answer, dict):
        for key, child in node.items():
            if key in answer:
                _walk(child, answer[key], found)
    elif isinstance(node, list) and isinstance(answer, list):
        if len(node) == 1:
            for element in answer:
                _walk(node[0], element, found)
        else:
            for child, element in zip(node, answer, strict=False):
                _walk(child, element, found)
