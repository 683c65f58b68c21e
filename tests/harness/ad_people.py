"""The content of the private Samba AD domain, as data the tests can import.

Tests take logins, passwords, DNs and expected outcomes from here instead of
repeating literals, and `seed_ldif` turns the same data into the one LDIF that
the harness loads with ``ldapmodify`` over LDAPS, so the directory and the
expectations cannot drift apart.

Every person is a member of "Ringotel Users" (directly or through "Sales Team")
and has an ipPhone unless the point of the person is the opposite, so each one
isolates one reason for a denial:

========== =================================================================
sam        why it exists
========== =================================================================
alice      nested membership (Sales Team -> Ringotel Users), three usernames
bob        direct member, the plain happy path
jsmith     ``CN=Smith\\, John``: an escaped comma in the DN; UPN != sam
zoe        non-ASCII CN and password
pat        a password full of LDAP/shell/JSON punctuation, with spaces at both ends
dana       also in the deny group "Ringotel Denied"
nora       no ipPhone / otherIpPhone: no Ringotel username
carol      enabled, has a phone, but in no allowed group
lockme     own lockout threshold 5, usable after seeding (badPwdCount 0)
groupie    member of every bulk group when the DC is made with big_group=True
nbsp ...   a password AD takes as typed but SASLprep would change or refuse
           (``ODD_PASSWORD_PEOPLE``: no-break space, soft hyphen, tab, BOM,
           zero-width space, a control character, Hebrew, Arabic, very long)
the rest   one per AccountState, each with the right password
========== =================================================================

Passwords are written as ``unicodePwd`` (UTF-16LE) and bound with as UTF-8, so the
odd ones prove that the bridge sends the typed characters and nothing else.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

REALM = "example.test"
NETBIOS_DOMAIN = "EXAMPLE"
BASE_DN = "DC=example,DC=test"
STAFF_OU = f"OU=Staff,{BASE_DN}"
GROUPS_OU = f"OU=Groups,{BASE_DN}"
SERVICE_OU = f"OU=Service Accounts,{BASE_DN}"
PSO_CONTAINER = f"CN=Password Settings Container,CN=System,{BASE_DN}"

#: Enough groups that listing the groups of ``groupie`` needs paging past AD's
#: MaxPageSize of 1000.
BULK_GROUP_COUNT = 1100

_UF_NORMAL_ACCOUNT = 512
_UF_ACCOUNTDISABLE = 2
_GLOBAL_SECURITY_GROUP = -2147483646
#: 2020-01-01T00:00:00Z in Windows FILETIME (100 ns since 1601).
_LONG_AGO = 132223104000000000
#: 21 bytes = 168 hours of the week, all bits clear: never allowed to log on.
_NO_LOGON_HOURS = bytes(21)


class AccountState(enum.Enum):
    """An account condition, valued by the ``data XXX`` code AD gives for the right password."""

    ENABLED = "ok"
    DISABLED = "533"
    MUST_CHANGE_PASSWORD = "773"
    PASSWORD_EXPIRED = "532"
    ACCOUNT_EXPIRED = "701"
    LOCKED_OUT = "775"
    LOGON_HOURS = "530"
    WORKSTATION = "531"

    @property
    def bind_data(self) -> str | None:
        """The hex code in the bind diagnostic, or None where the bind succeeds."""
        return None if self is AccountState.ENABLED else self.value


#: The code for a wrong password, an unknown user, and any wrong password on an
#: account in a bad state (only the right password reveals the state).
WRONG_PASSWORD_DATA = "52e"


@dataclass(frozen=True)
class Person:
    """One user object; ``groups`` are the DNs of its direct groups."""

    sam: str
    upn: str
    password: str
    dn: str
    display_name: str
    mail: str
    ip_phone: str | None
    other_ip_phones: tuple[str, ...]
    groups: tuple[str, ...]
    state: AccountState = AccountState.ENABLED

    @property
    def usernames(self) -> tuple[str, ...]:
        """The Ringotel usernames the AD preset builds: ipPhone first, then otherIpPhone."""
        first = (self.ip_phone,) if self.ip_phone else ()
        return first + self.other_ip_phones

    @property
    def bind_names(self) -> tuple[str, str]:
        """The simple-bind names AD accepts for this account besides the DN."""
        return f"{self.sam}@{REALM}", f"{NETBIOS_DOMAIN}\\{self.sam}"


@dataclass(frozen=True)
class Group:
    """A global security group; ``members`` are DNs of users or groups."""

    cn: str
    members: tuple[str, ...]

    @property
    def dn(self) -> str:
        return f"CN={self.cn},{GROUPS_OU}"


@dataclass(frozen=True)
class PasswordPolicy:
    """A fine-grained password policy (PSO) for one person."""

    cn: str
    applies_to: str
    lockout_threshold: int = 0
    max_password_age_days: int = 0  # 0: never expires

    @property
    def dn(self) -> str:
        return f"CN={self.cn},{PSO_CONTAINER}"


RINGOTEL_USERS = f"CN=Ringotel Users,{GROUPS_OU}"
SALES_TEAM = f"CN=Sales Team,{GROUPS_OU}"
RINGOTEL_DENIED = f"CN=Ringotel Denied,{GROUPS_OU}"


def _person(
    sam: str,
    cn: str,
    password: str,
    *,
    ip_phone: str | None,
    other_ip_phones: tuple[str, ...] = (),
    groups: tuple[str, ...] = (RINGOTEL_USERS,),
    state: AccountState = AccountState.ENABLED,
    rdn: str | None = None,
    upn: str | None = None,
) -> Person:
    return Person(
        sam=sam,
        upn=upn or f"{sam}@{REALM}",
        password=password,
        dn=f"CN={rdn or cn},{STAFF_OU}",
        display_name=cn,
        mail=f"{sam}@{REALM}",
        ip_phone=ip_phone,
        other_ip_phones=other_ip_phones,
        groups=groups,
        state=state,
    )


SERVICE_ACCOUNT = Person(
    sam="svc-ringotel",
    upn=f"svc-ringotel@{REALM}",
    password="Svc-Ringotel-Bind-2024!",
    dn=f"CN=svc-ringotel,{SERVICE_OU}",
    display_name="Ringotel bridge service account",
    mail=f"svc-ringotel@{REALM}",
    ip_phone=None,
    other_ip_phones=(),
    groups=(),
)

ALICE = _person(
    "alice", "Alice Anders", "Correct-Horse-7", ip_phone="201",
    other_ip_phones=("202", "203"), groups=(SALES_TEAM,),
)  # fmt: skip
BOB = _person("bob", "Bob Brown", "Tr0ub4dor&3", ip_phone="301")
JSMITH = _person(
    "jsmith", "Smith, John", "Ledger,Comma;42", ip_phone="401",
    rdn="Smith\\, John", upn=f"john.smith@{REALM}",
)  # fmt: skip
ZOE = _person("zoe", "Zoë Ångström", "Ünïcødé-Pässwörd-1", ip_phone="501")
PAT = _person(
    "pat", "Pat Punctuation", ' P@$$ "q" \\b* (x) ;%&\'{}=,+<>#!~`| ', ip_phone="601",
)  # fmt: skip
DANA = _person(
    "dana", "Dana Denied", "Deny-Me-Please-5", ip_phone="701",
    groups=(RINGOTEL_USERS, RINGOTEL_DENIED),
)  # fmt: skip
NORA = _person("nora", "Nora Nophone", "No-Phone-Here-6", ip_phone=None)
CAROL = _person("carol", "Carol Carter", "Outside-Group-8", ip_phone="801", groups=())
LOCKME = _person("lockme", "Lou Lockme", "Lock-Me-Not-4", ip_phone="851")
#: A password set a day before seeding under a 10-day PSO: it expires in 2 to 9 days
#: (templates are reused for up to a week), inside the bridge's 14-day warning.
EXPIRING = _person("expiring", "Ella Soonest", "Warn-Me-Soon-9", ip_phone="861")
EXPIRING_MAX_AGE_DAYS = 10
EXPIRING_SET_DAYS_AGO = 1
GROUPIE = _person("groupie", "Gary Groupie", "Many-Groups-7", ip_phone="901")

# Passwords that AD compares as typed, and that SASLprep (which ldap3 applies to a
# ``str``) would change or refuse. The comment says what SASLprep would do. AD's
# complexity rule forbids the sAMAccountName and display-name words in the password.
NBSP = _person("nbsp", "Nadia Nobreak", "Nb\u00a0sp#Pass1", ip_phone="951")  # -> space
SOFT_HYPHEN = _person("shy", "Sven Softie", "Soft\u00adHyph-2", ip_phone="952")  # dropped
TAB = _person("tabby", "Toni Tabulator", "Key\tGoes-3", ip_phone="953")  # refused
BOM = _person("bom", "Bea Byteorder", "\ufeffMark-Lead-6", ip_phone="954")  # dropped
ZERO_WIDTH = _person("zwsp", "Zack Zerowidth", "Thin\u200bAir-8", ip_phone="955")  # -> space
CONTROL = _person("ctrl", "Cora Control", "Bell\x07Ring-7", ip_phone="956")  # refused
#: Hebrew and Latin letters: mixed directions, which SASLprep refuses.
HEBREW = _person("hebrew", "Hila Hebrew", "\u05e1\u05d9\u05e1\u05de\u05d4-Pass-4", ip_phone="957")
#: Arabic letters only (and a space, a digit): right to left.
ARABIC = _person("arabic", "Amal Arabic", "\u0643\u0644\u0645\u0629!\u0633\u0631 9", ip_phone="958")
#: 251 characters; AD allows up to 256.
LONG = _person("longpw", "Lena Langwort", "Long-Pass-" * 25 + "9", ip_phone="959")
#: Each logs in through the bridge with exactly these characters.
ODD_PASSWORD_PEOPLE = (NBSP, SOFT_HYPHEN, TAB, BOM, ZERO_WIDTH, CONTROL, HEBREW, ARABIC, LONG)

DISABLED = _person(
    "disabled", "Dexter Disabled", "State-Disabled-1", ip_phone="911",
    state=AccountState.DISABLED,
)  # fmt: skip
MUST_CHANGE = _person(
    "mustchange", "Mona Mustchange", "State-MustChange-2", ip_phone="912",
    state=AccountState.MUST_CHANGE_PASSWORD,
)  # fmt: skip
PASSWORD_EXPIRED = _person(
    "pwexpired", "Peter Pwexpired", "State-PwExpired-3", ip_phone="913",
    state=AccountState.PASSWORD_EXPIRED,
)  # fmt: skip
ACCOUNT_EXPIRED = _person(
    "acctexpired", "Axel Acctexpired", "State-AcctExpired-4", ip_phone="914",
    state=AccountState.ACCOUNT_EXPIRED,
)  # fmt: skip
LOCKED_OUT = _person(
    "locked", "Lola Locked", "State-Locked-5", ip_phone="915",
    state=AccountState.LOCKED_OUT,
)  # fmt: skip
LOGON_HOURS = _person(
    "nightshift", "Nick Nightshift", "State-Hours-6", ip_phone="916",
    state=AccountState.LOGON_HOURS,
)  # fmt: skip
WORKSTATION = _person(
    "kiosk", "Kim Kiosk", "State-Workstation-7", ip_phone="917",
    state=AccountState.WORKSTATION,
)  # fmt: skip

#: Everyone in OU=Staff, by sAMAccountName.
PEOPLE: dict[str, Person] = {
    p.sam: p
    for p in (
        ALICE, BOB, JSMITH, ZOE, PAT, DANA, NORA, CAROL, LOCKME, EXPIRING, GROUPIE,
        *ODD_PASSWORD_PEOPLE, DISABLED, MUST_CHANGE, PASSWORD_EXPIRED, ACCOUNT_EXPIRED, LOCKED_OUT,
        LOGON_HOURS, WORKSTATION,
    )
}  # fmt: skip

#: People whose account is usable with the right password.
ENABLED_PEOPLE = tuple(p for p in PEOPLE.values() if p.state is AccountState.ENABLED)
#: People whose right password still gets a specific ``data XXX`` refusal.
REFUSED_PEOPLE = tuple(p for p in PEOPLE.values() if p.state is not AccountState.ENABLED)


def _direct_members(group_dn: str) -> tuple[str, ...]:
    return tuple(p.dn for p in PEOPLE.values() if group_dn in p.groups)


# Order matters for the LDIF: a group is added after every member it names.
GROUPS: tuple[Group, ...] = (
    Group("Sales Team", _direct_members(SALES_TEAM)),
    Group("Ringotel Denied", _direct_members(RINGOTEL_DENIED)),
    Group("Ringotel Users", (*_direct_members(RINGOTEL_USERS), SALES_TEAM)),
)

#: Bad passwords that lock ``lockme``; a test sends 100 identical wrong ones
#: through the bridge and expects badPwdCount to rise by exactly 1.
LOCKME_THRESHOLD = 5
#: Bad passwords the harness sends to lock ``locked`` while seeding.
LOCKED_OUT_THRESHOLD = 3

PASSWORD_POLICIES: tuple[PasswordPolicy, ...] = (
    PasswordPolicy("PSO Lock Early", LOCKED_OUT.dn, lockout_threshold=LOCKED_OUT_THRESHOLD),
    PasswordPolicy("PSO Lock Later", LOCKME.dn, lockout_threshold=LOCKME_THRESHOLD),
    # Two days, not one: a password younger than a day counts as never expiring.
    PasswordPolicy("PSO Expire After 2 Days", PASSWORD_EXPIRED.dn, max_password_age_days=2),
    PasswordPolicy(
        "PSO Expire After 10 Days", EXPIRING.dn, max_password_age_days=EXPIRING_MAX_AGE_DAYS
    ),
)


def bulk_group_dns() -> tuple[str, ...]:
    """The DNs of the big_group=True groups, each with ``groupie`` as its one member."""
    return tuple(f"CN=Bulk Group {i:04d},{GROUPS_OU}" for i in range(1, BULK_GROUP_COUNT + 1))


def effective_groups(person: Person) -> frozenset[str]:
    """Direct and nested group DNs (not the primary group Domain Users, nor bulk groups)."""
    found: set[str] = set()
    todo = list(person.groups)
    while todo:
        dn = todo.pop()
        if dn not in found:
            found.add(dn)
            todo.extend(g.dn for g in GROUPS if dn in g.members)
    return frozenset(found)


def unicode_pwd(password: str) -> bytes:
    """AD's write-only password attribute: the quoted password in UTF-16LE."""
    return f'"{password}"'.encode("utf-16-le")


