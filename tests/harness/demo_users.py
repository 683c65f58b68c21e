"""The file directory's demo users (``config/demo-users.toml``) behind a real process.

Tests of the listener (connection bounds, workers) need a directory that is always
there and answers at once; the demo users file is it. Here: the config document that
serves it, alice's credentials and numbers, and one login as alice.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import aiohttp

from tests.harness.auth_client import AUTH
from tests.harness.bridge_process import REPO
from tests.harness.configs import basic_client_auth

ALICE = {"username": "alice", "password": "wonderland-101"}
ALICE_NUMBERS = ["101", "102"]


def file_raw(directory: Path, **server: Any) -> dict[str, Any]:
    """A config with the file directory (the demo users) and Basic client auth."""
    shutil.copy(REPO / "config" / "demo-users.toml", directory / "users.toml")
    return {
        "server": {"listen": ["127.0.0.1:0"], "ops_listen": "127.0.0.1:0", **server},
        "client_auth": basic_client_auth(directory),
        "directory": {"type": "file", "users_file": "users.toml"},
        "usernames": [{"attribute": "telephoneNumber"}],
        "logging": {"format": "json"},
    }


async def login(url: str, source: str = "127.0.0.1", **kwargs: Any) -> tuple[int, Any]:
    """One login as alice on a fresh connection from ``source``: (status, JSON body)."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0), force_close=True)
    timeout = aiohttp.ClientTimeout(total=kwargs.pop("timeout", 15))
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
        session.post(
            url + "/auth", json=ALICE, headers={"Authorization": AUTH}, **kwargs
        ) as answer,
    ):
        return answer.status, await answer.json()
