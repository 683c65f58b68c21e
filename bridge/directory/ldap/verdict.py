"""What a user's bind answer means: a usable login (with the seconds its password has
left, when the server says), or the reason it is not.

Both ways a user bind is sent (``binder`` on the event loop; ldap3 in direct-bind
mode) hand their answer here, so the two cannot drift. What is read, in order:

refused
    the kind's own results (389-ds: 53 inactivated, 19 locked out; they beat the
    ppolicy control, which calls an inactivated 389 account "locked"), then the ppolicy
    control's error (OpenLDAP, 389-ds), then the Netscape password-expired control, then
    the result itself: 49 with the kind's diagnostic (AD's ``data 775``), 53, 50;
    anything else means the server could not answer (``TransportFailure``).
bound
    the ppolicy control's error (``changeAfterReset``), then the password-expired
    control (389-ds: a password an administrator reset); else the login is usable, and
    the expiring control or ppolicy's warning may say how long the password has left.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.core.errors import LoginRejected, Reason
from bridge.core.ports import UserEntry
from bridge.directory import expiry, ppolicy
from bridge.directory.ldap.results import result_text
from bridge.directory.ldap.transport import TransportFailure
from bridge.directory.presets import Preset


def judge(
    preset: Preset,
    user: UserEntry,
    server: str,
    ok: bool,
    result: Mapping[str, Any],
    controls: Mapping[str, Any] | None,
) -> int | None:
    """Raise unless the bind made a usable login; return the seconds its password has
    left when the bind's controls say (None: they do not)."""
    stated = ppolicy.policy_refusal(controls)
    if not ok:
        code = result.get("result")
        message = str(result.get("message") or "")
        reason = (
            preset.bind_refusal(code if isinstance(code, int) else -1, message)
            or stated
            or expiry.expired_refusal(controls, bound=False)
            or _result_reason(preset, result)
        )
        detail = result_text(result) + _state_note(preset, reason, user)
        raise LoginRejected(reason, detail, server, user.dn)
    stated = stated or expiry.expired_refusal(controls, bound=True)
    if stated is not None:  # bound, but e.g. must change the password first
        raise LoginRejected(stated, "password policy control", server, user.dn)
    return expiry.seconds_left(controls)


def _result_reason(preset: Preset, result: Mapping[str, Any]) -> Reason:
    code = result.get("result")
    if code == 49:
        return preset.bind_failure(str(result.get("message", "")))
    if code == 53:  # unwillingToPerform: e.g. slapd and an empty password
        return Reason.BAD_PASSWORD
    if code == 50:
        return Reason.PASSWORD_MUST_CHANGE
    raise TransportFailure(f"user bind: {result.get('description')}")


def _state_note(preset: Preset, reason: Reason, user: UserEntry) -> str:
    """AD says only 52e for a wrong password on a disabled or locked account; its flags
    tell the administrator reading the audit log that the right password would not
    help either. The reason stays bad_password: nothing about the account leaks out."""
    if reason is not Reason.BAD_PASSWORD:
        return ""
    state = preset.account_state.reason(user.attributes)
    return f"; the account is also {state}" if state else ""
