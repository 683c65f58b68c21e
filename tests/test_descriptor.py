"""The integration descriptor: what Ringotel support is given, built from the config.

Pure-logic tests build configs in memory (no directory is contacted); the CLI tests run
``python -m bridge descriptor`` as a user would, on a config file in tmp_path.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridge.commands.descriptor import DescriptorError, build_descriptor, dump
from bridge.config import Config
from tests.harness.client_credentials import (
    BEARER_TOKEN,
    CLIENT_PASSWORD,
    CLIENT_SECRET,
    CLIENT_USER,
)
from tests.harness.configs import oauth2_section, write_secret

PUBLIC = "https://sso.example.com"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def raw(tmp_path: Path) -> dict[str, Any]:
    """A complete config for a directory that is never contacted here."""
    write_secret(tmp_path, "bind-password", b"bind-secret")
    write_secret(tmp_path, "client-password", CLIENT_PASSWORD.encode())
    return {
        "server": {"listen": ["127.0.0.1:0"], "ops_listen": ""},
        "client_auth": {
            "mode": "basic",
            "username": CLIENT_USER,
            "password_file": "client-password",
        },
        "directory": {
            "type": "ldap",
            "flavor": "openldap",
            "urls": ["ldap://127.0.0.1:1"],
            "allow_plaintext": True,
            "bind_dn": "cn=svc,dc=example,dc=org",
            "bind_password_file": "bind-password",
            "base_dn": "dc=example,dc=org",
        },
        "usernames": [{"attribute": "telephoneNumber"}],
    }


def describe(config: Config, public_url: str = PUBLIC, secret: bool = False) -> dict[str, Any]:
    document = build_descriptor(config, public_url, "svc-id", "Corp SSO", "https://x/l.png", secret)
    assert json.loads(dump(document)) == document  # what is printed is what was built
    return document


def oauth2_config(
    raw: dict[str, Any], tmp_path: Path, make_config: Callable[..., Config], **more: Any
) -> Config:
    return make_config(raw, client_auth={**oauth2_section(tmp_path, "HS256"), **more})


def test_oauth2_descriptor_has_the_documented_shape(
    raw: dict[str, Any], tmp_path: Path, make_config: Callable[..., Config]
) -> None:
    document = describe(oauth2_config(raw, tmp_path, make_config))
    assert document == {
        "id": "svc-id",
        "name": "Corp SSO",
        "logo": "https://x/l.png",
        "class": "auth",
        "parameters": {"user_id": "string", "username": "string"},
        "properties": [],
        "resource_url": "https://sso.example.com/auth",
        "OAuth2": {
            "client_id": "ringotel",
            "client_secret": "<client_secret>",
            "flow_type": {"default": "3"},
            "token_endpoint": "https://sso.example.com/oauth/token",
            "token_parameters": {"content_type": "application/json"},
            "request_auth": "Bearer",
        },
        "API": {
            "authenticate": {
                "request_method": "POST",
                "request_url": "https://sso.example.com/auth",
                "request_content_type": "application/json",
                "request_parameters": {"username": "$username$", "password": "$password$"},
                "response_map": {
                    "values": [{"username": "$username$", "display_name": "$displayname$"}]
                },
            }
        },
    }


def test_oauth2_include_secret_puts_the_first_client_secret(
    raw: dict[str, Any], tmp_path: Path, make_config: Callable[..., Config]
) -> None:
    write_secret(tmp_path, "second-secret", b"second-secret-value-0123456789")
    config = oauth2_config(
        raw, tmp_path, make_config, client_secret_files=["second-secret"], client_id="rt-prod"
    )
    block = describe(config, secret=True)["OAuth2"]
    assert (block["client_id"], block["client_secret"]) == ("rt-prod", CLIENT_SECRET)


def test_paths_come_from_the_config_and_a_base_path_is_kept(
    raw: dict[str, Any], tmp_path: Path, make_config: Callable[..., Config]
) -> None:
    config = make_config(
        raw,
        server={"auth_paths": ["/ringotel/login", "/auth"]},
        client_auth={**oauth2_section(tmp_path, "HS256"), "token_path": "/t/token"},
    )
    document = describe(config, "https://gw.example.com:8443/sso/")
    assert document["resource_url"] == "https://gw.example.com:8443/sso/ringotel/login"
    assert document["API"]["authenticate"]["request_url"] == document["resource_url"]
    assert document["OAuth2"]["token_endpoint"] == "https://gw.example.com:8443/sso/t/token"


def test_basic_descriptor_carries_the_authorization_header(
    raw: dict[str, Any], make_config: Callable[..., Config]
) -> None:
    config = make_config(raw)
    placeholder = describe(config)
    assert "OAuth2" not in placeholder
    header = placeholder["API"]["authenticate"]["request_headers"]["Authorization"]
    assert header.startswith("Basic <")
    assert CLIENT_PASSWORD not in header
    real = describe(config, secret=True)["API"]["authenticate"]["request_headers"]
    user, _, password = base64.b64decode(real["Authorization"].removeprefix("Basic ")).partition(
        b":"
    )
    assert (user.decode(), password.decode()) == (CLIENT_USER, CLIENT_PASSWORD)


def test_bearer_descriptor_carries_the_first_token(
    raw: dict[str, Any], tmp_path: Path, make_config: Callable[..., Config]
) -> None:
    token = write_secret(tmp_path, "bearer-token", BEARER_TOKEN.encode())
    config = make_config(raw, client_auth={"mode": "bearer", "token_file": token})
    assert describe(config)["API"]["authenticate"]["request_headers"] == {
        "Authorization": "Bearer <token>"
    }
    headers = describe(config, secret=True)["API"]["authenticate"]["request_headers"]
    assert headers == {"Authorization": f"Bearer {BEARER_TOKEN}"}
    assert "OAuth2" not in describe(config, secret=True)


def test_field_names_follow_the_request_section(
    raw: dict[str, Any], make_config: Callable[..., Config]
) -> None:
    config = make_config(raw, request={"username_field": "email", "password_field": "pass"})
    parameters = describe(config)["API"]["authenticate"]["request_parameters"]
    assert parameters == {"email": "$username$", "pass": "$password$"}


@pytest.mark.parametrize(
    "template",
    [
        '{"extension":"$username$","domain":"example.org"}',
        '{"users":[{"id":"$username$","name":"$displayname$","active":true,"n":1}],"v":2}',
        '[{"username":"$username$"}]',
    ],
)
def test_response_map_is_the_template(
    raw: dict[str, Any], make_config: Callable[..., Config], template: str
) -> None:
    config = make_config(raw, response={"template": template})
    assert describe(config)["API"]["authenticate"]["response_map"] == json.loads(template)


def test_username_embedded_in_text_cannot_be_read_by_ringotel(
    raw: dict[str, Any], make_config: Callable[..., Config]
) -> None:
    config = make_config(raw, response={"template": '{"values":[{"username":"sip:$username$"}]}'})
    with pytest.raises(DescriptorError, match=r"whole JSON string value"):
        describe(config)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://sso.example.com", "https://"),
        ("ftp://sso.example.com", "https://"),
        ("sso.example.com", "https://"),
        ("https://", "no host"),
        ("https://sso.example.com/?a=1", "query"),
        ("https://sso.example.com/#x", "fragment"),
        ("https://user:pw@sso.example.com", "user:password"),
        ("https://sso.example.com:99999", "port"),
    ],
)
def test_bad_public_url_is_refused_with_the_reason(
    raw: dict[str, Any], make_config: Callable[..., Config], url: str, reason: str
) -> None:
    with pytest.raises(DescriptorError, match=reason):
        describe(make_config(raw), url)


@pytest.mark.parametrize("url", ["http://localhost:8080", "http://127.0.0.1:1234", "http://[::1]"])
def test_plain_http_is_allowed_for_loopback(
    raw: dict[str, Any], make_config: Callable[..., Config], url: str
) -> None:
    assert describe(make_config(raw), url)["resource_url"] == url + "/auth"


# ------------------------------------------------------------------------ the CLI


def write_config_file(tmp_path: Path) -> Path:
    """The example-style TOML, oauth2 mode, secrets in 0600 files beside it."""
    write_secret(tmp_path, "bind-password", b"bind-secret")
    section = oauth2_section(tmp_path, "HS256")
    path = tmp_path / "bridge.toml"
    path.write_text(
        f"""
