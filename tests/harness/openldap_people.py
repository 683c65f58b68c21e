"""The content of the private OpenLDAP directory, as data the tests can import.

This module is the single source of truth: the LDIF that seeds slapd is rendered
from these objects, so a test that asks "can Jane bind?" uses the very password
and DN the directory was built from. Every awkward case the bridge must survive
has its own person: passwords outside ASCII or full of punctuation, logins full
of filter metacharacters, a comma in a DN, a shared mail address, accounts that
are locked, must change their password, or can be locked by a few failures.

Run ``python -m tests.harness.openldap_people`` to print the seed LDIF.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

BASE_DN = "dc=example,dc=org"
PEOPLE_DN = f"ou=people,{BASE_DN}"
GROUPS_DN = f"ou=groups,{BASE_DN}"
SERVICES_DN = f"ou=services,{BASE_DN}"
POLICIES_DN = f"ou=policies,{BASE_DN}"

SERVICE_DN = f"cn=svc-ringotel,{SERVICES_DN}"
SERVICE_PASSWORD = "svc-ringotel: test-only secret 7Qw!"

DEFAULT_POLICY_DN = f"cn=default,{POLICIES_DN}"
# A second policy that really locks after a few failures, for throttle tests.
STRICT_POLICY_DN = f"cn=strict,{POLICIES_DN}"
STRICT_MAX_FAILURES = 3
# RFC draft-behera-ldap-password-policy: this value means "locked by an administrator".
ADMIN_LOCK_TIME = "000001010000Z"

ALLOWED_GROUP = "ringotel-users"
DENIED_GROUP = "blocked"

BENCH_PASSWORD = "bench-password-1"
_BENCH_PHONE_BASE = 50000

# Characters RFC 4514 requires escaping, rendered as slapd renders them back (\XX),
# so a DN built here compares equal to the DN the server returns.
_DN_SPECIALS = frozenset(',+"\\<>;')
_LDIF_SAFE_INIT_EXCLUDED = frozenset(" :<")


def escape_rdn_value(value: str) -> str:
    """Escape an RDN value exactly the way slapd's "pretty" DN form does."""
    out = []
    for i, char in enumerate(value):
        leading = i == 0 and char in "# "
        trailing = i == len(value) - 1 and char == " "
        if char in _DN_SPECIALS or char == "\0" or leading or trailing:
            out.append("".join(f"\\{b:02X}" for b in char.encode()))
        else:
            out.append(char)
    return "".join(out)


def ssha(password: str, salt: bytes | None = None) -> str:
    """An RFC 2307 {SSHA} hash, so no clear-text password ever reaches the LDIF."""
    salt = os.urandom(8) if salt is None else salt
    digest = hashlib.sha1(password.encode() + salt, usedforsecurity=False).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


@dataclass(frozen=True)
class Person:
    """One directory user and everything a test needs to know about them.

    ``phones`` are the telephoneNumber values in directory order: with the
    usernames taken from telephoneNumber they are the expected Ringotel usernames.
    ``groups`` are the *direct* group DNs; see ``nested_group_dns`` for the rest.
    """

    login: str
    password: str
    cn: str
    sn: str
    display_name: str
    phones: tuple[str, ...]
    mail: str
    employee_number: str
    groups: tuple[str, ...]
    rdn_attribute: str = "uid"
    locked: bool = False
    must_change: bool = False
    policy_dn: str | None = None
    dn: str = field(init=False)

    def __post_init__(self) -> None:
        rdn_value = self.login if self.rdn_attribute == "uid" else self.cn
        object.__setattr__(
            self, "dn", f"{self.rdn_attribute}={escape_rdn_value(rdn_value)},{PEOPLE_DN}"
        )

    @property
    def usernames(self) -> tuple[str, ...]:
        """Expected Ringotel usernames when they come from telephoneNumber."""
        return self.phones


@dataclass(frozen=True)
class Group:
    """A groupOfNames; ``members`` are DNs of people and of other groups."""

    name: str
    members: tuple[str, ...]

    @property
    def dn(self) -> str:
        return group_dn(self.name)


def group_dn(name: str) -> str:
    return f"cn={escape_rdn_value(name)},{GROUPS_DN}"


