"""``[[usernames]]`` and ``[response]``: what Ringotel receives on success."""

from __future__ import annotations

from typing import Literal

from bridge.config.section import AttributeName, Section

Transform = Literal["lowercase", "uppercase", "strip", "strip_domain", "digits_only"]

#: Usernames of a file directory when ``[[usernames]]`` is absent. Only the administrator
#: writes that file, so nobody can forge a value in it; an LDAP directory has no default.
FILE_USERNAME_ATTRIBUTES = ("ipPhone", "otherIpPhone")

#: The display-name attribute of a file directory when ``[response]`` names none (each
#: flavor's preset has its own; all say displayName, which a users file fills itself).
FILE_DISPLAY_NAME_ATTRIBUTE = "displayName"

USERNAMES_REQUIRED = (
    "required for an LDAP directory (there is no default): add a [[usernames]] table "
    "with an attribute that users cannot write on their own entry, e.g. employeeNumber, "
    "extensionAttribute1, or ipPhone once the ACL is hardened (AD's default ACL lets every "
    "user write ipPhone, otherIpPhone, telephoneNumber and mobile on themselves)"
)


class UsernameRule(Section):
    """``[[usernames]]``: one directory attribute that yields Ringotel usernames."""

    #: also searched for (the duplicate check), so it must be a bare attribute name
    attribute: AttributeName
    transforms: tuple[Transform, ...] = ()
    multi_valued: bool = True


class ResponseSettings(Section):
    """``[response]``: what Ringotel receives on success."""

    #: default: the flavor's (displayName for every flavor and for a users file)
    display_name_attribute: str | None = None
    template: str = '{"values":[{"username":"$username$","display_name":"$displayname$"}]}'
