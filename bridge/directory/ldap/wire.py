"""The few LDAP messages a user bind needs, in BER, by hand (RFC 4511).

A steady-state login is one simple bind on an open connection. Doing it through ldap3
costs a thread hand-off and pyasn1's generic encoder, together several times the work
of the bind itself; these messages are small and fixed, so they are written and read
here directly and the bind runs on the event loop (``ldap/binder.py``). Searches keep
using ldap3.

    LDAPMessage ::= SEQUENCE { messageID INTEGER, protocolOp CHOICE {...},
                               controls [0] Controls OPTIONAL }
    BindRequest ::= [APPLICATION 0] SEQUENCE { version INTEGER, name OCTET STRING,
                                               authentication CHOICE { simple [0] ... } }
    BindResponse ::= [APPLICATION 1] SEQUENCE { resultCode ENUMERATED, matchedDN,
                                                diagnosticMessage, referral [3] OPTIONAL, ... }
    ExtendedRequest ::= [APPLICATION 23] SEQUENCE { requestName [0] LDAPOID, ... }
    ExtendedResponse ::= [APPLICATION 24] SEQUENCE { COMPONENTS OF LDAPResult, ... }
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

START_TLS_OID = b"1.3.6.1.4.1.1466.20037"
#: Tags of the protocol operations read back.
BIND_RESPONSE = 0x61
EXTENDED_RESPONSE = 0x78
_CONTROLS = 0xA0

Control = tuple[str, bool, bytes | None]


class WireError(Exception):
    """The bytes are not the LDAP message we expected (a broken or foreign server)."""


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes((size,))
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(octets),)) + octets


def _tlv(tag: int, value: bytes) -> bytes:
    return bytes((tag,)) + _length(len(value)) + value


def _integer(tag: int, value: int) -> bytes:
    return _tlv(tag, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def _controls(controls: Sequence[Control]) -> bytes:
    encoded = b""
    for oid, critical, value in controls:
        body = _tlv(0x04, oid.encode())
        if critical:
            body += b"\x01\x01\xff"
        if value is not None:
            body += _tlv(0x04, value)
        encoded += _tlv(0x30, body)
    return _tlv(_CONTROLS, encoded)


def bind_request(
    message_id: int, dn: str, password: bytes, controls: Sequence[Control] = ()
) -> bytes:
    """A simple bind; the password goes as the bytes given (never SASLprep'd)."""
    bind = _integer(0x02, 3) + _tlv(0x04, dn.encode("utf-8")) + _tlv(0x80, password)
    body = _integer(0x02, message_id) + _tlv(0x60, bind)
    if controls:
        body += _controls(controls)
    return _tlv(0x30, body)


def start_tls_request(message_id: int) -> bytes:
    return _tlv(0x30, _integer(0x02, message_id) + _tlv(0x77, _tlv(0x80, START_TLS_OID)))


def unbind_request(message_id: int) -> bytes:
    return _tlv(0x30, _integer(0x02, message_id) + b"\x42\x00")


@dataclass(frozen=True)
class Response:
    """An LDAPResult as a bind or an extended operation returns it."""

    message_id: int
    operation: int
    result: int
    matched_dn: str
    message: str
    controls: dict[str, dict[str, bytes | bool | None]] = field(default_factory=dict)


def _read_length(data: bytes, position: int) -> tuple[int, int]:
    if position >= len(data):
        raise WireError("truncated length")
    first = data[position]
    if first < 0x80:
        return first, position + 1
    count = first & 0x7F
    if count == 0 or count > 4 or position + 1 + count > len(data):
        raise WireError("unsupported BER length")
    return int.from_bytes(data[position + 1 : position + 1 + count], "big"), position + 1 + count


def _element(data: bytes, position: int) -> tuple[int, bytes, int]:
    """(tag, content, position after it)."""
    if position >= len(data):
        raise WireError("truncated element")
    tag = data[position]
    size, start = _read_length(data, position + 1)
    end = start + size
    if end > len(data):
        raise WireError("truncated element")
    return tag, data[start:end], end


def message_size(buffer: bytes) -> int | None:
    """Bytes of the first whole LDAPMessage in ``buffer``, or None if incomplete."""
    if len(buffer) < 2:
        return None
    if buffer[0] != 0x30:
        raise WireError("not an LDAP message")
    first = buffer[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4:
        raise WireError("unsupported BER length")
    if len(buffer) < 2 + count:
        return None
    return 2 + count + int.from_bytes(buffer[2 : 2 + count], "big")


def parse_response(message: bytes) -> Response:
    """One whole LDAPMessage carrying a BindResponse or an ExtendedResponse."""
    tag, body, _ = _element(message, 0)
    if tag != 0x30:
        raise WireError("not an LDAP message")
    tag, raw_id, position = _element(body, 0)
    if tag != 0x02:
        raise WireError("no message id")
    operation, result_body, position = _element(body, position)
    if operation not in (BIND_RESPONSE, EXTENDED_RESPONSE):
        raise WireError(f"unexpected operation 0x{operation:02x}")
    tag, code, inner = _element(result_body, 0)
    tag2, matched, inner = _element(result_body, inner)
    tag3, text, inner = _element(result_body, inner)
    if (tag, tag2, tag3) != (0x0A, 0x04, 0x04):
        raise WireError("malformed LDAPResult")
    controls = _parse_controls(body, position) if position < len(body) else {}
    return Response(
        message_id=int.from_bytes(raw_id, "big", signed=True),
        operation=operation,
        result=int.from_bytes(code, "big"),
        matched_dn=matched.decode("utf-8", "replace"),
        message=text.decode("utf-8", "replace"),
        controls=controls,
    )


def _parse_controls(body: bytes, position: int) -> dict[str, dict[str, bytes | bool | None]]:
    tag, content, _ = _element(body, position)
    if tag != _CONTROLS:
        return {}
    found: dict[str, dict[str, bytes | bool | None]] = {}
    offset = 0
    while offset < len(content):
        _, control, offset = _element(content, offset)
        tag, oid, inner = _element(control, 0)
        critical: bool = False
        value: bytes | None = None
        while inner < len(control):
            tag, part, inner = _element(control, inner)
            if tag == 0x01:
                critical = part != b"\x00"
            elif tag == 0x04:
                value = part
        found[oid.decode("ascii", "replace")] = {"criticality": critical, "value": value}
    return found


#: The BER primitives, for the one other LDAP message written by hand: the CLDAP
#: netlogon ping (``bridge.directory.locator.netlogon``).
tlv = _tlv
integer = _integer
element = _element
