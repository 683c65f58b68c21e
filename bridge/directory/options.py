"""What a directory is asked to do, resolved once from the settings.

The settings say little on purpose: a flavor, and the keys the administrator chose to
override. What follows from them (the user filter, the attributes a login reads, the
group strategy, the display-name attribute, whether ``DOMAIN\\name`` is accepted) is
worked out once, by the config loader (``bridge.config.options``), and lands here; the
composition root builds a backend from it and nothing else recomputes a default.

This module belongs to ``directory`` so that backends can take it without knowing the
settings model: ``directory`` never imports ``config``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bridge.core.routing import RouteRules
from bridge.core.usernames import Rule
from bridge.directory.presets import Flavor, GroupStrategy, Preset


@dataclass(frozen=True)
class LdapBackend:
    """How an LDAP directory finds a user, reads the entry and its groups."""

    flavor: Flavor
    preset: Preset
    #: the search filter with a ``{login}`` placeholder, escaped once where it is filled;
    #: only searched with a service account (a direct bind binds with the typed login)
    user_filter: str
    #: the attributes a typed login is compared with (the flavor's, or login_attributes)
    login_attributes: tuple[str, ...]
    group_strategy: GroupStrategy
    #: every attribute a login reads: usernames, display name, login attributes, mail
    attributes: tuple[str, ...]
    #: idle connections kept per server and kind
    pool_size: int
    #: an AD forest's global catalog, which finds the domain of a bare name
    global_catalog: str | None = None


@dataclass(frozen=True)
class FileBackend:
    """A users file (``bridge.directory.file``): it holds every attribute, so nothing
    has to be chosen beyond where it is."""

    users_file: Path


@dataclass(frozen=True)
class DirectoryOptions:
    """What every backend needs, whichever it is; ``backend`` holds the rest."""

    #: the directory's name (metrics, audit log, guard subjects) and its key in the file
    name: str
    key: str
    #: where logins are routed to it from (``bridge.core.routing``)
    routing: RouteRules
    #: the attribute whose values are accepted as logins too; None: mail is no login
    mail_attribute: str | None
    #: ``DOMAIN\\name`` is read as ``name`` (from domain_names only, when any are set)
    accept_domain_prefix: bool
    domain_names: tuple[str, ...]
    username_rules: tuple[Rule, ...]
    display_name_attribute: str
    #: its group lists (its own, or ``[groups]``'); either set: a login needs its groups
    group_allow: tuple[str, ...]
    group_deny: tuple[str, ...]
    backend: LdapBackend | FileBackend
    #: seconds: an accepted password expiring sooner than this is reported; 0: never
    password_expiry_warning: float = 0.0

    @property
    def needs_groups(self) -> bool:
        return bool(self.group_allow or self.group_deny)

    @property
    def username_attributes(self) -> tuple[str, ...]:
        """Each ``[[usernames]]`` attribute once: schema checks and duplicate searches."""
        return tuple(dict.fromkeys(rule.attribute for rule in self.username_rules))
