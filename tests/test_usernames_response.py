"""Directory attributes become Ringotel usernames; the response template renders them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bridge.core.attributes import first_value
from bridge.core.template import DISPLAY_NAME, Identity, TemplateError, parse_template, render
from bridge.core.usernames import Rule, build_usernames

DEFAULT_TEMPLATE = '{"values":[{"username":"$username$","display_name":"$displayname$"}]}'


# --- usernames --------------------------------------------------------------------------


def test_rule_order_then_directory_order() -> None:
    attributes = {"ipPhone": ("101",), "otherIpPhone": ("205", "203", "204")}
    rules = [Rule("ipPhone"), Rule("otherIpPhone")]
    assert build_usernames(attributes, rules) == ("101", "205", "203", "204")
    assert build_usernames(attributes, list(reversed(rules))) == ("205", "203", "204", "101")


def test_duplicates_removed_keeping_first_position() -> None:
    attributes = {"ipPhone": ("102",), "otherIpPhone": ("101", "102", "101", "103")}
    usernames = build_usernames(attributes, [Rule("ipPhone"), Rule("otherIpPhone")])
    assert usernames == ("102", "101", "103")


def test_multi_valued_false_takes_only_the_first_value() -> None:
    attributes = {"otherIpPhone": ("201", "202", "203")}
    assert build_usernames(attributes, [Rule("otherIpPhone", multi_valued=False)]) == ("201",)


def test_attribute_names_compare_case_insensitively() -> None:
    attributes = {"IPPHONE": ("101",), "otheripphone": ("102",)}
    assert build_usernames(attributes, [Rule("ipPhone"), Rule("otherIpPhone")]) == ("101", "102")
    assert first_value({"DisplayName": ("Jane Doe",)}, "displayName") == "Jane Doe"


def test_missing_attributes_and_blank_values_give_nothing() -> None:
    attributes = {"ipPhone": ("", "   "), "mail": ("a@b",)}
    assert build_usernames(attributes, [Rule("ipPhone"), Rule("otherIpPhone")]) == ()
    assert first_value({"displayName": ()}, "displayName") is None
    assert first_value({}, "displayName") is None


@pytest.mark.parametrize(
    ("transforms", "value", "expected"),
    [
        (("lowercase",), "Jane.Doe", "jane.doe"),
        (("uppercase",), "jane", "JANE"),
        (("strip",), "  101 ", "101"),
        (("strip_domain",), "jane@corp.example", "jane"),
        (("strip_domain",), "CORP\\jane", "jane"),
        (("strip_domain",), "jane", "jane"),
        (("digits_only",), "+1 (555) 010-1", "15550101"),
        (("strip_domain", "lowercase"), "CORP\\Jane", "jane"),
    ],
)
def test_transforms(transforms: tuple[str, ...], value: str, expected: str) -> None:
    assert build_usernames({"a": (value,)}, [Rule("a", transforms)]) == (expected,)


def test_transforms_happen_before_dedupe() -> None:
    attributes = {"mail": ("Jane@corp.example", "jane@other.example")}
    rule = Rule("mail", ("strip_domain", "lowercase"))
    assert build_usernames(attributes, [rule]) == ("jane",)


def test_a_transform_that_empties_a_value_drops_it() -> None:
    assert build_usernames({"ipPhone": ("ext", "12")}, [Rule("ipPhone", ("digits_only",))]) == (
        "12",
    )


def test_values_keep_the_directory_spelling() -> None:
    assert build_usernames({"uid": ("Jane.Doe",)}, [Rule("uid")]) == ("Jane.Doe",)


# --- response template ------------------------------------------------------------------


def rendered(template: str, identity: Identity) -> Any:
    """Render and go through JSON the way the HTTP layer sends it."""
    return json.loads(json.dumps(render(parse_template(template), identity)))


def test_one_element_array_repeats_per_username() -> None:
    identity = Identity(("101", "102", "103"), "Jane Doe")
    assert rendered(DEFAULT_TEMPLATE, identity) == {
        "values": [
            {"username": "101", "display_name": "Jane Doe"},
            {"username": "102", "display_name": "Jane Doe"},
            {"username": "103", "display_name": "Jane Doe"},
        ]
    }


def test_top_level_one_element_array_repeats_too() -> None:
    result = rendered('[{"u":"$username$"}]', Identity(("101", "102"), "J"))
    assert result == [{"u": "101"}, {"u": "102"}]


def test_single_object_uses_the_first_username() -> None:
    template = '{"username":"$username$","display_name":"$displayname$"}'
    assert rendered(template, Identity(("101", "102"), "Jane")) == {
        "username": "101",
        "display_name": "Jane",
    }


def test_array_of_several_elements_is_not_repeated() -> None:
    template = '{"a":["$username$","fixed"]}'
    assert rendered(template, Identity(("101", "102"), "J")) == {"a": ["101", "fixed"]}


def test_other_placeholders_and_literals() -> None:
    template = '{"v":[{"u":"ext-$username$","who":"$login$","dn":"$dn$","n":1,"ok":true}]}'
    identity = Identity(("101",), "J", login="jane", dn="CN=Jane,DC=corp")
    assert rendered(template, identity) == {
        "v": [{"u": "ext-101", "who": "jane", "dn": "CN=Jane,DC=corp", "n": 1, "ok": True}]
    }


def test_placeholders_in_keys_are_filled() -> None:
    assert rendered('{"$username$":"$displayname$"}', Identity(("101",), "Jane")) == {"101": "Jane"}


def test_a_value_containing_a_placeholder_is_not_expanded_again() -> None:
    identity = Identity((DISPLAY_NAME, "$login$"), "$username$", login="jane")
    assert rendered(DEFAULT_TEMPLATE, identity) == {
        "values": [
            {"username": "$displayname$", "display_name": "$username$"},
            {"username": "$login$", "display_name": "$username$"},
        ]
    }


@pytest.mark.parametrize(
    "display_name",
    [
        'Jane "JJ" Doe',
        "Back\\slash\\",
        "Zoë Ø\u2019Brien ☎ 日本",
        "line\nbreak\ttab",
        '"},{"username":"999',  # an injection attempt stays a string
    ],
)
def test_display_names_are_escaped_as_json(display_name: str) -> None:
    text = json.dumps(render(parse_template(DEFAULT_TEMPLATE), Identity(("101",), display_name)))
    document = json.loads(text)
    assert document == {"values": [{"username": "101", "display_name": display_name}]}


def test_unicode_survives_ascii_and_utf8_serialisation() -> None:
    result = render(parse_template(DEFAULT_TEMPLATE), Identity(("101",), "Zoë ☎"))
    for ensure_ascii in (True, False):
        assert json.loads(json.dumps(result, ensure_ascii=ensure_ascii)) == result


def test_render_does_not_mutate_the_template() -> None:
    template = parse_template(DEFAULT_TEMPLATE)
    before = json.dumps(template)
    render(template, Identity(("101", "102"), "J"))
    assert json.dumps(template) == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"values":[{"username":"$username$"}]', "not valid JSON"),
        ('{"values":[{"name":"$displayname$"}]}', "$username$"),
        ("{}", "$username$"),
        ('"$username$"', "object or array"),
        ("42", "object or array"),
        ("null", "object or array"),
    ],
)
def test_parse_template_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse_template(text)
    assert message in str(info.value)


def test_default_template_parses() -> None:
    assert parse_template(DEFAULT_TEMPLATE) == json.loads(DEFAULT_TEMPLATE)
