"""The suite's side of ``POST /auth``: Ringotel's Basic credentials, a login, the audit."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from bridge.directory.ldap.directory import LdapDirectory
from bridge.web.keys import RUNTIME
from tests.harness.client_credentials import CLIENT_PASSWORD, CLIENT_USER
from tests.harness.logs import log_events

AUTH = "Basic " + base64.b64encode(f"{CLIENT_USER}:{CLIENT_PASSWORD}".encode()).decode()
DENIED = {"error": "access_denied"}


async def login(client: Any, username: Any, password: Any, **kwargs: Any) -> tuple[int, Any]:
    """POST a login as JSON with the suite's client credentials: (status, JSON body)."""
    headers = {"Authorization": AUTH, **kwargs.pop("headers", {})}
    response = await client.post(
        "/auth", json={"username": username, "password": password}, headers=headers, **kwargs
    )
    return response.status, await response.json()


async def login_status(client: Any, username: str, password: str) -> int:
    return (await login(client, username, password))[0]


def audit_events(stream: Any, username: str | None = None) -> list[dict[str, Any]]:
    """The audit events (one per login attempt), optionally for one typed login."""
    return [
        e
        for e in log_events(stream)
        if e.get("event") == "login" and (username is None or e.get("login") == username)
    ]


def audit(stream: Any, username: str) -> dict[str, Any]:
    """The audit event of the last attempt of ``username``."""
    events = audit_events(stream, username)
    assert events, f"no audit event for {username!r}"
    return events[-1]


def directory_of(client: Any) -> LdapDirectory:
    directory = client.server.app[RUNTIME].service.directory
    assert isinstance(directory, LdapDirectory)
    return directory


def operations(client: Any) -> Mapping[str, int]:
    """The directory's operation counters now (binds, searches, group_lookups, ...)."""
    return directory_of(client).stats().operations


def expected_body(person: Any) -> dict[str, Any]:
    """The default template's answer for a seeded person (``usernames``, ``display_name``)."""
    return {
        "values": [
            {"username": name, "display_name": person.display_name} for name in person.usernames
        ]
    }
