"""Conformance: Ringotel's side, reading only the printed descriptor, against the bridge.

Each case builds a config, prints the descriptor the way ``ringotel-bridge descriptor
--include-secret`` does (through ``dump`` and back through ``json.loads``), and hands
only that text to :class:`RingotelClient`, which talks real HTTP to the bridge, which
talks to the private slapd. Nothing secret is printed; test ids name mode and template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridge.commands.descriptor import build_descriptor, dump
from bridge.web.keys import RUNTIME
from tests.harness import openldap_people as people
from tests.harness.client_credentials import BEARER_TOKEN
from tests.harness.configs import oauth2_section, openldap_raw, write_secret
from tests.harness.in_process import StartBridge
from tests.harness.ringotel_client import RingotelClient
from tests.harness.slapd import SlapdServer

pytestmark = pytest.mark.openldap


def client_auth_section(directory: Path, mode: str) -> dict[str, Any]:
    if mode == "basic":
        return {}  # openldap_raw's default: basic with the conftest client password
    if mode == "bearer":
        token = write_secret(directory, "bearer-token", BEARER_TOKEN.encode())
        return {"mode": "bearer", "token_file": token}
    return oauth2_section(directory, mode.removeprefix("oauth2-"))


@dataclass(frozen=True)
class Template:
    text: str
    request: dict[str, str]


TEMPLATES = {
    "values-array": Template(
        '{"values":[{"username":"$username$","display_name":"$displayname$"}]}', {}
    ),
    "single-object": Template(
        '{"extension":"$username$","domain":"example.org"}',
        {"username_field": "email", "password_field": "secret"},
    ),
}
MODES = ("basic", "bearer", "oauth2-HS256", "oauth2-ES256", "oauth2-EdDSA")


@pytest.fixture
def raw(slapd: SlapdServer, tmp_path: Path) -> dict[str, Any]:
    return openldap_raw(slapd, tmp_path)


async def ringotel_for(
    mode: str,
    template: Template,
    tmp_path: Path,
    start_bridge: StartBridge,
    session: aiohttp.ClientSession,
) -> tuple[RingotelClient, dict[str, Any]]:
    client = await start_bridge(
        client_auth=client_auth_section(tmp_path, mode),
        request=template.request,
        response={"template": template.text},
    )
    config = client.server.app[RUNTIME].config
    public_url = str(client.make_url("")).rstrip("/")
    printed = dump(build_descriptor(config, public_url, "bridge-test", "Test", "", True))
    descriptor = json.loads(printed)
    return RingotelClient(descriptor, session), descriptor


@pytest.fixture
async def session() -> Any:
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.mark.parametrize("template_name", TEMPLATES)
@pytest.mark.parametrize("mode", MODES)
async def test_ringotel_logs_in_from_the_descriptor_alone(
    mode: str,
    template_name: str,
    tmp_path: Path,
    start_bridge: StartBridge,
    session: aiohttp.ClientSession,
) -> None:
    template = TEMPLATES[template_name]
    ringotel, descriptor = await ringotel_for(mode, template, tmp_path, start_bridge, session)
    assert ("OAuth2" in descriptor) == mode.startswith("oauth2")
    jane = people.PEOPLE["jdoe"]

    accepted = await ringotel.authenticate("jdoe", jane.password)
    assert accepted.status == 200
    if template_name == "values-array":
        assert accepted.usernames == list(jane.phones)
        assert accepted.display_names == [jane.display_name] * len(jane.phones)
    else:  # a single object carries the first username only
        assert accepted.usernames == [jane.phones[0]]
        assert accepted.raw == {"extension": jane.phones[0], "domain": "example.org"}

    refused = await ringotel.authenticate("jdoe", "not the password")
    assert (refused.status, refused.usernames, refused.raw) == (
        403,
        [],
        {"error": "access_denied"},
    )


@pytest.mark.parametrize("mode", MODES)
async def test_every_username_of_a_multi_phone_user_reaches_ringotel(
    mode: str,
    tmp_path: Path,
    start_bridge: StartBridge,
    session: aiohttp.ClientSession,
) -> None:
    """A second user and a non-ASCII one, on one connection and (oauth2) one token."""
    ringotel, _ = await ringotel_for(
        mode, TEMPLATES["values-array"], tmp_path, start_bridge, session
    )
    for login in ("user02", "zoë"):
        person = people.PEOPLE[login]
        result = await ringotel.authenticate(login, person.password)
        assert (result.status, result.usernames) == (200, list(person.phones))
        assert result.display_names == [person.display_name] * len(person.phones)
    assert ringotel.token_requests == (1 if mode.startswith("oauth2") else 0)