# --- LDIF -------------------------------------------------------------------

_SAFE_INIT = set(range(0x01, 0x80)) - {0x0A, 0x0D, 0x20, 0x3A, 0x3C}
_SAFE_CHAR = set(range(0x01, 0x80)) - {0x0A, 0x0D}


def _line(attr: str, value: str | bytes | int) -> str:
    """One LDIF line, base64 where RFC 2849 SAFE-STRING does not allow the value as text."""
    raw = value if isinstance(value, bytes) else str(value).encode()
    safe = not raw or (
        raw[0] in _SAFE_INIT and all(b in _SAFE_CHAR for b in raw) and raw[-1] != 0x20
    )
    if safe:
        return f"{attr}: {raw.decode()}"
    return f"{attr}:: {base64.b64encode(raw).decode()}"


def _record(dn: str, attrs: Iterable[tuple[str, str | bytes | int]]) -> str:
    lines = [_line("dn", dn), "changetype: add"]
    lines += [_line(a, v) for a, v in attrs]
    return "\n".join(lines) + "\n"


def _ou_record(dn: str) -> str:
    return _record(dn, [("objectClass", "organizationalUnit")])


def _state_attrs(state: AccountState) -> list[tuple[str, str | bytes | int]]:
    """Attributes that put an account into *state*, where one LDAP add can.

    The expired password (needs an old pwdLastSet) and the lockout (needs bad
    binds) are made after the add by the harness.
    """
    if state is AccountState.MUST_CHANGE_PASSWORD:
        return [("pwdLastSet", 0)]
    if state is AccountState.ACCOUNT_EXPIRED:
        return [("accountExpires", _LONG_AGO)]
    if state is AccountState.LOGON_HOURS:
        return [("logonHours", _NO_LOGON_HOURS)]
    if state is AccountState.WORKSTATION:
        return [("userWorkstations", "SOMEPC")]
    return []


