"""Directory kinds (Active Directory, OpenLDAP) differ in data, not in code paths.

A preset is everything that differs between kinds, as Authelia's ``implementation``
is: the defaults the config starts from (filters, attribute names, group strategy;
any key set in the config wins), and how the LDAP directory behaves with that kind of
server: how a failed bind is explained, which attributes say an account is unusable,
how a directly bound user finds their own entry, whether the schema says which
username attributes users may write, where lockout policies and counters live. The
directory code reads these fields and never asks which kind it talks to, so a new
kind is one entry in ``PRESETS`` (and its name in ``Flavor``), built from small pure
functions, plus tests against a real server: 389-ds (``dirsrv``) came that way.

There is deliberately no default for the username attributes: the attributes a
directory holds phone extensions in (AD's ``ipPhone``/``otherIpPhone``, OpenLDAP's
``telephoneNumber``) are often ones every user may write on their own entry, so the
administrator must choose one they cannot (``[[usernames]]`` is required for LDAP).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bridge.core.attributes import Attributes
from bridge.core.errors import Reason
from bridge.directory import ad, dirsrv, ppolicy
from bridge.directory.lockout_flavors import LockoutFlavor

GroupStrategy = Literal["token_groups", "in_chain", "member_of", "member_search"]
#: ADDED (issue 12 §3): "389ds", 389 Directory Server and FreeIPA's directory.
Flavor = Literal["active_directory", "openldap", "389ds"]


def _no_state(attributes: Attributes) -> Reason | None:
    return None


def _no_expiry(attributes: Attributes, now: float) -> float | None:
    return None


def _no_refusal(code: int, message: str) -> Reason | None:
    return None


def _wrong_password(message: str) -> Reason:
    """A kind whose bind failures carry no reason (ppolicy's control may give one)."""
    return Reason.BAD_PASSWORD


@dataclass(frozen=True)
class AccountState:
    """Flags on the entry that make an account unusable: read with every user, and
    noted in the audit when a wrong password hit such an account."""

    attributes: tuple[str, ...] = ()
    reason: Callable[[Attributes], Reason | None] = _no_state


@dataclass(frozen=True)
class PasswordExpiry:
    """Where the entry says how long its password has left, for kinds whose bind says
    nothing about it (AD). The bind's own controls (389-ds, ppolicy) are read for every
    kind, by ``bridge.directory.expiry``."""

    attributes: tuple[str, ...] = ()
    #: (the entry's attributes, now) -> seconds left; None: never, or not known
    seconds_left: Callable[[Attributes, float], float | None] = _no_expiry


@dataclass(frozen=True)
class SelfLookup:
    """Direct-bind mode (no service account): how the bound user finds their own entry.

    First ``who_am_i`` (RFC 4532; its ``dn:`` answer is read), then a bind name that is a
    DN is read as it is, then ``search_filter`` of the bind name under base_dn.
    """

    who_am_i: bool
    search_filter: Callable[[str], str] | None = None
    #: several entries match the filter: keep the one whose attribute is the bind name
    exact_attribute: str | None = None


@dataclass(frozen=True)
class UsernameAcl:
    """Whether the directory says which username attributes users may write on
    themselves (AD: the schema's default ACL), and what to tell the administrator
    to check by hand when it does not."""

    from_ad_schema: bool
    #: shown instead of verdicts; ``{attributes}`` is replaced by their names
    manual_check: str = ""


@dataclass(frozen=True)
class Preset:
    """One directory kind: config defaults, then behaviour."""

    object_filter: str
    login_attributes: tuple[str, ...]
    display_name_attribute: str
    group_strategy: GroupStrategy
    nested_group_strategy: GroupStrategy
    accept_domain_prefix: bool
    #: the diagnostic message of a failed bind (result 49) -> why
    bind_failure: Callable[[str], Reason]
    #: other results of a failed bind that say why, (code, message) -> why or None
    #: (389-ds: 53, 19); they win over the ppolicy control's word
    bind_refusal: Callable[[int, str], Reason | None]
    account_state: AccountState
    password_expiry: PasswordExpiry
    self_lookup: SelfLookup
    username_acl: UsernameAcl
    #: ask for the ppolicy response control on user binds (OpenLDAP's ppolicy overlay)
    password_policy_control: bool = False
    #: where lockout policies and counters live, for the guard's soft lock
    lockout: LockoutFlavor | None = None
    #: the kind has a forest-wide global catalog (AD): a directory may name one to
    #: find which domain a bare name lives in
    global_catalog: bool = False


PRESETS: dict[Flavor, Preset] = {
    "active_directory": Preset(
        object_filter="(&(objectCategory=person)(objectClass=user))",
        login_attributes=("sAMAccountName", "userPrincipalName"),
        display_name_attribute="displayName",
        group_strategy="member_of",
        nested_group_strategy="token_groups",
        accept_domain_prefix=True,
        bind_failure=ad.bind_failure_reason,
        bind_refusal=_no_refusal,
        account_state=AccountState(ad.STATE_ATTRIBUTES, ad.account_state),
        password_expiry=PasswordExpiry(ad.EXPIRY_ATTRIBUTES, ad.password_expiry),
        self_lookup=SelfLookup(
            who_am_i=False, search_filter=ad.self_filter, exact_attribute="userPrincipalName"
        ),
        username_acl=UsernameAcl(from_ad_schema=True),
        lockout=ad.LOCKOUT,
        global_catalog=True,
    ),
    "openldap": Preset(
        object_filter="(objectClass=inetOrgPerson)",
        login_attributes=("uid",),
        display_name_attribute="displayName",
        group_strategy="member_of",
        nested_group_strategy="member_of",
        accept_domain_prefix=False,
        bind_failure=_wrong_password,
        bind_refusal=_no_refusal,
        account_state=AccountState(),
        password_expiry=PasswordExpiry(),
        self_lookup=SelfLookup(who_am_i=True),
        username_acl=UsernameAcl(
            from_ad_schema=False,
            manual_check="not checked (OpenLDAP publishes no ACL facts); make sure no slapd "
            "ACL gives 'by self write' on {attributes}",
        ),
        password_policy_control=True,
        lockout=ppolicy.LOCKOUT,
    ),
    "389ds": Preset(
        # FreeIPA's users are inetOrgPerson too (with posixAccount): one filter for both
        object_filter="(objectClass=inetOrgPerson)",
        login_attributes=("uid",),
        display_name_attribute="displayName",
        group_strategy="member_of",
        # 389's memberOf plug-in writes every group a user is in through nesting
        nested_group_strategy="member_of",
        accept_domain_prefix=False,
        bind_failure=_wrong_password,
        bind_refusal=dirsrv.bind_refusal,
        account_state=AccountState(dirsrv.STATE_ATTRIBUTES, dirsrv.account_state),
        password_expiry=PasswordExpiry(),
        self_lookup=SelfLookup(who_am_i=True),
        username_acl=UsernameAcl(
            from_ad_schema=False,
            manual_check="not checked (389-ds publishes no ACI facts); make sure no ACI "
            'lets users write {attributes} on their own entry (userdn="ldap:///self"; '
            'FreeIPA\'s "User Self service" permission covers telephoneNumber and mobile)',
        ),
        password_policy_control=True,
        lockout=dirsrv.LOCKOUT,
    ),
}
