"""What the LDAP directory is built from: settings already resolved, and its preset.

The one object every part of ``bridge.directory.ldap`` takes (the sessions, the group
reader, the lockout reader, the probe), built by the composition root from the config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bridge.directory.ldap.discovery import DiscoverySettings
from bridge.directory.ldap.transport import TransportOptions
from bridge.directory.presets import GroupStrategy, Preset


@dataclass(frozen=True)
class LdapOptions:
    """What the LDAP directory needs from settings, already resolved."""

    urls: Sequence[str]
    transport: TransportOptions
    base_dn: str
    #: the search filter with a ``{login}`` placeholder, filled (escaped) per login
    user_filter: str
    bind_dn: str | None
    #: the secret file's bytes, sent as they are (a ``str`` would be SASLprepped)
    bind_password: bytes | None
    bind_template: str | None
    #: read with every user: username, display-name and login attributes
    attributes: Sequence[str]
    group_strategy: GroupStrategy
    #: the kind of directory: every difference between kinds is read from here
    preset: Preset
    page_size: int = 500
    max_concurrent: int = 16
    #: group allow/deny lists are configured (direct-bind mode reads groups at bind time)
    needs_groups: bool = True
    #: OpenLDAP: the ppolicy entry that applies when a user names none (ppolicy_default)
    password_policy_dn: str | None = None
    #: the [[usernames]] attributes: checked against the schema, searched for duplicates
    username_attributes: Sequence[str] = ()
    #: DCs from DNS (``[directory] domain``); ``urls`` are then the fallback
    discovery: DiscoverySettings | None = None
