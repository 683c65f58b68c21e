"""The content of the private 389 Directory Server, as data the tests can import.

The single source of truth, as ``openldap_people`` is for slapd: the LDIF that seeds
the server is rendered from these objects, so a test uses the very password, DN and
state the directory was built from. Each account state 389-ds reports at bind time
has its own person: disabled (``nsAccountLock``), locked by failed binds, password
expired, expiring soon, must change after an administrator's reset, and two accounts
for the lockout guard (the global policy's threshold, and a stricter per-user policy
found through ``pwdpolicysubentry``).

Users are ``inetOrgPerson`` (FreeIPA's users are too, with ``posixAccount`` and its own
classes); groups are ``groupOfNames``, one nested in another, so the memberOf plug-in
writes the transitive membership on each user.

Run ``python -m tests.harness.dirsrv_people`` to print the seed LDIF.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterator
from dataclasses import dataclass

from tests.harness.openldap_people import Attributes, ldif_entry

BASE_DN = "dc=dirsrv,dc=test"
PEOPLE_DN = f"ou=people,{BASE_DN}"
GROUPS_DN = f"ou=groups,{BASE_DN}"
SERVICES_DN = f"ou=services,{BASE_DN}"

SERVICE_DN = f"cn=svc-ringotel,{SERVICES_DN}"
SERVICE_PASSWORD = "svc-ringotel: 389 test-only secret 4Rt!"
#: A service account without the README's cn=config grant: the global policy is
#: hidden from it, as from every account on a fresh 389-ds.
LIMITED_DN = f"cn=svc-limited,{SERVICES_DN}"
LIMITED_PASSWORD = "svc-limited: 389 test-only secret 8Yx!"

ALLOWED_GROUP = f"cn=ringotel-users,{GROUPS_DN}"
NESTED_GROUP = f"cn=sales,{GROUPS_DN}"
DENIED_GROUP = f"cn=blocked,{GROUPS_DN}"

#: The global policy (cn=config): lockout after 3 failures counted over 10 minutes,
#: passwords that expire (in 10 years) and a warning 14 days before they do.
GLOBAL_MAX_FAILURES = 3
GLOBAL_RESET_FAILURE_COUNT = 600
GLOBAL_LOCKOUT_DURATION = 3600
PASSWORD_MAX_AGE = 10 * 365 * 86400
PASSWORD_WARNING = 14 * 86400
#: The per-user policy of ``strict``: 2 failures, counted for 15 minutes.
STRICT_MAX_FAILURES = 2
STRICT_RESET_FAILURE_COUNT = 900
#: ``dsconf pwpolicy set`` arguments of the global policy.
GLOBAL_POLICY = (
    *("--pwdlocal", "on", "--pwdlockout", "on"),
    *("--pwdmaxfailures", str(GLOBAL_MAX_FAILURES)),
    *("--pwdresetfailcount", str(GLOBAL_RESET_FAILURE_COUNT)),
    *("--pwdlockoutduration", str(GLOBAL_LOCKOUT_DURATION)),
    *("--pwdexpire", "on", "--pwdmaxage", str(PASSWORD_MAX_AGE)),
    *("--pwdwarning", str(PASSWORD_WARNING)),
)
#: How far in the future the seed puts ``expiring``'s password expiry.
EXPIRING_IN = 3 * 86400


class State(enum.Enum):
    """What 389-ds answers for the right password."""

    ENABLED = "enabled"
    DISABLED = "disabled"  # nsAccountLock: 53 "Account inactivated"
    LOCKED = "locked"  # locked by failed binds: 19 "Exceed password retry limit"
    EXPIRED = "expired"  # 49 with the password-expired control
    EXPIRING = "expiring"  # success with the password-expiring control
    MUST_CHANGE = "must_change"  # success with changeAfterReset: may only change it


@dataclass(frozen=True)
class Person:
    """One user; ``groups`` are the DNs of its direct groups."""

    login: str
    password: str
    cn: str
    employee_number: str
    groups: tuple[str, ...] = (ALLOWED_GROUP,)
    state: State = State.ENABLED
    #: a per-user password policy (dsconf localpwp) with this lockout threshold
    policy_max_failures: int | None = None

    @property
    def dn(self) -> str:
        return f"uid={self.login},{PEOPLE_DN}"

    @property
    def display_name(self) -> str:
        return self.cn

    @property
    def usernames(self) -> tuple[str, ...]:
        """The Ringotel usernames with ``[[usernames]] attribute = "employeeNumber"``."""
        return (self.employee_number,)


def _people() -> Iterator[Person]:
    yield Person("jdoe", "jdoe-Passw0rd-389", "Jane Doe", "4101")
    yield Person("sally", "sally-Passw0rd-389", "Sally Sales", "4102", (NESTED_GROUP,))
    yield Person(
        "barred", "barred-Passw0rd-389", "Bart Barred", "4103", (ALLOWED_GROUP, DENIED_GROUP)
    )
    yield Person("outsider", "outsider-Passw0rd-389", "Olga Outsider", "4104", ())
    yield Person("ulrich", "Pässwörd-ünïcødé-389€", "Ulrich Müller", "4105")
    yield Person("disabled", "disabled-Passw0rd-389", "Dora Disabled", "4106", state=State.DISABLED)
    yield Person("locked", "locked-Passw0rd-389", "Lou Locked", "4107", state=State.LOCKED)
    yield Person("expired", "expired-Passw0rd-389", "Eve Expired", "4108", state=State.EXPIRED)
    yield Person("expiring", "expiring-Passw0rd-389", "Ed Expiring", "4109", state=State.EXPIRING)
    yield Person(
        "mustchange", "mustchange-Passw0rd-389", "Max Mustchange", "4110", state=State.MUST_CHANGE
    )
    yield Person("fragile", "fragile-Passw0rd-389", "Fay Fragile", "4111")
    yield Person(
        "strict",
        "strict-Passw0rd-389",
        "Stan Strict",
        "4112",
        policy_max_failures=STRICT_MAX_FAILURES,
    )


PEOPLE: dict[str, Person] = {p.login: p for p in _people()}


def local_policy(person: Person) -> tuple[str, ...]:
    """``dsconf localpwp adduser DN`` arguments of a person's own lockout policy."""
    return (
        *("--pwdlockout", "on", "--pwdmaxfailures", str(person.policy_max_failures)),
        *("--pwdresetfailcount", str(STRICT_RESET_FAILURE_COUNT)),
        *("--pwdlockoutduration", str(GLOBAL_LOCKOUT_DURATION)),
    )


