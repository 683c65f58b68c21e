"""Decoding the password-policy response control, with the bytes slapd really sends."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.core.errors import Reason
from bridge.directory.ppolicy import OID, policy_refusal


def control(value: object) -> dict[str, object]:
    return {OID: {"criticality": False, "value": value}}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"0\x03\x81\x01\x02", Reason.PASSWORD_MUST_CHANGE),  # slapd, pwdReset: TRUE
        (b"0\x03\x81\x01\x01", Reason.ACCOUNT_LOCKED),  # slapd, pwdAccountLockedTime
        (b"0\x03\x81\x01\x00", Reason.PASSWORD_EXPIRED),
        (b"0\x09\xa0\x04\x81\x02\x00\x03\x81\x01\x00", Reason.PASSWORD_EXPIRED),  # grace + error
        (b"0\x00", None),  # slapd, an ordinary bind
        (b"0\x04\xa0\x02\x80\x00", None),  # a warning only
        (b"0\x03\x81\x01\x07", None),  # an error that says nothing about binding
    ],
)
def test_decodes_the_error(value: bytes, reason: Reason | None) -> None:
    assert policy_refusal(control(value)) == reason


@pytest.mark.parametrize("controls", [None, {}, {OID: {}}, control(None), control("text")])
def test_absent_control_is_no_refusal(controls: dict[str, object] | None) -> None:
    assert policy_refusal(controls) is None


@given(st.binary(max_size=40))
def test_garbage_never_raises(value: bytes) -> None:
    assert policy_refusal(control(value)) in (None, *Reason)
