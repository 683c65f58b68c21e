"""A second AD domain, ``SUBSIDIARY.TEST``: the acquired company of the several-directory
tests. Provisioned as a forest of its own on another loopback address (Samba hosts a
second domain of one forest only with a second DC joined to the first), seeded from
this module as `ad_people` seeds ``EXAMPLE.TEST``; the names `samba.People` lists.

Its people overlap the first domain's on purpose:

========== ================================================================
sam        why it exists
========== ================================================================
alice      also in EXAMPLE with another password and other extensions: a
           login must reach the right one by prefix, suffix or default
sven       only here: a bare name the default directory does not know
========== ================================================================
"""

from __future__ import annotations

from collections.abc import Iterator

from tests.harness.ad_people import (
    AccountState,
    Person,
    _group_record,
    _ou_record,
    _user_record,
)

REALM = "subsidiary.test"
NETBIOS_DOMAIN = "SUBSIDIARY"
BASE_DN = "DC=subsidiary,DC=test"
STAFF_OU = f"OU=Staff,{BASE_DN}"
GROUPS_OU = f"OU=Groups,{BASE_DN}"
SERVICE_OU = f"OU=Service Accounts,{BASE_DN}"
PSO_CONTAINER = f"CN=Password Settings Container,CN=System,{BASE_DN}"
RINGOTEL_USERS = f"CN=Ringotel Users,{GROUPS_OU}"

#: No account here is seeded expired or locked (`ad_people` covers those states).
PASSWORD_EXPIRED: Person | None = None
EXPIRING: Person | None = None
EXPIRING_SET_DAYS_AGO = 0
LOCKED_OUT: Person | None = None
LOCKED_OUT_THRESHOLD = 0


def _person(sam: str, cn: str, password: str, ip_phone: str) -> Person:
    return Person(
        sam=sam,
        upn=f"{sam}@{REALM}",
        password=password,
        dn=f"CN={cn},{STAFF_OU}",
        display_name=cn,
        mail=f"{sam}@{REALM}",
        ip_phone=ip_phone,
        other_ip_phones=(),
        groups=(RINGOTEL_USERS,),
        state=AccountState.ENABLED,
    )


SERVICE_ACCOUNT = Person(
    sam="svc-ringotel",
    upn=f"svc-ringotel@{REALM}",
    password="Svc-Subsidiary-Bind-2025!",
    dn=f"CN=svc-ringotel,{SERVICE_OU}",
    display_name="Ringotel bridge service account",
    mail=f"svc-ringotel@{REALM}",
    ip_phone=None,
    other_ip_phones=(),
    groups=(),
)

#: Same sAMAccountName as `ad_people.ALICE`, another person.
ALICE = _person("alice", "Alice Acquired", "Subsidiary-Alice-9", "7201")
SVEN = _person("sven", "Sven Subsidiary", "Only-Here-Sven-3", "7301")

PEOPLE: dict[str, Person] = {p.sam: p for p in (ALICE, SVEN)}


def seed_records() -> Iterator[str]:
    for ou in (STAFF_OU, GROUPS_OU, SERVICE_OU):
        yield _ou_record(ou)
    yield _user_record(SERVICE_ACCOUNT)
    for person in PEOPLE.values():
        yield _user_record(person)
    yield _group_record(RINGOTEL_USERS, [p.dn for p in PEOPLE.values()])


def seed_ldif(*, big_group: bool = False) -> str:
    """The whole seed as one LDIF for ``ldapmodify`` (no bulk groups here)."""
    return "\n".join(seed_records())
