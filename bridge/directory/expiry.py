"""How long a user's password has left, and whether the bind said it has run out.

Directories say it in three ways, all read here (pure; the LDAP directory calls these
with what a bind returned):

* the Netscape password controls (draft-vchu-ldap-pwd-policy), sent by 389-ds and its
  relatives (Red Hat DS, FreeIPA, Oracle DSEE) without being asked:
  ``2.16.840.1.113730.3.4.4`` "password expired": on a failed bind the password has
  expired; on a bind that *succeeded* the password was reset by an administrator and
  the connection may do nothing but change it (389's ``passwordMustChange``);
  ``2.16.840.1.113730.3.4.5`` "password expiring": the bind succeeded, and its value
  is the seconds left, as ASCII digits;
* the ppolicy control's ``timeBeforeExpiration`` (``ppolicy.time_before_expiration``);
* nothing at bind time (Active Directory): the preset reads it from the entry instead
  (``ad.password_expiry``).

The seconds left travel with the bound entry; the login core decides whether they are
few enough to warn about (``[directory] password_expiry_warning``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.core.errors import Reason
from bridge.directory import ppolicy

EXPIRED_OID = "2.16.840.1.113730.3.4.4"
EXPIRING_OID = "2.16.840.1.113730.3.4.5"


def expired_refusal(controls: Mapping[str, Any] | None, bound: bool) -> Reason | None:
    """What the password-expired control means for this bind, or None when absent."""
    if EXPIRED_OID not in (controls or {}):
        return None
    return Reason.PASSWORD_MUST_CHANGE if bound else Reason.PASSWORD_EXPIRED


def seconds_left(controls: Mapping[str, Any] | None) -> int | None:
    """The seconds the bind's controls say the password has left; None when they do not
    say (or say it in a way that cannot be read)."""
    value = ((controls or {}).get(EXPIRING_OID) or {}).get("value")
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("ascii", "replace").strip()
        if text.isdigit():
            return int(text)
    return ppolicy.time_before_expiration(controls)
