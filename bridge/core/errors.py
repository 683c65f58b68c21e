"""The errors that cross layers; each module's own errors stop at its boundary.

A login has three outcomes and they stay distinct all the way up to HTTP::

    Accepted                     -> 200 with the usernames
    Rejected(reason)             -> 403, the same body for every reason
    DirectoryUnavailable         -> 503, never reported as a wrong password

The exceptions defined here are the ones the core and more than one adapter share::

    BridgeError
     +-- ConfigError              settings invalid; carries every problem with its dotted key
     +-- LoginRejected            the directory answered, and the answer is "no" (has a Reason)
     +-- DirectoryUnavailable     no directory server answered in time / transport failed
     |    +-- DirectoryMisconfigured  the server answered in a way only a config change fixes
     +-- InvalidRequest           the HTTP body is malformed (400 / 413 / 415)

Every other exception class belongs to one module and is translated where that
module meets the rest (``raise ... from``), so nothing above it sees it:

=====================================  ==============================================
raised in                              translated to, by
=====================================  ==============================================
``directory.ldap`` (ldap3 errors,      DirectoryUnavailable / DirectoryMisconfigured /
``TransportFailure``, ``LinkFailure``,  LoginRejected, in ``ldap/sessions.py`` and
``WireError``)                         ``ldap/directory.py``
``directory.ad_schema.SchemaUnreadable``  a verdict "not checked", ``ldap/directory.py``
``config.secret_files.SecretFileRefused``  ConfigError naming the key, ``config``
``guard.key.KeyFileError``             ConfigError (``protection.key_file``), wiring
``client_auth.keys.KeyMaterialError``  ConfigError (``client_auth.signing_key_file``)
``client_auth.tokens.InvalidToken``    ClientAuthFailed, ``client_auth.modes``
``client_auth.credentials.MalformedBasic``  ClientAuthFailed / OAuthError
``client_auth.modes.ClientAuthFailed``  401 + WWW-Authenticate, ``web.app``
``client_auth.token_endpoint.OAuthError``  an RFC 6749 §5.2 answer, ``web.oauth_handler``
``web.reading.UnreadableBody``         InvalidRequest or OAuthError, ``web``
``core.template.TemplateError``        ConfigError (``response.template``), wiring
``commands.prompt.NoPassword``,        a message and an exit status, ``commands``
``commands.descriptor.DescriptorError``
=====================================  ==============================================
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


class Reason(enum.StrEnum):
    """Why a login was refused. Goes to the audit log and metrics, never to the client."""

    EMPTY_PASSWORD = "empty_password"
    INVALID_LOGIN = "invalid_login"
    UNKNOWN_USER = "unknown_user"
    AMBIGUOUS_USER = "ambiguous_user"
    #: a bare name found in two directories (or two domains of a forest): never guessed
    AMBIGUOUS_DIRECTORY = "ambiguous_directory"
    BAD_PASSWORD = "bad_password"
    ACCOUNT_DISABLED = "account_disabled"
    ACCOUNT_LOCKED = "account_locked"
    ACCOUNT_EXPIRED = "account_expired"
    PASSWORD_EXPIRED = "password_expired"
    PASSWORD_MUST_CHANGE = "password_must_change"
    LOGON_HOURS = "logon_hours"
    WORKSTATION = "workstation_restricted"
    NOT_IN_ALLOWED_GROUP = "not_in_allowed_group"
    IN_DENIED_GROUP = "in_denied_group"
    NO_USERNAMES = "no_usernames"
    THROTTLED = "throttled"
    STALE_PASSWORD = "stale_password"
    #: the directory counts threshold - 1 bad passwords: none is sent until its window ends
    SOFT_LOCKED = "soft_locked"


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration, named by its dotted key."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


class ConfigError(BridgeError):
    """The configuration is invalid; lists every problem found, not just the first."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class LoginRejected(BridgeError):
    """The directory answered and the answer is no."""

    def __init__(
        self,
        reason: Reason,
        detail: str = "",
        server: str | None = None,
        dn: str | None = None,
        guarded: bool = False,
    ) -> None:
        self.reason = reason
        self.detail = detail
        self.server = server  # which directory server said no, for the audit log
        self.dn = dn
        #: refused by the lockout guard, without the password going to the directory
        self.guarded = guarded
        super().__init__(f"{reason}: {detail}" if detail else str(reason))


class DirectoryUnavailable(BridgeError):
    """No directory server gave an answer: the bridge cannot tell yes from no."""

    def __init__(self, detail: str, server: str | None = None) -> None:
        self.detail = detail
        self.server = server
        super().__init__(f"{server}: {detail}" if server else detail)


class DirectoryMisconfigured(DirectoryUnavailable):
    """The server answered in a way that only a configuration change can fix.

    Examples: strongerAuthRequired on a plain bind, referrals for the base DN, a wrong
    service-account password. Still a 503 for the client (we cannot tell yes from no),
    but logged at error level with what to change.
    """


class InvalidRequest(BridgeError):
    """A request body the bridge refuses to read; maps to 400, 413 or 415."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        self.status = status
        self.error = error
        self.detail = detail
        super().__init__(f"{error}: {detail}")