def nested_groups(person: Person) -> frozenset[str]:
    """Direct groups plus the allowed group that holds the nested one."""
    found = set(person.groups)
    if NESTED_GROUP in found:
        found.add(ALLOWED_GROUP)
    return frozenset(found)


# ---------------------------------------------------------------- LDIF rendering


def _add(dn: str, attributes: Attributes) -> str:
    return ldif_entry(dn, [("changetype", "add"), *attributes])


def _containers() -> Iterator[str]:
    for ou in ("people", "groups", "services"):
        yield _add(f"ou={ou},{BASE_DN}", [("objectClass", "organizationalUnit"), ("ou", ou)])


def _service(dn: str, password: str) -> str:
    return _add(
        dn,
        [
            ("objectClass", "applicationProcess"),
            ("objectClass", "simpleSecurityObject"),
            ("cn", dn.split(",", 1)[0].split("=", 1)[1]),
            ("description", "Ringotel bridge service account"),
            ("userPassword", password),
        ],
    )


def service_acis() -> str:
    """What the README tells a 389-ds administrator to grant the service account: read
    users and groups (operational attributes included: the lockout counters), and read
    the global password policy on cn=config (hidden from everyone by default)."""
    users = (
        '(targetattr="*")(version 3.0; acl "ringotel-bridge: read users"; '
        f'allow (read, search, compare) userdn="ldap:///{SERVICE_DN}";)'
    )
    policy_attributes = " || ".join(
        (
            "objectClass",
            "passwordLockout",
            "passwordMaxFailure",
            "passwordResetFailureCount",
            "passwordLockoutDuration",
            "passwordUnlock",
        )
    )
    policy = (
        f'(targetattr="{policy_attributes}")(version 3.0; '
        'acl "ringotel-bridge: read the password policy"; '
        f'allow (read, search, compare) userdn="ldap:///{SERVICE_DN}";)'
    )
    return _aci(BASE_DN, users) + _aci("cn=config", policy)