def _user_record(p: Person) -> str:
    disabled = p.state is AccountState.DISABLED
    attrs: list[tuple[str, str | bytes | int]] = [
        ("objectClass", "user"),
        ("sAMAccountName", p.sam),
        ("userPrincipalName", p.upn),
        ("displayName", p.display_name),
        ("mail", p.mail),
        ("unicodePwd", unicode_pwd(p.password)),
        ("userAccountControl", _UF_NORMAL_ACCOUNT | (_UF_ACCOUNTDISABLE if disabled else 0)),
    ]
    if p.ip_phone:
        attrs.append(("ipPhone", p.ip_phone))
    attrs += [("otherIpPhone", v) for v in p.other_ip_phones]
    attrs += _state_attrs(p.state)
    return _record(p.dn, attrs)


def _group_record(dn: str, members: Iterable[str]) -> str:
    attrs: list[tuple[str, str | bytes | int]] = [
        ("objectClass", "group"),
        ("sAMAccountName", dn.split(",", 1)[0].removeprefix("CN=")),
        ("groupType", _GLOBAL_SECURITY_GROUP),
    ]
    return _record(dn, attrs + [("member", m) for m in members])


def _ticks(days: int) -> int:
    """A negative interval in 100 ns, AD's way of writing a duration."""
    return -days * 24 * 3600 * 10**7


