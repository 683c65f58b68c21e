"""Every filter value escaped once (RFC 4515), where the filter is built."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from ldap3.utils.conv import escape_filter_chars

from bridge.directory.ldap import filters


@given(st.text())
def test_text_values_escape_exactly_as_ldap3_would(value: str) -> None:
    assert filters.escape(value) == escape_filter_chars(value)


def test_the_login_enters_the_configured_filter_escaped_once() -> None:
    template = "(&(objectClass=user)(|(sAMAccountName={login})(userPrincipalName={login})))"
    assert filters.user_filter(template, "st*r") == (
        "(&(objectClass=user)(|(sAMAccountName=st\\2ar)(userPrincipalName=st\\2ar)))"
    )
    assert filters.user_filter("(uid={login})", "back\\slash") == "(uid=back\\5cslash)"
    assert filters.user_filter("(uid={login})", "a)(uid=*") == "(uid=a\\29\\28uid=\\2a)"


def test_holders_of_a_value_in_any_username_attribute() -> None:
    assert filters.holding(["ipPhone"], "20*") == "(ipPhone=20\\2a)"
    assert filters.holding(["ipPhone", "otherIpPhone"], "201") == (
        "(|(ipPhone=201)(otherIpPhone=201))"
    )
    assert filters.holding([], "201") == ""  # no attribute: nobody holds it


def test_group_filters() -> None:
    dn = "CN=Smith\\, John (HQ),OU=People,DC=corp,DC=example"
    assert filters.groups_with_member([dn]) == (
        "(|(member=CN=Smith\\5c, John \\28HQ\\29,OU=People,DC=corp,DC=example)"
        "(uniqueMember=CN=Smith\\5c, John \\28HQ\\29,OU=People,DC=corp,DC=example))"
    )
    assert filters.nested_groups_of("CN=a*,DC=x") == (
        "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:=CN=a\\2a,DC=x))"
    )
    assert filters.sids([b"\x01\x05", b"("]) == "(|(objectSid=\\01\\05)(objectSid=\\28))"
