"""The CLDAP netlogon ping's two messages, by hand: the request, and a careful reader
of the reply (MS-ADTS 6.3.3 and 6.3.1.9).

A domain controller tells a client which AD site the client is in when asked over
connectionless LDAP (UDP 389): a rootDSE search for the ``Netlogon`` attribute with
the filter ``(&(DnsDomain=corp.example)(NtVer=\\06\\00\\00\\00))``. NtVer 6 asks for a
NETLOGON_SAM_LOGON_RESPONSE_EX (V5EX) answer. No maintained pure-Python CLDAP client
exists, and the bridge needs nothing of it but this one exchange, so it is written
here like ``ldap/wire.py`` writes the bind.

The reply arrives from the network, from whoever answers on that address: every
length and every name pointer is checked, and anything malformed is a
:class:`NetlogonError`, never another exception (a hypothesis test holds this).

    NETLOGON_SAM_LOGON_RESPONSE_EX ::=
        Opcode (2, LE)  Sbz (2)  Flags (4, LE)  DomainGuid (16)
        DnsForestName  DnsDomainName  DnsHostName  NetbiosDomainName
        NetbiosComputerName  UserName  DcSiteName  ClientSiteName
        [DcSockAddrSize (1) DcSockAddr]  [NextClosestSiteName]   -- only when asked for
        NtVersion (4, LE)  LmNtToken (2)  Lm20Token (2)

The names are DNS-style: length-prefixed labels, a zero byte at the end, and
compression pointers (two bytes, top bits 11) to an earlier offset in the blob.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from bridge.directory.ldap import wire

#: NETLOGON_NT_VERSION_5 | NETLOGON_NT_VERSION_5EX: the answer parsed below.
NT_VERSION = b"\x06\x00\x00\x00"
#: Opcodes of a V5EX answer: a logon response, "user unknown", "paused" (MS-ADTS 6.3.1.9).
OPCODES = {23: "logon_response", 25: "user_unknown", 21: "paused"}
#: DS_CLOSEST_FLAG: the answering DC is in the client's site.
CLOSEST = 0x80

_SEARCH_REQUEST = 0x63
_SEARCH_ENTRY = 0x64
_SEARCH_DONE = 0x65
_AND = 0xA0
_EQUALITY = 0xA3
_MAX_NAME = 255
_FIXED = 2 + 2 + 4 + 16
_TRAILER = 4 + 2 + 2


class NetlogonError(Exception):
    """The datagram is not a netlogon ping reply we can read."""


@dataclass(frozen=True)
class NetlogonReply:
    """What a DC says about itself and about the client that pinged it."""

    opcode: int
    flags: int
    domain_guid: uuid.UUID
    forest: str
    domain: str
    dc_host: str
    netbios_domain: str
    netbios_computer: str
    user: str
    dc_site: str
    #: the site of the pinging client's address (AD subnets); "" when no subnet matches
    client_site: str
    nt_version: int

    @property
    def closest(self) -> bool:
        return bool(self.flags & CLOSEST)


def ping_request(message_id: int, domain: str) -> bytes:
    """The searchRequest: base "", scope base, the DnsDomain/NtVer filter, Netlogon."""

    def equal(attribute: bytes, value: bytes) -> bytes:
        return wire.tlv(_EQUALITY, wire.tlv(0x04, attribute) + wire.tlv(0x04, value))

    search_filter = wire.tlv(
        _AND, equal(b"DnsDomain", domain.encode("utf-8")) + equal(b"NtVer", NT_VERSION)
    )
    search = (
        wire.tlv(0x04, b"")  # baseObject: the rootDSE
        + wire.tlv(0x0A, b"\x00")  # scope: baseObject
        + wire.tlv(0x0A, b"\x00")  # derefAliases: never
        + wire.integer(0x02, 0)  # sizeLimit
        + wire.integer(0x02, 0)  # timeLimit
        + wire.tlv(0x01, b"\x00")  # typesOnly: FALSE
        + search_filter
        + wire.tlv(0x30, wire.tlv(0x04, b"Netlogon"))
    )
    return wire.tlv(0x30, wire.integer(0x02, message_id) + wire.tlv(_SEARCH_REQUEST, search))


def parse_ping_reply(datagram: bytes, message_id: int) -> NetlogonReply | None:
    """The reply to our ping: the Netlogon value decoded, or None when the DC answered
    with no entry (it serves no such domain). Raises NetlogonError for anything else."""
    try:
        blob = _netlogon_value(datagram, message_id)
    except (wire.WireError, IndexError, ValueError) as exc:
        raise NetlogonError(f"not a netlogon ping reply: {exc}") from None
    return None if blob is None else parse_netlogon(blob)


def _netlogon_value(datagram: bytes, message_id: int) -> bytes | None:
    """The Netlogon attribute of the searchResultEntry; a searchResultDone may follow
    in the same datagram (Samba and Windows send both together)."""
    position = 0
    found: bytes | None = None
    while position < len(datagram):
        tag, message, position = wire.element(datagram, position)
        if tag != 0x30:
            raise NetlogonError("not an LDAP message")
        tag, raw_id, inner = wire.element(message, 0)
        if tag != 0x02 or int.from_bytes(raw_id, "big", signed=True) != message_id:
            raise NetlogonError("not the answer to our ping (message id)")
        operation, body, _ = wire.element(message, inner)
        if operation == _SEARCH_ENTRY:
            found = _attribute(body, "netlogon")
        elif operation == _SEARCH_DONE:
            _, code, _ = wire.element(body, 0)
            if int.from_bytes(code, "big") != 0:
                raise NetlogonError(f"the ping was refused (result {int.from_bytes(code, 'big')})")
            return found
        else:
            raise NetlogonError(f"unexpected operation 0x{operation:02x}")
    if found is None:
        raise NetlogonError("neither an entry nor a result in the reply")
    return found


def _attribute(entry: bytes, wanted: str) -> bytes | None:
    """The first value of ``wanted`` in a searchResultEntry body."""
    _, _, position = wire.element(entry, 0)  # objectName
    tag, attributes, _ = wire.element(entry, position)
    if tag != 0x30:
        raise NetlogonError("malformed searchResultEntry")
    offset = 0
    while offset < len(attributes):
        _, attribute, offset = wire.element(attributes, offset)
        _, name, inner = wire.element(attribute, 0)
        tag, vals, _ = wire.element(attribute, inner)
        if tag == 0x31 and name.decode("ascii", "replace").lower() == wanted and vals:
            return wire.element(vals, 0)[1]
    return None


def parse_netlogon(blob: bytes) -> NetlogonReply:
    """Decode a NETLOGON_SAM_LOGON_RESPONSE_EX; NetlogonError when it is not one."""
    if len(blob) < _FIXED + _TRAILER:
        raise NetlogonError(f"netlogon reply too short ({len(blob)} bytes)")
    opcode = int.from_bytes(blob[0:2], "little")
    if opcode not in OPCODES:
        raise NetlogonError(f"not a V5EX netlogon reply (opcode {opcode})")
    position = _FIXED
    names: list[str] = []
    for _ in range(8):
        name, position = read_name(blob, position)
        names.append(name)
    if position > len(blob) - _TRAILER:
        raise NetlogonError("netlogon reply truncated after the names")
    trailer = blob[-_TRAILER:]
    return NetlogonReply(
        opcode=opcode,
        flags=int.from_bytes(blob[4:8], "little"),
        domain_guid=uuid.UUID(bytes_le=blob[8:24]),
        forest=names[0],
        domain=names[1],
        dc_host=names[2],
        netbios_domain=names[3],
        netbios_computer=names[4],
        user=names[5],
        dc_site=names[6],
        client_site=names[7],
        nt_version=int.from_bytes(trailer[0:4], "little"),
    )


def read_name(blob: bytes, position: int) -> tuple[str, int]:
    """A compressed DNS-style name at ``position``: (dotted name, position after it).

    A pointer must point backwards, before the label sequence that holds it, so a
    crafted blob cannot loop; labels are at most 63 bytes, names 255, all UTF-8."""
    labels: list[str] = []
    size = 0
    after: int | None = None
    floor = position  # pointers must land before this
    while True:
        if position >= len(blob):
            raise NetlogonError("name runs past the end of the reply")
        length = blob[position]
        if length == 0:
            end = position + 1
            break
        kind = length & 0xC0
        if kind == 0xC0:
            if position + 1 >= len(blob):
                raise NetlogonError("truncated name pointer")
            target = ((length & 0x3F) << 8) | blob[position + 1]
            if target >= floor:
                raise NetlogonError("name pointer does not point backwards")
            if after is None:
                after = position + 2
            position = floor = target
            continue
        if kind:
            raise NetlogonError(f"unknown label type 0x{kind:02x}")
        label = blob[position + 1 : position + 1 + length]
        if len(label) != length:
            raise NetlogonError("label runs past the end of the reply")
        size += length + 1
        if size > _MAX_NAME:
            raise NetlogonError("name longer than 255 bytes")
        try:
            labels.append(label.decode("utf-8"))
        except UnicodeDecodeError:
            raise NetlogonError("label is not UTF-8") from None
        position += 1 + length
    return ".".join(labels), (after if after is not None else end)
