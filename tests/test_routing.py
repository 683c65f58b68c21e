"""The router alone: which directory a typed login goes to (pure, no directory)."""

from __future__ import annotations

import pytest

from bridge.core.routing import Route, Router, RouteRules, domain_of

CORP = RouteRules("corp", prefixes=("CORP",), suffixes=("corp.example",), domain="corp.example")
SUB = RouteRules(
    "sub", prefixes=("SUBSIDIARY",), suffixes=("subsidiary.example",), domain="sub.example"
)
CONTRACTORS = RouteRules("contractors", suffixes=("contractors.example",))


def test_one_directory_takes_every_login_as_before() -> None:
    router = Router([RouteRules("default")])
    for typed in ("jane", "OTHER\\jane", "jane@anywhere.example"):
        assert router.route(typed).directories == ("default",)
        assert router.route(typed).single == "default"


@pytest.mark.parametrize(
    ("typed", "directory", "why"),
    [
        ("SUBSIDIARY\\jane", "sub", "NetBIOS prefix SUBSIDIARY"),
        ("subsidiary\\jane", "sub", "NetBIOS prefix subsidiary"),  # NetBIOS names: any case
        ("corp\\jane", "corp", "NetBIOS prefix corp"),
        ("jane@Subsidiary.Example", "sub", "suffix @Subsidiary.Example"),
        ("jane@corp.example", "corp", "suffix @corp.example"),
        ("  jane@contractors.example ", "contractors", "suffix @contractors.example"),
    ],
)
def test_prefix_and_suffix_route_to_their_directory(typed: str, directory: str, why: str) -> None:
    route = Router([CORP, SUB, CONTRACTORS]).route(typed)
    assert route.single == directory
    assert route.why == f"directory {directory}: {why}"


def test_a_bare_name_goes_to_the_first_directory_when_none_is_marked() -> None:
    route = Router([CORP, SUB]).route("jane")
    assert route == Route(("corp",), "bare name: default directory corp")


def test_a_bare_name_goes_to_the_marked_default() -> None:
    marked = RouteRules("sub", prefixes=("SUBSIDIARY",), default=True)
    assert Router([CORP, marked]).route("jane").single == "sub"


def test_several_defaults_are_all_asked() -> None:
    router = Router(
        [RouteRules("corp", default=True), SUB, RouteRules("contractors", default=True)]
    )
    route = router.route("jane")
    assert route.directories == ("corp", "contractors")
    assert route.single is None
    assert route.why == "bare name: default directories corp, contractors"


@pytest.mark.parametrize("typed", ["OTHER\\jane", "jane@gmail.example", "jane@"])
def test_unclaimed_prefixes_and_suffixes_go_where_bare_names_go(typed: str) -> None:
    """The default directory's own rules then decide (an AD directory that names its
    domain_names refuses OTHER\\jane there): no other directory is guessed."""
    route = Router([CORP, SUB]).route(typed)
    assert route.directories == ("corp",)
    assert "is no directory's" in route.why


def test_a_prefix_wins_over_a_suffix() -> None:
    assert Router([CORP, SUB]).route("SUBSIDIARY\\jane@corp.example").single == "sub"


def test_a_default_with_a_global_catalog_is_asked_through_it() -> None:
    forest = RouteRules("corp", default=True, domain="corp.example", catalog=True)
    child = RouteRules("emea", prefixes=("EMEA",), domain="emea.corp.example")
    router = Router([forest, child])
    route = router.route("jane")
    assert route.directories == ()
    assert route.catalogs == ("corp",)
    assert route.single is None
    assert route.why == "bare name: default directory corp's global catalog"
    assert router.owner("CN=Jane,OU=Staff,DC=EMEA,DC=corp,DC=example") == "emea"
    assert router.owner("CN=Jane,OU=Staff,DC=corp,DC=example") == "corp"
    assert router.owner("CN=Jane,OU=Staff,DC=apac,DC=corp,DC=example") is None


def test_domains_are_read_from_dc_components_only() -> None:
    assert domain_of("CN=x\\, y,OU=dc=not,DC=Corp, DC=Example") == "corp.example"
    assert domain_of("uid=jdoe,ou=people,o=acme") is None


@pytest.mark.parametrize(
    "rules",
    [
        [CORP, RouteRules("corp")],  # one name twice
        [CORP, RouteRules("other", prefixes=("corp",))],  # a NetBIOS name twice
        [SUB, RouteRules("other", suffixes=("SUBSIDIARY.example",))],  # a suffix twice
    ],
)
def test_a_rule_claimed_twice_is_refused(rules: list[RouteRules]) -> None:
    with pytest.raises(ValueError, match=r"(?i)corp|subsidiary"):
        Router(rules)


def test_one_directory_with_a_catalog_still_asks_it_for_bare_names() -> None:
    """A forest's catalog may find a bare name in a domain no directory serves."""
    router = Router([RouteRules("corp", prefixes=("CORP",), domain="corp.example", catalog=True)])
    assert router.route("jane").catalogs == ("corp",)
    assert router.route("CORP\\jane").single == "corp"
