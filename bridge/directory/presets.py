"""Active Directory and OpenLDAP differ in data, not in code paths.

A preset supplies the defaults a flavor needs; any key set in the config wins.
There is deliberately no default for the username attributes: the attributes a
directory holds phone extensions in (AD's ``ipPhone``/``otherIpPhone``, OpenLDAP's
``telephoneNumber``) are often ones every user may write on their own entry, so the
administrator must choose one they cannot (``[[usernames]]`` is required for LDAP).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bridge.directory.lockout_flavors import AD, PPOLICY, LockoutFlavor

GroupStrategy = Literal["token_groups", "in_chain", "member_of", "member_search"]
Flavor = Literal["active_directory", "openldap"]


@dataclass(frozen=True)
class Preset:
    """Directory defaults for one flavor."""

    object_filter: str
    login_attributes: tuple[str, ...]
    display_name_attribute: str
    group_strategy: GroupStrategy
    nested_group_strategy: GroupStrategy
    accept_domain_prefix: bool
    #: ask for the ppolicy response control on user binds (OpenLDAP's ppolicy overlay)
    password_policy_control: bool = False
    #: where lockout policies and counters live, for the guard's soft lock
    lockout: LockoutFlavor | None = None


PRESETS: dict[Flavor, Preset] = {
    "active_directory": Preset(
        object_filter="(&(objectCategory=person)(objectClass=user))",
        login_attributes=("sAMAccountName", "userPrincipalName"),
        display_name_attribute="displayName",
        group_strategy="member_of",
        nested_group_strategy="token_groups",
        accept_domain_prefix=True,
        lockout=AD,
    ),
    "openldap": Preset(
        object_filter="(objectClass=inetOrgPerson)",
        login_attributes=("uid",),
        display_name_attribute="displayName",
        group_strategy="member_of",
        nested_group_strategy="member_of",
        accept_domain_prefix=False,
        password_policy_control=True,
        lockout=PPOLICY,
    ),
}
