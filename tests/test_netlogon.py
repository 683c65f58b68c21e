"""The CLDAP netlogon ping's messages: the request we send, and the reader of replies.

The replies below are real: datagrams Samba 4.17 sent to ``ping_request(1,
"example.test")`` from the suite's private DC (``tests/harness/samba.py``), captured
with a plain UDP socket while its sites and subnets were set as each name says.
``test_discovery.py`` pings the running DC as well; these keep the reader honest
without one, and hypothesis keeps it honest against everything else.
"""

from __future__ import annotations

import contextlib
import uuid
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.directory.locator.netlogon import (
    CLOSEST,
    NetlogonError,
    parse_netlogon,
    parse_ping_reply,
    ping_request,
    read_name,
)

with warnings.catch_warnings():  # ldap3 imports pyasn1 names pyasn1 now deprecates
    warnings.simplefilter("ignore", DeprecationWarning)
    from ldap3 import BASE, DEREF_NEVER
    from ldap3.operation.search import search_operation
    from ldap3.protocol.rfc4511 import LDAPMessage, MessageID, ProtocolOp
    from pyasn1.codec.ber import encoder

#: 127.0.0.0/8 in no subnet, one site: Samba names its only site, and the DC is closest.
ONE_SITE = bytes.fromhex(
    "3079020101647404003070306e04086e65746c6f676f6e31620460170000009d110000ca5344481877"
    "7740a1cee27c6875a74c076578616d706c65047465737400c01803646331c018074558414d504c4500"
    "0344433100001744656661756c742d46697273742d536974652d4e616d6500c03d05000000ffffffff"
    "300c02010165070a010004000400"
)
#: a second site HQ, with the subnet 127.0.0.0/8 in it: the client is in HQ.
IN_HQ = bytes.fromhex(
    "307b020101647604003072307004086e65746c6f676f6e31640462170000001d110000ca5344481877"
    "7740a1cee27c6875a74c076578616d706c65047465737400c01803646331c018074558414d504c4500"
    "0344433100001744656661756c742d46697273742d536974652d4e616d65000248510005000000ffff"
    "ffff300c02010165070a010004000400"
)
#: two sites, no subnet for 127.0.0.0/8: the client's site is unknown ("").
NO_SUBNET = bytes.fromhex(
    "307802010164730400306f306d04086e65746c6f676f6e3161045f170000001d110000ca5344481877"
    "7740a1cee27c6875a74c076578616d706c65047465737400c01803646331c018074558414d504c4500"
    "0344433100001744656661756c742d46697273742d536974652d4e616d65000005000000ffffffff30"
    "0c02010165070a010004000400"
)
#: pinged for other.test, a domain this DC does not serve: a searchResultDone alone.
OTHER_DOMAIN = bytes.fromhex("300c02010165070a010004000400")
DOMAIN_GUID = uuid.UUID("484453ca-7718-4077-a1ce-e27c6875a74c")


# --- the request ---------------------------------------------------------------------


def test_request_is_the_search_that_samba_answered() -> None:
    """The very bytes the replies below answer."""
    assert ping_request(1, "example.test") == bytes.fromhex(
        "304e020101634904000a01000a0100020100020100010100a02aa3190409446e73446f6d61696e040c"
        "6578616d706c652e74657374a30d04054e74566572040406000000300a04084e65746c6f676f6e"
    )


@settings(max_examples=200)
@given(
    st.integers(min_value=1, max_value=2**31 - 1),
    st.lists(st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True), min_size=2, max_size=5),
)
def test_request_is_what_ldap3_encodes_for_the_same_search(
    message_id: int, labels: list[str]
) -> None:
    """An encoder that is not ours (ldap3 and pyasn1) writes the same bytes."""
    domain = ".".join(labels)
    search = search_operation(
        "",
        rf"(&(DnsDomain={domain})(NtVer=\06\00\00\00))",
        BASE,
        DEREF_NEVER,
        ["Netlogon"],
        0,
        0,
        False,
        auto_escape=False,
        auto_encode=False,
    )
    operation = ProtocolOp()
    operation.setComponentByName("searchRequest", search)
    message = LDAPMessage()
    message["messageID"] = MessageID(message_id)
    message["protocolOp"] = operation
    assert ping_request(message_id, domain) == encoder.encode(message)


# --- real replies --------------------------------------------------------------------


def test_reply_of_a_one_site_domain() -> None:
    reply = parse_ping_reply(ONE_SITE, 1)
    assert reply is not None
    assert (reply.forest, reply.domain, reply.dc_host) == (
        "example.test",
        "example.test",
        "dc1.example.test",
    )
    assert (reply.netbios_domain, reply.netbios_computer, reply.user) == ("EXAMPLE", "DC1", "")
    assert reply.dc_site == reply.client_site == "Default-First-Site-Name"
    assert reply.opcode == 23  # LOGON_SAM_LOGON_RESPONSE_EX
    assert reply.domain_guid == DOMAIN_GUID
    assert reply.nt_version == 5
    assert reply.closest
    assert reply.flags & CLOSEST


def test_reply_names_the_clients_own_site() -> None:
    reply = parse_ping_reply(IN_HQ, 1)
    assert reply is not None
    assert reply.client_site == "HQ"
    assert reply.dc_site == "Default-First-Site-Name"
    assert not reply.closest  # this DC is not in HQ


