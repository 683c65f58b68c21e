"""A directory kind is a preset: each difference between AD and OpenLDAP is data there.

Pure: what each preset says. The same behaviour against the real servers is in
test_direct_bind (the self lookup), test_ad_login / test_openldap_login (bind
failures, account state), test_lockout_guard (lockout) and test_ad_schema (ACLs).
"""

from __future__ import annotations

import dataclasses

import pytest

from bridge.core.errors import Reason
from bridge.directory import ad, ppolicy
from bridge.directory.presets import PRESETS, Preset

AD = PRESETS["active_directory"]
OPENLDAP = PRESETS["openldap"]


def windows_bind_failure(code: str) -> str:
    return (
        "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, "
        f"data {code}, v4563"
    )


@pytest.mark.parametrize("preset", PRESETS.values(), ids=list(PRESETS))
def test_every_preset_says_everything(preset: Preset) -> None:
    """No field left to a default that means "the other kind": each one is chosen."""
    for item in dataclasses.fields(preset):
        assert getattr(preset, item.name) is not None, item.name
    assert callable(preset.bind_failure)
    assert callable(preset.account_state.reason)


def test_ad_finds_a_directly_bound_user_by_sam_or_upn() -> None:
    lookup = AD.self_lookup
    assert lookup.who_am_i is False  # Samba has no WhoAmI; Windows answers u:DOMAIN\name
    assert lookup.search_filter is not None
    assert lookup.search_filter("EXAMPLE\\alice") == "(sAMAccountName=alice)"
    assert lookup.search_filter("alice@example.test") == (
        "(|(userPrincipalName=alice@example.test)(sAMAccountName=alice))"
    )
    assert lookup.search_filter("EXAMPLE\\st*r(x)") == "(sAMAccountName=st\\2ar\\28x\\29)"
    assert lookup.exact_attribute == "userPrincipalName"


def test_openldap_asks_who_am_i_and_never_searches_by_sam_account_name() -> None:
    lookup = OPENLDAP.self_lookup
    assert lookup.who_am_i is True
    assert lookup.search_filter is None
    assert lookup.exact_attribute is None


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("775", Reason.ACCOUNT_LOCKED),
        ("533", Reason.ACCOUNT_DISABLED),
        ("773", Reason.PASSWORD_MUST_CHANGE),
        ("52e", Reason.BAD_PASSWORD),
    ],
)
def test_bind_diagnostics_are_read_only_from_the_kind_that_writes_them(
    code: str, reason: Reason
) -> None:
    message = windows_bind_failure(code)
    assert AD.bind_failure(message) is reason
    # slapd writes no "data" codes; its reasons come in the ppolicy control
    assert OPENLDAP.bind_failure(message) is Reason.BAD_PASSWORD


def test_account_state_is_read_only_where_the_kind_keeps_it() -> None:
    disabled = {"userAccountControl": ("514",)}  # NORMAL_ACCOUNT | ACCOUNTDISABLE
    locked = {"USERACCOUNTCONTROL": ("512",), "msDS-User-Account-Control-Computed": ("16",)}
    assert AD.account_state.reason(disabled) is Reason.ACCOUNT_DISABLED
    assert AD.account_state.reason(locked) is Reason.ACCOUNT_LOCKED
    assert AD.account_state.reason({"userAccountControl": ("512",)}) is None
    assert AD.account_state.reason({"userAccountControl": ("not a number",)}) is None
    assert set(AD.account_state.attributes) == set(ad.STATE_ATTRIBUTES)
    assert OPENLDAP.account_state.reason(disabled) is None
    assert OPENLDAP.account_state.attributes == ()


def test_lockout_and_password_policy_per_kind() -> None:
    assert AD.lockout is ad.LOCKOUT
    assert AD.lockout.pdc_emulator
    assert AD.lockout.default_policy_at_domain_root
    assert not AD.password_policy_control
    assert OPENLDAP.lockout is ppolicy.LOCKOUT
    assert not OPENLDAP.lockout.pdc_emulator
    assert OPENLDAP.password_policy_control


def test_username_acl_is_judged_only_where_the_schema_says_it() -> None:
    assert AD.username_acl.from_ad_schema
    assert not OPENLDAP.username_acl.from_ad_schema
    advice = OPENLDAP.username_acl.manual_check.format(attributes="telephoneNumber")
    assert "'by self write' on telephoneNumber" in advice