def _pso_record(pso: PasswordPolicy, precedence: int) -> str:
    never = -(2**63)
    max_age = _ticks(pso.max_password_age_days) if pso.max_password_age_days else never
    attrs: list[tuple[str, str | bytes | int]] = [
        ("objectClass", "msDS-PasswordSettings"),
        ("msDS-PasswordSettingsPrecedence", precedence),
        ("msDS-PasswordReversibleEncryptionEnabled", "FALSE"),
        ("msDS-PasswordHistoryLength", 0),
        ("msDS-PasswordComplexityEnabled", "TRUE"),
        ("msDS-MinimumPasswordLength", 7),
        ("msDS-MinimumPasswordAge", 0),
        ("msDS-MaximumPasswordAge", max_age),
        ("msDS-LockoutThreshold", pso.lockout_threshold),
        ("msDS-LockoutObservationWindow", -30 * 60 * 10**7),
        ("msDS-LockoutDuration", 0),  # locked until an administrator unlocks
        ("msDS-PSOAppliesTo", pso.applies_to),
    ]
    return _record(pso.dn, attrs)


def seed_records(*, big_group: bool = False) -> Iterator[str]:
    """The seed as LDIF change records, in an order the server accepts."""
    for ou in (STAFF_OU, GROUPS_OU, SERVICE_OU):
        yield _ou_record(ou)
    yield _user_record(SERVICE_ACCOUNT)
    for person in PEOPLE.values():
        yield _user_record(person)
    for group in GROUPS:
        yield _group_record(group.dn, group.members)
    for precedence, pso in enumerate(PASSWORD_POLICIES, start=10):
        yield _pso_record(pso, precedence)
    if big_group:
        for dn in bulk_group_dns():
            yield _group_record(dn, (GROUPIE.dn,))


def seed_ldif(*, big_group: bool = False) -> str:
    """The whole seed as one LDIF for ``ldapmodify`` (every record says changetype: add)."""
    return "\n".join(seed_records(big_group=big_group))