def test_reply_without_a_matching_subnet_has_no_client_site() -> None:
    reply = parse_ping_reply(NO_SUBNET, 1)
    assert reply is not None
    assert reply.client_site == ""


def test_a_dc_of_another_domain_answers_with_no_entry() -> None:
    assert parse_ping_reply(OTHER_DOMAIN, 1) is None


def test_a_reply_to_another_ping_is_refused() -> None:
    with pytest.raises(NetlogonError, match="message id"):
        parse_ping_reply(IN_HQ, 2)


def test_a_refused_search_is_an_error() -> None:
    refused = bytes.fromhex("300c02010165070a013204000400")  # insufficientAccessRights
    with pytest.raises(NetlogonError, match="refused"):
        parse_ping_reply(refused, 1)


def test_every_truncation_of_a_real_reply_is_a_clean_error() -> None:
    for end in range(len(IN_HQ) - 14):  # up to the entry's end; the done may be cut off
        with pytest.raises(NetlogonError):
            parse_ping_reply(IN_HQ[:end], 1)


# --- names ---------------------------------------------------------------------------


def test_names_follow_backward_pointers() -> None:
    blob = b"\x07example\x04test\x00" + b"\x03dc1\xc0\x00"
    assert read_name(blob, 0) == ("example.test", 14)
    assert read_name(blob, 14) == ("dc1.example.test", 20)


@pytest.mark.parametrize(
    ("blob", "start", "error"),
    [
        (b"\xc0\x00", 0, "backwards"),  # points at itself
        (b"\x03abc\xc0\x02", 0, "backwards"),  # into its own labels
        (b"\x00\xc0\x03\xc0\x01", 3, "backwards"),  # back, then forward again: a loop
        (b"\x05abc", 0, "past the end"),
        (b"\x03abc", 0, "past the end"),
        (b"\xc0", 0, "truncated"),
        (b"\x40abc\x00", 0, "label type"),
        (b"\x02\xff\xfe\x00", 0, "UTF-8"),
        ((b"\x3f" + b"a" * 63) * 5 + b"\x00", 0, "255"),
    ],
)
def test_malformed_names_are_refused(blob: bytes, start: int, error: str) -> None:
    with pytest.raises(NetlogonError, match=error):
        read_name(blob, start)


def _label_text() -> st.SearchStrategy[str]:
    alphabet = st.characters(
        min_codepoint=0x21,
        max_codepoint=0x2FF,
        blacklist_characters=".",
        blacklist_categories=("Cs",),
    )
    return st.text(alphabet, min_size=1, max_size=20)


def _encode(name: str) -> bytes:
    return b"".join(bytes((len(x.encode()),)) + x.encode() for x in name.split(".") if x) + b"\x00"


@settings(max_examples=300)
@given(
    st.lists(st.lists(_label_text(), min_size=0, max_size=4).map(".".join), min_size=8, max_size=8)
)
def test_names_round_trip_with_and_without_compression(names: list[str]) -> None:
    """Eight names in a blob as a DC writes them: each one that repeats an earlier one
    as a pointer, as Samba compresses."""
    body = bytearray(b"\x17\x00\x00\x00" + b"\x00" * 4 + DOMAIN_GUID.bytes_le)
    offsets: dict[str, int] = {}
    for name in names:
        if name and name in offsets:
            body += bytes((0xC0 | offsets[name] >> 8, offsets[name] & 0xFF))
        else:
            offsets.setdefault(name, len(body))
            body += _encode(name)
    body += b"\x05\x00\x00\x00\xff\xff\xff\xff"
    reply = parse_netlogon(bytes(body))
    assert [
        reply.forest,
        reply.domain,
        reply.dc_host,
        reply.netbios_domain,
        reply.netbios_computer,
        reply.user,
        reply.dc_site,
        reply.client_site,
    ] == names


# --- garbage -------------------------------------------------------------------------


@settings(max_examples=2000)
@given(st.binary(max_size=300), st.integers(min_value=0, max_value=3))
def test_garbage_never_raises_anything_but_a_parse_error(data: bytes, message_id: int) -> None:
    with contextlib.suppress(NetlogonError):
        parse_ping_reply(data, message_id)


@settings(max_examples=2000)
@given(
    st.sampled_from([ONE_SITE, IN_HQ, NO_SUBNET]),
    st.lists(st.tuples(st.integers(min_value=0, max_value=200), st.integers(0, 255)), max_size=6),
    st.integers(min_value=0, max_value=130),
)
def test_damaged_real_replies_never_raise_anything_but_a_parse_error(
    reply: bytes, changes: list[tuple[int, int]], cut: int
) -> None:
    damaged = bytearray(reply)
    for position, value in changes:
        if position < len(damaged):
            damaged[position] = value
    with contextlib.suppress(NetlogonError):
        parse_ping_reply(bytes(damaged[: len(damaged) - cut]), 1)


@settings(max_examples=2000)
@given(st.binary(min_size=0, max_size=200))
def test_any_netlogon_blob_parses_or_is_a_parse_error(blob: bytes) -> None:
    with contextlib.suppress(NetlogonError):
        parse_netlogon(b"\x17\x00" + blob)