[server]
listen = ["127.0.0.1:8443"]
ops_listen = ""

[request]
username_field = "email"

[client_auth]
mode = "oauth2"
client_id = "ringotel"
client_secret_file = "{section["client_secret_file"]}"
signing_key_file = "{section["signing_key_file"]}"

[directory]
type = "ldap"
flavor = "openldap"
urls = ["ldap://127.0.0.1:1"]
allow_plaintext = true
bind_dn = "cn=svc,dc=example,dc=org"
bind_password_file = "bind-password"
base_dn = "dc=example,dc=org"

[[usernames]]
attribute = "telephoneNumber"
""",
        encoding="utf-8",
    )
    return path


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", "--config", str(config), "descriptor", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )


def test_cli_prints_valid_json_descriptor(tmp_path: Path) -> None:
    done = run_cli(write_config_file(tmp_path), "--public-url", PUBLIC)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["OAuth2"]["token_endpoint"] == f"{PUBLIC}/oauth/token"
    assert document["OAuth2"]["client_secret"] == "<client_secret>"
    assert document["API"]["authenticate"]["request_parameters"] == {
        "email": "$username$",
        "password": "$password$",
    }
    assert CLIENT_SECRET not in done.stdout + done.stderr


def test_cli_include_secret(tmp_path: Path) -> None:
    done = run_cli(
        write_config_file(tmp_path), "--public-url", PUBLIC, "--include-secret", "--id", "corp"
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert (document["id"], document["OAuth2"]["client_secret"]) == ("corp", CLIENT_SECRET)


def test_cli_bad_url_exits_2_with_a_readable_message(tmp_path: Path) -> None:
    done = run_cli(write_config_file(tmp_path), "--public-url", "http://sso.example.com")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "cannot build a working descriptor" in done.stderr
    assert "https://" in done.stderr