# Group names in the order they are added online (see group_ldif).
GROUP_NAMES = ("sales", DENIED_GROUP, "cycle-a", "cycle-b", ALLOWED_GROUP)
GROUP_DNS: dict[str, str] = {name: group_dn(name) for name in GROUP_NAMES}

# Groups that are members of other groups: "sales" is nested in the allowed
# group, and cycle-a / cycle-b contain each other to prove cycle protection.
_NESTED_GROUPS: dict[str, tuple[str, ...]] = {
    ALLOWED_GROUP: ("sales",),
    "cycle-a": ("cycle-b",),
    "cycle-b": ("cycle-a",),
}


def _person(
    login: str,
    password: str,
    cn: str,
    phones: Sequence[str],
    groups: Sequence[str] = (ALLOWED_GROUP,),
    *,
    sn: str | None = None,
    mail: str | None = None,
    display_name: str | None = None,
    employee_number: str | None = None,
    rdn_attribute: str = "uid",
    locked: bool = False,
    must_change: bool = False,
    policy_dn: str | None = None,
) -> Person:
    """Fill in the attributes that only need to be plausible (and stable across runs)."""
    return Person(
        login=login,
        password=password,
        cn=cn,
        sn=sn or cn.split()[-1],
        display_name=display_name or cn,
        phones=tuple(phones),
        mail=mail or f"{login}@example.org",
        employee_number=employee_number or f"E{zlib.crc32(login.encode()) % 100000:05d}",
        groups=tuple(GROUP_DNS[name] for name in groups),
        rdn_attribute=rdn_attribute,
        locked=locked,
        must_change=must_change,
        policy_dn=policy_dn,
    )


def _plain_users() -> Iterator[Person]:
    """user01..user10; user01 is only in sales (nested), user09 in the cycle, user10 blocked."""
    special: dict[int, tuple[str, ...]] = {
        1: ("sales",),
        9: (ALLOWED_GROUP, "cycle-a"),
        10: (ALLOWED_GROUP, DENIED_GROUP),
    }
    for i in range(1, 11):
        phones = (f"2{i:02d}", f"3{i:02d}") if i == 2 else (f"2{i:02d}",)
        yield _person(
            f"user{i:02d}",
            f"user{i:02d}-Passw0rd",
            f"User {i:02d}",
            phones,
            special.get(i, (ALLOWED_GROUP,)),
            employee_number=f"E1{i:04d}",
        )


def _special_users() -> Iterator[Person]:
    yield _person(
        "jdoe",
        "correct horse battery staple",
        "Jane Doe",
        ("101", "102"),
        (ALLOWED_GROUP, "sales"),
        mail="jane.doe@example.org",
        employee_number="E00101",
    )
    yield _person("ulrich", "Pässwörd-ünïcødé-€", "Ulrich Müller", ("103",))
    yield _person("punct", "p@ss:w0rd\"'\\(*)&%$#!{}[]<>?/~", "Pat Punctuation", ("104",))
    yield _person("spacey", "  padded password  ", "Sam Spacey", ("113",))
    yield _person("star*user", "star-Passw0rd", "Stella Star", ("105",), mail="star@example.org")
    yield _person(
        "paren(user)", "paren-Passw0rd", "Percy Paren", ("106",), mail="paren@example.org"
    )
    yield _person(
        "back\\slash", "back-Passw0rd", "Bea Backslash", ("107",), mail="back@example.org"
    )
    yield _person(
        "jsmith",
        "smith-Passw0rd",
        "Smith, John",
        ("108",),
        rdn_attribute="cn",
        sn="Smith",
        display_name="John Smith",
    )
    yield _person("zoë", "zoe-Passw0rd", "Zoë Ångström", ("109",), mail="zoe@example.org")
    yield _person("nophone", "nophone-Passw0rd", "Nora Nophone", ())
    yield _person("twin1", "twin1-Passw0rd", "Tom Twin", ("111",), mail="shared@example.org")
    yield _person("twin2", "twin2-Passw0rd", "Tim Twin", ("112",), mail="shared@example.org")
    yield _person("locked", "locked-Passw0rd", "Lou Locked", ("120",), locked=True)
    yield _person("mustchange", "mustchange-Passw0rd", "Max Mustchange", ("121",), must_change=True)
    yield _person(
        "fragile", "fragile-Passw0rd", "Fay Fragile", ("122",), policy_dn=STRICT_POLICY_DN
    )
    yield _person("outsider", "outsider-Passw0rd", "Olga Outsider", ("130",), ())
    for index, (login, password) in enumerate(ODD_PASSWORDS.items()):
        yield _person(login, password, f"Odd {login.title()}", (str(140 + index),))


