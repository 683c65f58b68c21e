"""The file directory end to end over real HTTP, and what a bad users file gets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from bridge.commands.check_config import check_config
from bridge.config import Config, load
from bridge.core.errors import ConfigError
from bridge.directory.file import FileDirectory
from bridge.directory.passwords import hash_password, verify_password
from bridge.process.directories import build_directory
from bridge.web.keys import RUNTIME
from tests.harness.auth_client import login
from tests.harness.client_credentials import CLIENT_PASSWORD, CLIENT_USER
from tests.harness.in_process import StartBridge
from tests.harness.logs import log_events

ALLOWED = "CN=Ringotel Users,OU=Groups,DC=corp,DC=example"
BLOCKED = "CN=Blocked,OU=Groups,DC=corp,DC=example"
# Cheap parameters keep the suite fast; verification reads them from each hash.
_CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

USERS = {
    "alice": ("alice pass ✓", False, [ALLOWED], ["101", "102"]),
    "bob": ("bob-pass", False, [BLOCKED, ALLOWED], ["103"]),
    "carol": ("carol-pass", True, [ALLOWED], ["104"]),
    "dave": ("dave-pass", False, ["staff"], ["105"]),
}


def users_toml() -> str:
    tables = []
    for name, (password, disabled, groups, phones) in USERS.items():
        group_list = ", ".join(f'"{g}"' for g in groups)
        phone_list = ", ".join(f'"{p}"' for p in phones)
        tables.append(
            f'[[users]]\nlogin = "{name}"\npassword_hash = "{_CHEAP.hash(password)}"\n'
            f'display_name = "{name.title()} Example"\ndisabled = {str(disabled).lower()}\n'
            f"groups = [{group_list}]\ntelephoneNumber = [{phone_list}]\n"
            f'mail = "{name}@corp.example"\n'
        )
    return "\n".join(tables)


@pytest.fixture
def raw(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "users.toml").write_text(users_toml(), encoding="utf-8")
    secret = tmp_path / "client-password"
    secret.write_text(CLIENT_PASSWORD)
    secret.chmod(0o600)
    return {
        "server": {"listen": ["127.0.0.1:0"], "ops_listen": ""},
        "client_auth": {"mode": "basic", "username": CLIENT_USER, "password_file": secret.name},
        "directory": {"type": "file", "users_file": "users.toml", "accept_mail": True},
        "usernames": [{"attribute": "telephoneNumber"}],
    }


def reasons(stream: Any) -> list[str]:
    return [e["reason"] for e in log_events(stream) if e["event"] == "login"]


def verifications(client: Any) -> int:
    directory = client.server.app[RUNTIME].service.directory
    assert isinstance(directory, FileDirectory)
    return directory.stats().operations["verifications"]


async def test_right_password_answers_usernames_any_case_and_by_mail(
    start_bridge: StartBridge,
) -> None:
    client = await start_bridge()
    expected = {
        "values": [
            {"username": "101", "display_name": "Alice Example"},
            {"username": "102", "display_name": "Alice Example"},
        ]
    }
    for typed in ("alice", "ALICE", "Alice@Corp.Example"):
        assert await login(client, typed, "alice pass ✓") == (200, expected), typed


async def test_denials_are_identical_outside_and_precise_in_the_audit(
    start_bridge: StartBridge, log_stream: Any
) -> None:
    client = await start_bridge()
    attempts = [
        ("alice", "Alice pass ✓", "bad_password"),
        ("alice", "alice pass ✓ ", "bad_password"),
        ("carol", "carol-pass", "account_disabled"),
        ("carol", "wrong", "bad_password"),  # like AD: only the right password learns it
        ("nobody", "whatever", "unknown_user"),
        ("alice", "", "empty_password"),
    ]
    for username, password, _ in attempts:
        assert await login(client, username, password) == (403, {"error": "access_denied"})
    assert reasons(log_stream) == [reason for _, _, reason in attempts]


async def test_unknown_user_costs_one_verification_like_a_known_one(
    start_bridge: StartBridge,
) -> None:
    client = await start_bridge()
    before = verifications(client)
    await login(client, "dave", "wrong")
    known = verifications(client) - before
    await login(client, "no-such-person", "wrong")
    unknown = verifications(client) - before - known
    assert known == unknown == 1


async def test_groups_allow_and_deny_with_dns_and_plain_names(
    start_bridge: StartBridge, log_stream: Any
) -> None:
    groups = {"allow": [ALLOWED.lower().replace(",", ", "), "staff"], "deny": [BLOCKED]}
    client = await start_bridge(groups=groups)
    statuses = [(await login(client, name, USERS[name][0]))[0] for name in ("alice", "bob", "dave")]
    assert statuses == [200, 403, 200]
    assert reasons(log_stream) == ["ok", "in_denied_group", "ok"]
    client = await start_bridge(groups={"allow": [ALLOWED]})
    assert (await login(client, "dave", "dave-pass"))[0] == 403
    assert reasons(log_stream)[-1] == "not_in_allowed_group"


async def test_readiness_names_the_file(start_bridge: StartBridge, tmp_path: Path) -> None:
    ops = await start_bridge(ops=True)
    response = await ops.get("/readyz")
    assert response.status == 200
    ready = {"status": "ready", "server": f"file:{tmp_path / 'users.toml'}", "detail": "4 users"}
    assert await response.json() == {**ready, "directories": {"default": ready}}


async def test_check_config_connect_reads_the_file(
    raw: dict[str, Any],
    make_config: Callable[..., Config],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await check_config(make_config(raw), connect=True) == 0
    out = capsys.readouterr().out
    assert f"file:{tmp_path / 'users.toml'}:\n  4 users\n  OK\n" in out
    assert "no lockout policy readable (the budget alone guards)" in out


def test_default_hash_is_argon2id_and_verifies() -> None:
    hashed = hash_password("pässword")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "pässword")
    assert not verify_password("not a hash", "pässword")
    assert not verify_password("$argon2id$v=19$m=1,t=1,p=1$broken", "x")


GOOD = _CHEAP.hash("x")


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            f'[[users]]\nlogin = "a"\npassword_hash = "{GOOD}"\n'
            '[[users]]\nlogin = "b"\npassword_hash = "{SSHA}abc"\n',
            ["users[1].password_hash: not an argon2 hash"],
        ),
        (
            f'[[users]]\npassword_hash = "{GOOD}"\ndisabled = "no"\n',
            ["users[0].login: required key is missing", "users[0].disabled: expected true or"],
        ),
        (
            f'[[users]]\nlogin = "a"\npassword_hash = "{GOOD}"\nipPhone = {{ x = 1 }}\n'
            f'[[users]]\nlogin = "b"\npassword_hash = "{GOOD}"\nmail = [true]\n',
            ["users[0].ipPhone: expected a string", "users[1].mail: expected a string"],
        ),
        (
            f'[[users]]\nlogin = "a"\npassword_hash = "{GOOD}"\ngroups = "g"\n'
            f'[[users]]\nlogin = "A"\npassword_hash = "{GOOD}"\n',
            ["users[1].login: 'a' is also a login or mail of users[0]"],
        ),
        (
            f'[[users]]\nlogin = "a"\npassword_hash = "{GOOD}"\nmail = "b"\n'
            f'[[users]]\nlogin = "b"\npassword_hash = "{GOOD}"\n',
            ["users[1].login: 'b' is also a login or mail of users[0]"],
        ),
        (
            f'[[users]]\nlogin = ""\npassword_hash = "{GOOD.replace("argon2id", "argon2i")}"\n',
            ["users[0].login: must not be empty", "users[0].password_hash: not an argon2"],
        ),
        ('user = []\nusers = "x"\n', ["user: unknown key", "users: expected [[users]] tables"]),
        ("[[users]\nlogin =", ["directory.users_file: ", "not valid TOML"]),
    ],
)
def test_bad_users_files_name_their_keys(
    text: str,
    problems: list[str],
    raw: dict[str, Any],
    make_config: Callable[..., Config],
    tmp_path: Path,
) -> None:
    config = make_config(raw)
    (tmp_path / "users.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        build_directory(config)
    message = str(caught.value)
    for problem in problems:
        assert problem in message, message


async def test_reload_reads_the_users_file_again_and_keeps_it_when_broken(
    raw: dict[str, Any], bridge_client: Any, tmp_path: Path, log_stream: Any
) -> None:
    path = tmp_path / "bridge.toml"
    path.write_text(
        '[client_auth]\nmode = "basic"\npassword_file = "client-password"\n'
        '[directory]\ntype = "file"\nusers_file = "users.toml"\n'
        '[[usernames]]\nattribute = "telephoneNumber"\n'
    )
    client = await bridge_client(load(path, environ={}))
    runtime = client.server.app[RUNTIME]
    users = tmp_path / "users.toml"
    # (a different password: a failed unknown login is remembered as it was typed)
    assert (await login(client, "erin", "before-she-existed"))[0] == 403
    users.write_text(
        users.read_text()
        + f'\n[[users]]\nlogin = "erin"\npassword_hash = "{_CHEAP.hash("erin-pass")}"\n'
        'telephoneNumber = "106"\n'
    )
    assert await runtime.reload()
    assert await login(client, "erin", "erin-pass") == (
        200,
        {"values": [{"username": "106", "display_name": "erin"}]},
    )
    users.write_text(users.read_text() + '\n[[users]]\nlogin = "x"\npassword_hash = "x"\n')
    assert not await runtime.reload()
    assert (await login(client, "erin", "erin-pass"))[0] == 200
    failed = [e for e in log_events(log_stream) if e["event"] == "reload_failed"]
    assert failed[-1]["errors"] == [
        "users[5].password_hash: not an argon2 hash (make one with ringotel-bridge hash-password)"
    ]


async def test_a_number_two_users_hold_is_handed_to_neither(
    start_bridge: StartBridge, log_stream: Any, tmp_path: Path
) -> None:
    """The file follows the same rule as LDAP: a typo that gives dave alice's 102 must
    not hand it to both of them."""
    text = users_toml().replace('telephoneNumber = ["105"]', 'telephoneNumber = ["105", "102"]')
    (tmp_path / "users.toml").write_text(text, encoding="utf-8")
    client = await start_bridge(groups={})
    status, body = await login(client, "dave", "dave-pass")
    assert (status, [v["username"] for v in body["values"]]) == (200, ["105"])
    status, body = await login(client, "alice", "alice pass ✓")
    assert (status, [v["username"] for v in body["values"]]) == (200, ["101"])
    events = [e for e in log_events(log_stream) if e["event"] == "login"]
    assert [e["dropped_usernames"] for e in events] == [{"102": "duplicate"}] * 2
