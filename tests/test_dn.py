"""Distinguished names compare the way directories compare them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.core.dn import escape_rdn_value, is_dn_like, normalize_dn, split_rdns

GROUP = "CN=Ringotel Users,OU=Groups,DC=corp,DC=example"


@pytest.mark.parametrize(
    "spelling",
    [
        GROUP,
        "cn=ringotel users,ou=groups,dc=corp,dc=example",
        "CN=RINGOTEL USERS,OU=GROUPS,DC=CORP,DC=EXAMPLE",
        "cn=Ringotel Users, ou=Groups, dc=corp, dc=example",
        "  CN = Ringotel Users , OU=Groups ,DC=corp,DC=example  ",
        "cn=Ringotel\\20Users,ou=Groups,dc=corp,dc=example",
    ],
)
def test_same_group_in_different_spellings(spelling: str) -> None:
    assert normalize_dn(spelling) == normalize_dn(GROUP)


def test_normal_form_is_lower_case_without_spaces_around_separators() -> None:
    assert normalize_dn(" CN=Jane Doe , OU=People,DC=Corp ") == "cn=jane doe,ou=people,dc=corp"


@pytest.mark.parametrize(
    "spelling",
    [
        "CN=Smith\\, John,OU=People,DC=corp,DC=example",
        "cn=smith\\2c john,ou=people,dc=corp,dc=example",
        "CN=Smith\\2C John,OU=People,DC=corp,DC=example",
        "cn=SMITH\\, JOHN, ou=people, dc=corp, dc=example",
    ],
)
def test_escaped_comma_in_a_value(spelling: str) -> None:
    normal = normalize_dn(spelling)
    assert normal == "cn=smith\\, john,ou=people,dc=corp,dc=example"
    assert len(split_rdns(normal)) == 4


def test_escaped_comma_is_not_a_separator() -> None:
    assert normalize_dn("CN=Smith\\, John,DC=x") != normalize_dn("CN=Smith,CN=John,DC=x")
    assert split_rdns("CN=Smith\\, John,DC=x") == ["CN=Smith\\, John", "DC=x"]


def test_hex_escapes_of_utf8_bytes() -> None:
    assert normalize_dn("CN=Ren\\C3\\A9 Dupont,DC=corp") == normalize_dn("cn=RENÉ dupont,dc=CORP")
    assert normalize_dn("CN=Ren\\c3\\a9,DC=corp") == "cn=rené,dc=corp"


@pytest.mark.parametrize("special", ["+", '"', "\\", "<", ">", ";", "="])
def test_other_specials_have_one_canonical_escape(special: str) -> None:
    hex_form = f"CN=a\\{ord(special):02X}b,DC=x"
    char_form = f"CN=a\\{special}b,DC=x"
    assert normalize_dn(hex_form) == normalize_dn(char_form) == f"cn=a\\{special}b,dc=x"


def test_leading_hash_and_space_stay_escaped() -> None:
    assert normalize_dn("CN=\\#1,DC=x") == normalize_dn("CN=\\231,DC=x") == "cn=\\#1,dc=x"
    assert normalize_dn("CN=\\ lead,DC=x") == normalize_dn("CN=\\20lead,DC=x")


def test_escaped_trailing_space_is_significant() -> None:
    assert normalize_dn("CN=trail\\ ,DC=x") == normalize_dn("CN=trail\\20,DC=x")
    assert normalize_dn("CN=trail\\ ,DC=x") != normalize_dn("CN=trail,DC=x")


def test_different_groups_stay_different() -> None:
    assert normalize_dn(GROUP) != normalize_dn("CN=Ringotel Admins,OU=Groups,DC=corp,DC=example")
    assert normalize_dn("CN=a,DC=x") != normalize_dn("CN=a,DC=x,DC=y")


def test_text_that_is_not_a_dn_is_just_casefolded() -> None:
    assert normalize_dn("  Not A DN ") == "not a dn"


@pytest.mark.parametrize(
    "text",
    ["CN=Jane,DC=corp", "uid=jane", "cn = jane", "CN=Smith\\, John,DC=x", "OU=People"],
)
def test_dn_like(text: str) -> None:
    assert is_dn_like(text)


@pytest.mark.parametrize(
    "text", ["jane", "jane@corp.example", "CORP\\jane", "=jane", "a b=c", "", "9x=1"]
)
def test_not_dn_like(text: str) -> None:
    assert not is_dn_like(text)


# -- the one RFC 4514 escaper: a value put into a DN ----------------------------------
@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("alice", "alice"),
        ("Smith, John", "Smith\\, John"),
        ("a,ou=x", "a\\,ou\\=x"),  # cannot name another entry
        ('q"+;<>\\', 'q\\"\\+\\;\\<\\>\\\\'),
        (" lead", "\\ lead"),
        ("#hash", "\\#hash"),
        ("mid # ok", "mid # ok"),  # only a leading '#' means a BER value
        ("trail ", "trail\\ "),
        (" ", "\\ "),  # one space is both first and last: escaped once
        ("  ", "\\ \\ "),
        ("back\\ ", "back\\\\\\ "),  # the backslash escaped, then the trailing space
        ("nul\x00", "nul\\00"),  # NUL as hex, never raw
        ("zoë", "zoë"),
        ("", ""),
    ],
)
def test_rdn_value_escaping(value: str, escaped: str) -> None:
    assert escape_rdn_value(value) == escaped


#: Characters a DN treats specially, plus ordinary text; no whitespace other than the
#: space, which normalize_dn would trim where RFC 4514 does not.
RDN_TEXT = st.text(
    alphabet=st.sampled_from(list(' #,+"\\<>;=\x00'))
    | st.characters(exclude_categories=["Cs", "Cc", "Z"])
)


@given(RDN_TEXT)
def test_an_escaped_value_stays_one_rdn_and_reads_back(value: str) -> None:
    escaped = escape_rdn_value(value)
    dn = f"uid={escaped},o=file"
    assert split_rdns(dn) == [f"uid={escaped}", "o=file"]
    assert normalize_dn(dn) == dn.casefold()  # unescaped and escaped again: the same
