"""What a typed login may look like: sAMAccountName, UPN, DOMAIN\\name, and what not."""

from __future__ import annotations

import pytest

from bridge.core.errors import LoginRejected, Reason
from bridge.core.typed_login import LoginRules, fold_login, normalize_login

AD = LoginRules(accept_domain_prefix=True)
OPENLDAP = LoginRules(accept_domain_prefix=False)


def refused(typed: str, rules: LoginRules = AD) -> LoginRejected:
    with pytest.raises(LoginRejected) as info:
        normalize_login(typed, rules)
    assert info.value.reason is Reason.INVALID_LOGIN
    return info.value


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("alice", "alice"),
        ("  alice  ", "alice"),
        ("alice@corp.example", "alice@corp.example"),
        ("CORP\\alice", "alice"),
        ("corp.example\\Alice", "Alice"),
        ("CORP\\alice@corp.example", "alice@corp.example"),
        ("o'brien", "o'brien"),
        ("jane(doe)*", "jane(doe)*"),  # filter specials are escaped later, not here
        ("Zoë", "Zoë"),
    ],
)
def test_accepted_logins(typed: str, expected: str) -> None:
    assert normalize_login(typed, AD) == expected


def test_domain_prefix_kept_when_not_accepted() -> None:
    assert normalize_login("CORP\\alice", OPENLDAP) == "CORP\\alice"


@pytest.mark.parametrize("typed", ["CORP\\", "\\alice", "a\\b\\c", "\\"])
def test_malformed_domain_prefix(typed: str) -> None:
    assert "DOMAIN" in refused(typed).detail


@pytest.mark.parametrize("typed", ["@example.test", "user@", "@"])
def test_incomplete_user_principal_name(typed: str) -> None:
    refused(typed)
    refused(typed, OPENLDAP)


def test_incomplete_upn_after_domain_prefix() -> None:
    refused("CORP\\user@")


@pytest.mark.parametrize(
    "typed",
    [
        "CN=Alice,OU=People,DC=corp,DC=example",
        "uid=alice,ou=people,dc=example,dc=org",
        "cn = admin , dc=corp",
    ],
)
def test_a_dn_is_not_a_login(typed: str) -> None:
    assert "DN" in refused(typed).detail


@pytest.mark.parametrize(
    "typed",
    [
        "ali\x00ce",
        "ali\nce",
        "ali\tce",
        "alice\x7f",
        "ali\u200bce",  # zero-width space (Cf)
        "ali\u202ece",  # right-to-left override (Cf)
        "al\ud800ice",  # a lone surrogate, as JSON "\ud800" decodes: not a name
    ],
)
def test_control_characters(typed: str) -> None:
    refused(typed)


@pytest.mark.parametrize("typed", ["", "   ", "a" * 257])
def test_empty_or_too_long(typed: str) -> None:
    refused(typed)


def test_max_length_is_configurable() -> None:
    assert normalize_login("a" * 10, LoginRules(max_length=10)) == "a" * 10
    refused("a" * 11, LoginRules(max_length=10))


def test_domain_names_restrict_the_prefix_case_insensitively() -> None:
    rules = LoginRules(accept_domain_prefix=True, domain_names=("CORP", "corp.example"))
    assert normalize_login("corp\\alice", rules) == "alice"
    assert normalize_login("CORP.EXAMPLE\\alice", rules) == "alice"
    assert "domain" in refused("EVIL\\alice", rules).detail
    assert normalize_login("alice", rules) == "alice"


def test_no_domain_names_means_any_prefix() -> None:
    assert normalize_login("ANYTHING\\alice", AD) == "alice"


def test_fold_login_is_case_insensitive() -> None:
    assert fold_login("Alice") == fold_login("ALICE") == fold_login("alice")
    assert fold_login("Straße") == fold_login("STRASSE")
    assert fold_login("alice") != fold_login("alicia")


def test_fold_login_unifies_compatibility_forms() -> None:
    fullwidth = "\uff41\uff4c\uff49\uff43\uff45"
    assert fold_login(fullwidth) == fold_login("alice")
    assert fold_login("Ame\u0301lie") == fold_login("Amélie")  # combining accent


def test_domain_prefix_variants_share_a_fold_login() -> None:
    keys = {fold_login(normalize_login(t, AD)) for t in ("CORP\\Alice", "alice", "ALICE")}
    assert len(keys) == 1
