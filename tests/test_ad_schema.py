"""Username attributes a user can write on himself: the SDDL judgement, then real Samba.

The pure part is checked against the very defaultSecurityDescriptor Samba (and Windows
Server 2016) give the user class; the Samba part proves the verdicts match what a plain
user can really do to his own entry with ldapmodify, and that start-up and
``check-config --connect`` name every forgeable attribute.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.config import Config
from bridge.directory.ad_schema import (
    AttributeSchema,
    judge,
    parse_dacl,
    self_write_grant,
)
from bridge.directory.ldap.directory import LdapDirectory
from bridge.process.server import Server
from bridge.process.wiring import build_service, check_username_attributes
from tests.harness import ad_people
from tests.harness.bridge_process import write_config
from tests.harness.configs import ad_raw
from tests.harness.logs import log_events
from tests.harness.samba import SambaDC

PERSONAL_INFORMATION = uuid.UUID("77b5b886-944a-11d1-aebd-0000f80367c1")
GENERAL_INFORMATION = uuid.UUID("59ba2f42-79a2-11d0-9020-00c04fc2d3cf")

#: The user class's defaultSecurityDescriptor as Samba 4.17 serves it.
USER_SDDL = (
    "D:(A;;RPWPCRCCDCLCLORCWOWDSDDTSW;;;DA)(A;;RPWPCRCCDCLCLORCWOWDSDDTSW;;;SY)"
    "(A;;RPWPCRCCDCLCLORCWOWDSDDTSW;;;AO)(A;;RPLCLORC;;;PS)"
    "(OA;;CR;ab721a53-1e2f-11d0-9819-00aa0040529b;;PS)"
    "(OA;;CR;ab721a54-1e2f-11d0-9819-00aa0040529b;;PS)"
    "(OA;;CR;ab721a56-1e2f-11d0-9819-00aa0040529b;;PS)"
    "(OA;;RPWP;77B5B886-944A-11d1-AEBD-0000F80367C1;;PS)"
    "(OA;;RPWP;E45795B2-9455-11d1-AEBD-0000F80367C1;;PS)"
    "(OA;;RPWP;E45795B3-9455-11d1-AEBD-0000F80367C1;;PS)"
    "(OA;;RP;037088f8-0ae1-11d2-b422-00a0c968f939;;RS)"
    "(OA;;RP;4c164200-20c0-11d0-a768-00aa006e0529;;RS)"
    "(OA;;RP;bc0ac240-79a9-11d0-9020-00c04fc2d4cf;;RS)(A;;RC;;;AU)"
    "(OA;;RP;59ba2f42-79a2-11d0-9020-00c04fc2d3cf;;AU)"
    "(OA;;RP;77B5B886-944A-11d1-AEBD-0000F80367C1;;AU)"
    "(OA;;RP;E45795B3-9455-11d1-AEBD-0000F80367C1;;AU)"
    "(OA;;RP;e48d0154-bcf8-11d1-8702-00c04fb96050;;AU)"
    "(OA;;CR;ab721a53-1e2f-11d0-9819-00aa0040529b;;WD)"
    "(OA;;RP;5f202010-79a5-11d0-9020-00c04fc2d4cf;;RS)"
    "(OA;;RPWP;bf967a7f-0de6-11d0-a285-00aa003049e2;;CA)"
    "(OA;;RP;46a9b11d-60ae-405a-b7e8-ff8a58d456d2;;S-1-5-32-560)"
    "(OA;;WPRP;6db69a1c-9422-11d1-aebd-0000f80367c1;;S-1-5-32-561)"
    "(OA;;WPRP;5805bc62-bdc9-4428-a5e2-856a0f4c185e;;S-1-5-32-561)"
)

#: The schema facts of the attributes the tests name (as read from Samba's schema).
SCHEMA = {
    "ipPhone": AttributeSchema(
        "ipPhone", uuid.UUID("4d146e4a-48d4-11d1-a9c3-0000f80367c1"), PERSONAL_INFORMATION
    ),
    "otherIpPhone": AttributeSchema(
        "otherIpPhone", uuid.UUID("4d146e4b-48d4-11d1-a9c3-0000f80367c1"), PERSONAL_INFORMATION
    ),
    "telephoneNumber": AttributeSchema(
        "telephoneNumber", uuid.UUID("bf967a49-0de6-11d0-a285-00aa003049e2"), PERSONAL_INFORMATION
    ),
    "employeeNumber": AttributeSchema(
        "employeeNumber", uuid.UUID("a8df73ef-c5ea-11d1-bbcb-0080c76670c0")
    ),
    "employeeID": AttributeSchema("employeeID", uuid.UUID("bf967962-0de6-11d0-a285-00aa003049e2")),
    "sAMAccountName": AttributeSchema(
        "sAMAccountName", uuid.UUID("3e0abfd0-126a-11d0-a060-00aa006c33ed"), GENERAL_INFORMATION
    ),
}
SELF_WRITABLE = {"ipPhone", "otherIpPhone", "telephoneNumber"}
NOT_SELF_WRITABLE = {"employeeNumber", "employeeID", "sAMAccountName"}


def writable(sddl: str, name: str) -> bool:
    return self_write_grant(SCHEMA[name], parse_dacl(sddl)) is not None


# ------------------------------------------------------------------ SDDL, pure


def test_default_user_acl_lets_self_write_the_personal_information_set() -> None:
    verdicts = {v.attribute: v for v in judge(SCHEMA, SCHEMA, parse_dacl(USER_SDDL))}
    assert {name for name, v in verdicts.items() if v.writable_by_self} == SELF_WRITABLE
    reason = verdicts["otherIpPhone"].reason
    assert "77b5b886-944a-11d1-aebd-0000f80367c1 (Personal-Information)" in reason
    assert "(OA;;RPWP;77B5B886-944A-11d1-AEBD-0000F80367C1;;PS)" in reason
    assert all(verdicts[name].in_schema for name in SCHEMA)


def test_unknown_attribute_is_not_in_schema_and_names_match_case_insensitively() -> None:
    verdicts = judge(["IPPHONE", "extensionAttribute1"], SCHEMA, parse_dacl(USER_SDDL))
    assert [(v.attribute, v.in_schema, v.writable_by_self) for v in verdicts] == [
        ("IPPHONE", True, True),
        ("extensionAttribute1", False, False),
    ]


@pytest.mark.parametrize(
    ("sddl", "name", "expected"),
    [
        # a plain allow of WP to SELF: every attribute
        ("D:(A;;RPWP;;;PS)", "employeeNumber", True),
        # write on the attribute's own schemaIDGUID
        ("D:(OA;;WP;a8df73ef-c5ea-11d1-bbcb-0080c76670c0;;PS)", "employeeNumber", True),
        ("D:(OA;;WP;a8df73ef-c5ea-11d1-bbcb-0080c76670c0;;PS)", "employeeID", False),
        # generic write / all, and the access mask written as a number
        ("D:(A;;GW;;;PS)", "sAMAccountName", True),
        ("D:(A;;GA;;;PS)", "sAMAccountName", True),
        ("D:(A;;0x00000020;;;PS)", "employeeID", True),
        ("D:(A;;0x00000010;;;PS)", "employeeID", False),  # read property only
        # other trustees every user is
        ("D:(OA;;WP;77b5b886-944a-11d1-aebd-0000f80367c1;;AU)", "ipPhone", True),
        ("D:(A;;WP;;;WD)", "employeeID", True),
        ("D:(A;;WP;;;S-1-5-21-1-2-3-513)", "employeeID", True),
        ("D:(A;;WP;;;S-1-5-21-1-2-3-512)", "employeeID", False),  # Domain Admins
        ("D:(A;;WP;;;DA)", "employeeID", False),
        # the right to rewrite the ACL is the right to anything
        ("D:(A;;WD;;;PS)", "employeeID", True),
        ("D:(A;;WO;;;PS)", "employeeID", True),
        # inherit-only: for children, not for the account itself
        ("D:(A;CIIO;WP;;;PS)", "employeeID", False),
        # an explicit deny of the set wins (canonical order: denies first)
        (
            "D:(OD;;WP;77b5b886-944a-11d1-aebd-0000f80367c1;;PS)"
            "(OA;;RPWP;77b5b886-944a-11d1-aebd-0000f80367c1;;PS)",
            "ipPhone",
            False,
        ),
        ("D:(D;;WP;;;AU)(A;;WP;;;PS)", "employeeID", False),
        # the SACL grants nothing; owner and group do not either
        ("O:DAG:DUS:(AU;SA;WP;;;PS)D:(A;;RP;;;PS)", "employeeID", False),
        ("O:PSG:PSD:(A;;RP;;;PS)", "employeeID", False),
        # a conditional ACE nests parentheses; the next ACE is still read
        ('D:(XA;;RP;;;PS;(@User.title=="PM"))(A;;WP;;;PS)', "employeeID", True),
        # protected / auto-inherited DACL flags before the ACEs
        ("D:PAI(A;;WP;;;PS)", "employeeID", True),
    ],
)
def test_self_write_grant(sddl: str, name: str, expected: bool) -> None:
    assert writable(sddl, name) is expected


def test_garbage_grants_nothing() -> None:
    assert parse_dacl("") == ()
    assert parse_dacl("D:(A;;WP)") == ()
    assert parse_dacl("D:(OA;;WP;not-a-guid;;PS)")[0].object_type is None


# ------------------------------------------------------------------ Samba: the real thing

ATTRIBUTES = [
    "otherIpPhone",
    "ipPhone",
    "telephoneNumber",
    "employeeNumber",
    "employeeID",
    "extensionAttribute1",
    "sAMAccountName",
]


@pytest.fixture
def samba_config(samba_dc: SambaDC, tmp_path: Path, make_config: Callable[..., Config]) -> Config:
    raw = ad_raw(samba_dc, tmp_path)
    raw["usernames"] = [{"attribute": name} for name in ATTRIBUTES]
    return make_config(raw)


def self_modify(dc: SambaDC, person: ad_people.Person, ldif: str) -> bool:
    """ldapmodify bound as ``person`` himself (no admin rights); True when it worked."""
    bind = ["-x", "-H", dc.ldaps_url, "-D", person.bind_names[0], "-w", person.password]
    result = subprocess.run(
        ["ldapmodify", *bind],
        input=f"dn: {person.dn}\nchangetype: modify\n{ldif}",
        capture_output=True,
        text=True,
        env=dc.tool_env(),
        timeout=30,
        check=False,
    )
    if result.returncode not in (0, 50):  # 50: insufficientAccessRights
        raise AssertionError(result.stderr)
    return result.returncode == 0


@pytest.fixture
def bob_restored(samba_dc: SambaDC) -> Iterator[ad_people.Person]:
    """Bob as seeded, whatever a test wrote on him."""
    person = ad_people.BOB
    yield person
    samba_dc.ldapmodify(
        f"dn: {person.dn}\nchangetype: modify\n"
        f"replace: ipPhone\nipPhone: {person.ip_phone}\n-\n"
        "replace: otherIpPhone\n-\nreplace: telephoneNumber\n-\n"
        "replace: employeeNumber\n-\nreplace: employeeID\n-\n"
        f"replace: sAMAccountName\nsAMAccountName: {person.sam}\n-\n"
    )


@pytest.mark.samba
async def test_samba_verdicts_match_what_a_user_can_do_to_himself(
    samba_config: Config, samba_dc: SambaDC, bob_restored: ad_people.Person
) -> None:
    service = build_service(samba_config)
    try:
        assert isinstance(service.directory, LdapDirectory)
        verdicts = {v.attribute: v for v in await service.directory.username_attribute_verdicts()}
    finally:
        await service.close()
    assert {name for name, v in verdicts.items() if v.writable_by_self} == SELF_WRITABLE
    assert not verdicts["extensionAttribute1"].writable_by_self
    assert not verdicts["extensionAttribute1"].in_schema  # Exchange's; Samba has none
    # reality: bob, bound as himself, writes each attribute on his own entry
    probes = {
        "otherIpPhone": "add: otherIpPhone\notherIpPhone: 399\n",
        "ipPhone": "replace: ipPhone\nipPhone: 398\n",
        "telephoneNumber": "add: telephoneNumber\ntelephoneNumber: 397\n",
        "employeeNumber": "add: employeeNumber\nemployeeNumber: 396\n",
        "employeeID": "add: employeeID\nemployeeID: 395\n",
        "sAMAccountName": f"replace: sAMAccountName\nsAMAccountName: {bob_restored.sam}\n",
    }
    reality = {name: self_modify(samba_dc, bob_restored, ldif) for name, ldif in probes.items()}
    assert reality == {name: verdicts[name].writable_by_self for name in probes}


@pytest.mark.samba
async def test_samba_start_up_warns_for_each_self_writable_attribute(
    samba_config: Config, log_stream: Any
) -> None:
    """The warning comes from the start-up directory check, beside the lockout one."""
    server = Server(samba_config)
    try:
        assert await server.directory_check()
    finally:
        await server.runtime.close()
    events = log_events(log_stream)
    warned = {e["attribute"]: e for e in events if e["event"] == "username_attribute_self_writable"}
    assert set(warned) == SELF_WRITABLE
    assert "Personal-Information" in warned["ipPhone"]["reason"]
    assert all(e["level"] == "warning" for e in warned.values())
    unknown = [e["attribute"] for e in events if e["event"] == "username_attribute_not_in_schema"]
    assert unknown == ["extensionAttribute1"]
    assert not [e for e in events if e["event"] == "username_attributes_unchecked"]


@pytest.mark.samba
def test_samba_check_config_connect_fails_for_each_self_writable_attribute(
    samba_dc: SambaDC, tmp_path: Path
) -> None:
    raw = ad_raw(samba_dc, tmp_path)
    raw["usernames"] = [{"attribute": name} for name in ATTRIBUTES]
    path = write_config(tmp_path / "bridge.toml", raw)
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "--config", str(path), "check-config", "--connect"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    failed = [line.strip() for line in result.stdout.splitlines() if "FAILED:" in line]
    for name in SELF_WRITABLE:
        assert any(
            line.startswith(f"FAILED: username attribute {name}: users may write it")
            for line in failed
        ), result.stdout
    assert "FAILED: username attribute extensionAttribute1: not in the directory's schema" in failed
    assert len(failed) == len(SELF_WRITABLE) + 1, result.stdout
    for name in NOT_SELF_WRITABLE:
        assert f"username attribute {name}: users cannot write it" in result.stdout


@pytest.mark.samba
async def test_samba_hardened_choice_passes(
    samba_dc: SambaDC, tmp_path: Path, make_config: Callable[..., Config], log_stream: Any
) -> None:
    raw = ad_raw(samba_dc, tmp_path)
    raw["usernames"] = [{"attribute": "employeeNumber"}]
    service = build_service(make_config(raw))
    try:
        verdicts = await check_username_attributes(service)
    finally:
        await service.close()
    assert [(v.attribute, v.writable_by_self, v.in_schema) for v in verdicts] == [
        ("employeeNumber", False, True)
    ]
    assert not [e for e in log_events(log_stream) if "username_attribute" in e["event"]]