#: Passwords slapd compares as typed (the UTF-8 octets against the {SSHA} hash) and
#: that SASLprep, which ldap3 applies to a ``str``, would change or refuse; the same
#: cases as ``ad_people.ODD_PASSWORD_PEOPLE``. Login -> password.
ODD_PASSWORDS: dict[str, str] = {
    "nbsp": "no\u00a0break",  # SASLprep: a space
    "shy": "soft\u00adhyphen",  # dropped
    "tabby": "tab\tbed",  # refused
    "bom": "\ufeffbyte order mark",  # dropped
    "zwsp": "zero\u200bwidth",  # a space
    "ctrl": "bell\x07ring\x1b",  # refused
    "hebrew": "\u05e1\u05d9\u05e1\u05de\u05d4 pass",  # mixed directions: refused
    "arabic": "\u0643\u0644\u0645\u0629 \u0633\u0631",  # right to left only
    "longpw": "long password " * 70,  # 980 characters, under the 1024 field limit
}


PEOPLE: dict[str, Person] = {p.login: p for p in (*_special_users(), *_plain_users())}


def bench_login(i: int) -> str:
    """bench0001, bench0002, ...: fixed width so logins sort like their numbers."""
    return f"bench{i:04d}"


def bench_people(count: int) -> tuple[Person, ...]:
    """The extra users for benchmarks: all share BENCH_PASSWORD and the allowed group."""
    return tuple(
        _person(
            bench_login(i),
            BENCH_PASSWORD,
            f"Bench {i:04d}",
            (str(_BENCH_PHONE_BASE + i),),
            employee_number=f"B{i:06d}",
        )
        for i in range(1, count + 1)
    )


def groups(people: Iterable[Person]) -> dict[str, Group]:
    """Group membership derived from each person's direct groups plus the nesting table."""
    members: dict[str, list[str]] = {name: [] for name in GROUP_NAMES}
    by_dn = {dn: name for name, dn in GROUP_DNS.items()}
    for person in people:
        for dn in person.groups:
            members[by_dn[dn]].append(person.dn)
    for name, nested in _NESTED_GROUPS.items():
        members[name].extend(GROUP_DNS[child] for child in nested)
    return {name: Group(name, tuple(dns)) for name, dns in members.items()}


GROUPS: dict[str, Group] = groups(PEOPLE.values())


def nested_group_dns(person: Person) -> frozenset[str]:
    """Every group the person is in, directly or through nesting (cycles are fine)."""
    parents: dict[str, set[str]] = {}
    for group in GROUPS.values():
        for member in group.members:
            parents.setdefault(member, set()).add(group.dn)
    seen: set[str] = set()
    todo = list(person.groups)
    while todo:
        dn = todo.pop()
        if dn not in seen:
            seen.add(dn)
            todo.extend(parents.get(dn, ()))
    return frozenset(seen)


# ---------------------------------------------------------------- LDIF rendering

Attributes = list[tuple[str, str]]


def _ldif_line(name: str, value: str) -> str:
    """RFC 2849: values that are not SAFE-STRINGs must be base64 ("name:: ...")."""
    unsafe = (
        not value.isascii()
        or any(c in value for c in "\0\r\n")
        or (value[:1] in _LDIF_SAFE_INIT_EXCLUDED)
        or value.endswith(" ")
    )
    if unsafe:
        return f"{name}:: {base64.b64encode(value.encode()).decode('ascii')}"
    return f"{name}: {value}"


def ldif_entry(dn: str, attributes: Attributes) -> str:
    """One LDIF record; long lines are fine, ldap tools accept them."""
    lines = [_ldif_line("dn", dn), *(_ldif_line(name, value) for name, value in attributes)]
    return "\n".join(lines) + "\n\n"


def _container_entries() -> Iterator[tuple[str, Attributes]]:
    yield (
        BASE_DN,
        [
            ("objectClass", "dcObject"),
            ("objectClass", "organization"),
            ("dc", "example"),
            ("o", "Example Org"),
        ],
    )
    for ou in ("people", "groups", "services", "policies"):
        yield f"ou={ou},{BASE_DN}", [("objectClass", "organizationalUnit"), ("ou", ou)]