def _harness_acis() -> str:
    """Beyond the README: signed-in users read the directory (FreeIPA's default lets
    them; direct-bind mode reads the user's own entry and groups with their rights)."""
    everyone = (
        '(targetattr="*")(version 3.0; acl "users read the directory"; '
        'allow (read, search, compare) userdn="ldap:///all";)'
    )
    return _aci(BASE_DN, everyone)


def _aci(dn: str, aci: str) -> str:
    change = [("changetype", "modify"), ("add", "aci"), ("aci", aci)]
    return ldif_entry(dn, change).rstrip("\n") + "\n-\n\n"


def person_entry(person: Person) -> str:
    attributes: Attributes = [
        ("objectClass", "inetOrgPerson"),
        ("uid", person.login),
        ("cn", person.cn),
        ("sn", person.cn.split()[-1]),
        ("displayName", person.display_name),
        ("mail", f"{person.login}@dirsrv.test"),
        ("employeeNumber", person.employee_number),
        ("userPassword", person.password),
    ]
    if person.state is State.DISABLED:
        attributes.append(("nsAccountLock", "true"))
    return _add(person.dn, attributes)


def _groups() -> Iterator[str]:
    """Groups after their members: sales first, then the group that holds it."""
    members = {
        NESTED_GROUP: [p.dn for p in PEOPLE.values() if NESTED_GROUP in p.groups],
        DENIED_GROUP: [p.dn for p in PEOPLE.values() if DENIED_GROUP in p.groups],
        ALLOWED_GROUP: [
            NESTED_GROUP,
            *(p.dn for p in PEOPLE.values() if ALLOWED_GROUP in p.groups),
        ],
    }
    for dn, dns in members.items():
        cn = dn.split(",", 1)[0].split("=", 1)[1]
        yield _add(dn, [("objectClass", "groupOfNames"), ("cn", cn), *(("member", m) for m in dns)])


def seed_ldif() -> str:
    """Containers, the service account, its ACIs, people and groups, for ldapmodify
    (online, so the memberOf plug-in writes memberOf on every member)."""
    parts = [*_containers(), _service(SERVICE_DN, SERVICE_PASSWORD)]
    parts += [_service(LIMITED_DN, LIMITED_PASSWORD), service_acis(), _harness_acis()]
    parts += [person_entry(p) for p in PEOPLE.values()]
    parts += list(_groups())
    return "".join(parts)


def generalized_time(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y%m%d%H%M%SZ")


def expiry_ldif(now: float) -> str:
    """The two password expiry times: a day ago, and EXPIRING_IN ahead. Set on every
    start because they are relative to now (and 389 moves ``expiring``'s on its first
    warning)."""
    records = []
    for person, moment in (
        (PEOPLE["expired"], generalized_time(now - 86400)),
        (PEOPLE["expiring"], generalized_time(now + EXPIRING_IN)),
    ):
        records.append(
            f"dn: {person.dn}\nchangetype: modify\n"
            f"replace: passwordExpirationTime\npasswordExpirationTime: {moment}\n-\n"
            "replace: passwordExpWarned\npasswordExpWarned: 0\n-\n\n"
        )
    return "".join(records)


if __name__ == "__main__":
    print(seed_ldif(), end="")
