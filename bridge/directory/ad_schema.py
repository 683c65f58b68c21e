"""Which username attributes an AD user may write on his own account, from the schema.

A Ringotel username must come from an attribute the user cannot set himself, or he
can claim a colleague's extension. AD's answer lives in the schema: every attribute
(an ``attributeSchema`` object) has a ``schemaIDGUID`` and, when it belongs to a
property set, an ``attributeSecurityGUID``; the ``user`` class's
``defaultSecurityDescriptor`` (SDDL) is the ACL each new account gets. Out of the box
it holds ``(OA;;RPWP;77b5b886-944a-11d1-aebd-0000f80367c1;;PS)``: SELF may write the
Personal-Information property set (``telephoneNumber``, ``ipPhone``, ``otherIpPhone``,
``mobile``, ...).

The judgement (``parse_dacl``, ``self_write_grant``) is pure and unit-tested;
``read_verdicts`` is the one function here that talks LDAP, on a connection its
caller opened (the service account at start-up, the probe in ``check-config``).

What this does not see: ACEs inherited from OUs or the domain root, and ACLs changed
on each account after it was created. Hardening done there still reads as writable.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import ldap3

from bridge.core.attributes import first_value
from bridge.core.ports import AttributeVerdict
from bridge.directory.ldap import filters
from bridge.directory.ldap.results import check_result, entries, to_entry, user_entries

#: Property sets whose names an administrator recognises in a warning.
PROPERTY_SETS: Mapping[uuid.UUID, str] = {
    uuid.UUID("77b5b886-944a-11d1-aebd-0000f80367c1"): "Personal-Information",
    uuid.UUID("e45795b2-9455-11d1-aebd-0000f80367c1"): "Email-Information",
    uuid.UUID("e45795b3-9455-11d1-aebd-0000f80367c1"): "Web-Information",
}

#: Trustees every user is: SELF, Authenticated Users, Everyone (SDDL alias or SID).
#: Domain Users (DU, RID 513) too: every account is in it by default.
SELF_TRUSTEES = frozenset({"PS", "AU", "WD", "DU", "S-1-5-10", "S-1-5-11", "S-1-1-0"})
_TRUSTEE_NAMES = {"PS": "SELF", "AU": "Authenticated Users", "WD": "Everyone", "DU": "Domain Users"}
_DOMAIN_USERS_SID = re.compile(r"^S-1-5-21-\d+-\d+-\d+-513$")

# Access mask bits (MS-DTYP 2.4.3, MS-ADTS 5.1.3.2) and their SDDL letters.
_WRITE_PROPERTY = 0x20
_WRITE_DAC = 0x40000
_WRITE_OWNER = 0x80000
_GENERIC_ALL = 0x10000000
_GENERIC_WRITE = 0x40000000
_RIGHTS = {
    "WP": _WRITE_PROPERTY,
    "WD": _WRITE_DAC,
    "WO": _WRITE_OWNER,
    "GA": _GENERIC_ALL,
    "GW": _GENERIC_WRITE,
}
#: Rights that let the holder write properties (the ACE's object GUID scopes them).
_WRITES = _WRITE_PROPERTY | _GENERIC_ALL | _GENERIC_WRITE
#: Rights that let the holder rewrite the ACL itself, and so grant himself anything.
_OWNS_ACL = _WRITE_DAC | _WRITE_OWNER
_INHERIT_ONLY = "IO"
_NOT_WRITABLE = "users cannot write it on their own account (user class default ACL)"


@dataclass(frozen=True)
class Ace:
    """One ACE of an SDDL DACL, as written (``text``) and as far as this check needs."""

    text: str
    kind: str  # A, OA, D, OD, ...
    flags: str
    mask: int
    object_type: uuid.UUID | None
    trustee: str

    @property
    def allows(self) -> bool:
        return self.kind in ("A", "OA")

    @property
    def denies(self) -> bool:
        return self.kind in ("D", "OD")

    @property
    def applies_to_self(self) -> bool:
        """The trustee includes the account itself, and the ACE applies to the object
        (an inherit-only ACE only passes on to children)."""
        trustee = self.trustee.upper()
        on_object = _INHERIT_ONLY not in _pairs(self.flags)
        return on_object and (trustee in SELF_TRUSTEES or bool(_DOMAIN_USERS_SID.match(trustee)))


@dataclass(frozen=True)
class AttributeSchema:
    """What the schema says about one attribute."""

    name: str
    schema_id: uuid.UUID
    property_set: uuid.UUID | None = None


def parse_dacl(sddl: str) -> tuple[Ace, ...]:
    """The ACEs of the ``D:`` part of an SDDL string; the SACL (``S:``) is not a grant."""
    return tuple(ace for ace in map(_parse_ace, _dacl_ace_texts(sddl)) if ace is not None)


def _dacl_ace_texts(sddl: str) -> list[str]:
    """Split on the top-level parentheses; conditional ACEs nest more of them."""
    texts: list[str] = []
    section, depth, start = "", 0, 0
    for index, char in enumerate(sddl):
        if char == "(":
            if depth == 0:
                start = index + 1
            depth += 1
        elif char == ")" and depth > 0:
            depth -= 1
            if depth == 0 and section == "D":
                texts.append(sddl[start:index])
        elif char == ":" and depth == 0 and index > 0:
            section = sddl[index - 1].upper()
    return texts


def _parse_ace(text: str) -> Ace | None:
    fields = text.split(";")
    if len(fields) < 6:
        return None
    kind, flags, rights, object_type, _inherited_type, trustee = fields[:6]
    return Ace(
        text=f"({text})",
        kind=kind.upper(),
        flags=flags.upper(),
        mask=_mask(rights),
        object_type=_guid(object_type),
        trustee=trustee.strip(),
    )


def _mask(rights: str) -> int:
    rights = rights.strip()
    if rights.lower().startswith("0x"):
        return int(rights, 16)
    if rights.isdigit():
        return int(rights)
    mask = 0
    for pair in _pairs(rights.upper()):
        mask |= _RIGHTS.get(pair, 0)
    return mask


def _pairs(text: str) -> list[str]:
    return [text[i : i + 2] for i in range(0, len(text), 2)]


def _guid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.strip()) if text.strip() else None
    except ValueError:
        return None


def self_write_grant(attribute: AttributeSchema, dacl: Sequence[Ace]) -> Ace | None:
    """The ACE that lets an account write ``attribute`` on itself, or None.

    An ACE covers the attribute when it names no object type, or names the
    attribute's own schemaIDGUID or its property set. A default ACL holds only
    explicit ACEs in canonical order, so any deny that covers it wins over every
    allow, except the right to rewrite the ACL itself (WRITE_DAC / WRITE_OWNER).
    """
    scope = {attribute.schema_id, attribute.property_set} - {None}
    mine = [ace for ace in dacl if ace.applies_to_self]
    for ace in mine:
        if ace.allows and ace.mask & _OWNS_ACL:
            return ace
    if any(ace.denies and ace.mask & _WRITES and _covers(ace, scope) for ace in mine):
        return None
    for ace in mine:
        if ace.allows and ace.mask & _WRITES and _covers(ace, scope):
            return ace
    return None


def _covers(ace: Ace, scope: set[uuid.UUID | None]) -> bool:
    return ace.object_type is None or ace.object_type in scope


def judge(
    names: Iterable[str], schema: Mapping[str, AttributeSchema], dacl: Sequence[Ace]
) -> list[AttributeVerdict]:
    """A verdict per configured attribute name (matched case-insensitively, as LDAP does)."""
    by_name = {key.lower(): value for key, value in schema.items()}
    verdicts = []
    for name in dict.fromkeys(names):
        attribute = by_name.get(name.lower())
        if attribute is None:
            verdicts.append(AttributeVerdict(name, False, False, "not in the directory's schema"))
            continue
        ace = self_write_grant(attribute, dacl)
        if ace is None:
            verdicts.append(AttributeVerdict(name, True, False, _NOT_WRITABLE))
        else:
            verdicts.append(AttributeVerdict(name, True, True, _explain(attribute, ace)))
    return verdicts


def _explain(attribute: AttributeSchema, ace: Ace) -> str:
    if ace.mask & _OWNS_ACL:
        what = "the account's own ACL, so on any attribute"
    elif ace.object_type is None:
        what = "every attribute"
    elif ace.object_type == attribute.property_set:
        name = PROPERTY_SETS.get(ace.object_type)
        what = f"its property set {ace.object_type}" + (f" ({name})" if name else "")
    else:
        what = f"{attribute.name} itself"
    trustee = ace.trustee.upper()
    who = f"{_TRUSTEE_NAMES[trustee]} ({trustee})" if trustee in _TRUSTEE_NAMES else trustee
    return (
        "users may write it on their own account: the user class's "
        f"defaultSecurityDescriptor grants {who} write on {what}: {ace.text}"
    )


# -- reading the schema ---------------------------------------------------------------
def read_verdicts(connection: ldap3.Connection, names: Sequence[str]) -> list[AttributeVerdict]:
    """Read the schema with ``connection`` and judge ``names``: three searches (the
    RootDSE's schemaNamingContext, the attributes, the user class)."""
    schema_dn = _schema_naming_context(connection)
    return judge(
        names, _attributes(connection, schema_dn, names), _user_dacl(connection, schema_dn)
    )


def _schema_naming_context(connection: ldap3.Connection) -> str:
    connection.search("", "(objectClass=*)", ldap3.BASE, attributes=["schemaNamingContext"])
    check_result(connection, "RootDSE read")
    for entry in user_entries(connection, ""):
        schema_dn = first_value(entry.attributes, "schemaNamingContext")
        if schema_dn:
            return schema_dn
    raise SchemaUnreadable("the RootDSE names no schemaNamingContext")


def _attributes(
    connection: ldap3.Connection, schema_dn: str, names: Sequence[str]
) -> dict[str, AttributeSchema]:
    named = "".join(filters.equals("lDAPDisplayName", name) for name in names)
    connection.search(
        schema_dn,
        f"(&(objectClass=attributeSchema)(|{named}))",
        ldap3.LEVEL,
        attributes=["lDAPDisplayName", "schemaIDGUID", "attributeSecurityGUID"],
    )
    _require_success(connection, "attribute schema read")
    found = {}
    for entry in entries(connection):
        raw = entry.get("raw_attributes") or {}
        name = first_value(to_entry(entry, "").attributes, "lDAPDisplayName")
        schema_id = _raw_guid(raw, "schemaIDGUID")
        if name and schema_id is not None:
            found[name] = AttributeSchema(name, schema_id, _raw_guid(raw, "attributeSecurityGUID"))
    return found


def _user_dacl(connection: ldap3.Connection, schema_dn: str) -> tuple[Ace, ...]:
    connection.search(
        schema_dn,
        "(&(objectClass=classSchema)(lDAPDisplayName=user))",
        ldap3.LEVEL,
        attributes=["defaultSecurityDescriptor"],
    )
    _require_success(connection, "user class read")
    for entry in user_entries(connection, ""):
        sddl = first_value(entry.attributes, "defaultSecurityDescriptor")
        if sddl:
            return parse_dacl(sddl)
    raise SchemaUnreadable(f"no defaultSecurityDescriptor of the user class under {schema_dn}")


class SchemaUnreadable(Exception):
    """The schema did not answer what this check needs (rights, or not an AD schema)."""


def _require_success(connection: ldap3.Connection, what: str) -> None:
    result = check_result(connection, what)
    if result.get("result") != 0:
        raise SchemaUnreadable(f"{what}: {result.get('description')}")


def _raw_guid(raw: Mapping[str, Sequence[bytes]], name: str) -> uuid.UUID | None:
    """A GUID attribute as AD stores it: 16 bytes, the first three fields little-endian."""
    value = first_value(raw, name)
    return uuid.UUID(bytes_le=bytes(value)) if value is not None and len(value) == 16 else None