def _policy_entries() -> Iterator[tuple[str, Attributes]]:
    common: Attributes = [
        ("objectClass", "organizationalRole"),
        ("objectClass", "pwdPolicy"),
        ("pwdAttribute", "userPassword"),
        ("pwdLockout", "TRUE"),
        ("pwdMustChange", "TRUE"),
    ]
    # pwdMaxFailure 0: ordinary users are never locked by failed binds, so tests
    # cannot lock each other out; only the admin lock value locks them.
    yield DEFAULT_POLICY_DN, [*common, ("cn", "default"), ("pwdMaxFailure", "0")]
    # pwdLockoutDuration 0: stays locked until SlapdServer.unlock().
    yield (
        STRICT_POLICY_DN,
        [
            *common,
            ("cn", "strict"),
            ("pwdMaxFailure", str(STRICT_MAX_FAILURES)),
            ("pwdLockoutDuration", "0"),
            ("pwdFailureCountInterval", "0"),
        ],
    )


def _service_entry() -> tuple[str, Attributes]:
    return SERVICE_DN, [
        ("objectClass", "organizationalRole"),
        ("objectClass", "simpleSecurityObject"),
        ("cn", "svc-ringotel"),
        ("description", "Ringotel bridge service account"),
        ("userPassword", ssha(SERVICE_PASSWORD)),
    ]


def person_entry(person: Person, password_hash: str | None = None) -> tuple[str, Attributes]:
    """The inetOrgPerson entry; pass a precomputed hash to seed many users quickly."""
    attrs: Attributes = [
        ("objectClass", "inetOrgPerson"),
        ("uid", person.login),
        ("cn", person.cn),
        ("sn", person.sn),
        ("displayName", person.display_name),
        ("mail", person.mail),
        ("employeeNumber", person.employee_number),
        *(("telephoneNumber", phone) for phone in person.phones),
        ("userPassword", password_hash or ssha(person.password)),
    ]
    if person.locked:
        attrs.append(("pwdAccountLockedTime", ADMIN_LOCK_TIME))
    if person.must_change:
        attrs.append(("pwdReset", "TRUE"))
    if person.policy_dn:
        attrs.append(("pwdPolicySubentry", person.policy_dn))
    return person.dn, attrs


def seed_ldif(extra_users: int = 0) -> str:
    """Everything except groups, for slapadd (the memberof overlay ignores slapadd)."""
    entries = [*_container_entries(), *_policy_entries(), _service_entry()]
    entries.extend(person_entry(p) for p in PEOPLE.values())
    bench_hash = ssha(BENCH_PASSWORD)
    entries.extend(person_entry(p, bench_hash) for p in bench_people(extra_users))
    return "".join(ldif_entry(dn, attrs) for dn, attrs in entries)


def group_ldif(extra_users: int = 0) -> str:
    """Groups as an ldapmodify change stream, to be applied online.

    A group is added with the members that exist at that moment; members that are
    groups added later (the cycle) follow as modifications, so memberof sees
    every membership and writes memberOf on each member entry.
    """
    all_groups = groups((*PEOPLE.values(), *bench_people(extra_users)))
    group_dns = set(GROUP_DNS.values())
    added: set[str] = set()
    adds: list[str] = []
    later: list[str] = []
    for name in GROUP_NAMES:
        group = all_groups[name]
        known = [m for m in group.members if m not in group_dns or m in added]
        deferred = [m for m in group.members if m in group_dns and m not in added]
        if not known:
            raise ValueError(f"group {name} would be empty when added")
        attrs: Attributes = [("objectClass", "groupOfNames"), ("cn", name)]
        attrs.extend(("member", dn) for dn in known)
        adds.append(ldif_entry(group.dn, [("changetype", "add"), *attrs]))
        later.extend(_add_member_change(group.dn, dn) for dn in deferred)
        added.add(group.dn)
    return "".join(adds + later)


def _add_member_change(group: str, member: str) -> str:
    changes = [("changetype", "modify"), ("add", "member"), ("member", member)]
    return ldif_entry(group, changes).rstrip("\n") + "\n-\n\n"


if __name__ == "__main__":
    print(seed_ldif(), end="")
    print(group_ldif(), end="")
