"""``[[directories]]``: several directories, each with every key of ``[directory]``, a
name, and the rules that route a login to it. ``[directory]`` stays what it was: the
one directory (named ``default``), the router with one entry.

A complete example, a company with a subsidiary's domain::

    [[directories]]
    name = "corp"                      # letters, digits, - and _: metrics, audit, budgets
    default = true                     # bare names (jane) come here; else the first one
    domain_names = ["CORP"]            # CORP\\jane
    suffixes = ["corp.example"]        # jane@corp.example (UPN or mail suffix)
    urls = ["ldaps://dc1.corp.example"]
    bind_dn = "CN=svc-ringotel,OU=Service Accounts,DC=corp,DC=example"
    bind_password_file = "corp-bind-password"
    base_dn = "DC=corp,DC=example"

    [[directories]]
    name = "subsidiary"
    domain_names = ["SUBSIDIARY"]
    suffixes = ["subsidiary.example"]
    urls = ["ldaps://dc1.subsidiary.example"]
    ...
    [directories.groups]               # optional: replaces [groups]' lists for it
    allow = ["CN=Ringotel Users,OU=Groups,DC=subsidiary,DC=example"]
    [[directories.usernames]]          # optional: replaces [[usernames]] for it
    attribute = "employeeNumber"

A default directory of an AD forest may name its ``global_catalog``: bare names are
then looked up forest-wide there, and go to the directory serving the domain found
(the DC= parts of ``base_dn``). Several default directories are all asked for a bare
name; a name found in two is refused, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Discriminator, Field, Tag, model_validator

from bridge.config.directory import FileDirectorySettings, LdapDirectorySettings, LdapUrl
from bridge.config.groups import GroupLists
from bridge.config.response import UsernameRule
from bridge.config.section import Section, Variants, refuse
from bridge.core.routing import domain_of

#: What ``[directory]`` is called where a name is needed (metrics, audit, budgets).
SINGLE_DIRECTORY_NAME = "default"

#: Goes into metric labels, log lines and guard subjects: no separators, no spaces.
DirectoryName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")]


def _check_suffix(suffix: str) -> str:
    if suffix.startswith("@"):
        raise ValueError(f"write the domain without '@': {suffix[1:]!r}")
    if not suffix or any(c.isspace() or c in "@\\/" for c in suffix):
        raise ValueError(f"expected a domain such as subsidiary.example, got {suffix!r}")
    return suffix


Suffix = Annotated[str, AfterValidator(_check_suffix)]


class _Routed(Section):
    """The keys a directory has only as one of several."""

    name: DirectoryName
    default: bool = False
    suffixes: tuple[Suffix, ...] = ()
    usernames: tuple[UsernameRule, ...] | None = None
    groups: GroupLists | None = None


class NamedLdapDirectorySettings(LdapDirectorySettings, _Routed):
    """One ``[[directories]]`` entry of ``type = "ldap"``."""

    type: Literal["ldap"] = "ldap"
    global_catalog: LdapUrl | None = None

    @model_validator(mode="after")
    def _catalog_applies(self) -> NamedLdapDirectorySettings:
        refused = {}
        if self.usernames is not None and not self.usernames:
            refused["usernames"] = "empty: leave it out to use [[usernames]], or name one"
        if self.global_catalog is None:
            pass
        elif not self.preset.global_catalog:
            refused["global_catalog"] = 'only for flavor "active_directory" (an AD forest)'
        elif not self.bind_dn:
            refused["global_catalog"] = "only used with bind_dn (search, then bind)"
        elif _plain(self.global_catalog) and not (self.start_tls or self.allow_plaintext):
            refused["global_catalog"] = (
                "the service account would bind over plain ldap:// in clear text: use "
                "ldaps://HOST:3269, set start_tls = true, or set allow_plaintext = true"
            )
        refuse(self, refused)
        return self


class NamedFileDirectorySettings(FileDirectorySettings, _Routed):
    """One ``[[directories]]`` entry of ``type = "file"``."""

    type: Literal["file"] = "file"

    @model_validator(mode="after")
    def _lists_only(self) -> NamedFileDirectorySettings:
        """A users file lists each user's groups: there is no strategy to choose."""
        if self.groups is not None:
            set_here = [k for k in ("nested", "strategy") if k in self.groups.model_fields_set]
            refused: dict[tuple[int | str, ...], str] = {
                ("groups", key): 'only for directory type "ldap"' for key in set_here
            }
            refuse(self, refused)
        return self


def _plain(url: str) -> bool:
    return urlsplit(url).scheme.lower() == "ldap"


NAMED_DIRECTORY_TYPES = Variants(
    "type", "ldap", {"ldap": NamedLdapDirectorySettings, "file": NamedFileDirectorySettings}
)

NamedDirectorySettings = Annotated[
    Annotated[NamedLdapDirectorySettings, Tag("ldap")]
    | Annotated[NamedFileDirectorySettings, Tag("file")],
    Discriminator(NAMED_DIRECTORY_TYPES.tag),
]


@dataclass(frozen=True)
class DirectorySection:
    """One directory of the file (``[directory]`` or a ``[[directories]]`` entry) with
    what it takes from the top-level sections already chosen."""

    #: its key in the file, for problems: ``directory`` or ``directories[1]``
    key: str
    name: str
    settings: LdapDirectorySettings | FileDirectorySettings
    default: bool
    suffixes: tuple[str, ...]
    global_catalog: str | None
    usernames: tuple[UsernameRule, ...]
    groups: GroupLists


def sections(
    single: LdapDirectorySettings | FileDirectorySettings | None,
    several: Sequence[NamedLdapDirectorySettings | NamedFileDirectorySettings],
    usernames: tuple[UsernameRule, ...],
    groups: GroupLists,
) -> tuple[DirectorySection, ...]:
    """Every directory, in the file's order; ``[directory]`` is the only default."""
    if single is not None:
        return (
            DirectorySection(
                "directory", SINGLE_DIRECTORY_NAME, single, True, (), None, usernames, groups
            ),
        )
    marked = any(entry.default for entry in several)
    return tuple(
        DirectorySection(
            key=f"directories[{index}]",
            name=entry.name,
            settings=entry,
            default=entry.default or (not marked and index == 0),
            suffixes=entry.suffixes,
            global_catalog=getattr(entry, "global_catalog", None),
            usernames=usernames if entry.usernames is None else entry.usernames,
            groups=groups if entry.groups is None else entry.groups,
        )
        for index, entry in enumerate(several)
    )


def routing_refusals(
    entries: Sequence[NamedLdapDirectorySettings | NamedFileDirectorySettings],
) -> dict[tuple[int | str, ...], str]:
    """What makes the routing ambiguous, by the key of the entry that repeats it: a
    name, a NetBIOS name or a suffix claimed twice, a prefixed login no rule can route,
    a domain two directories would own for a global catalog."""
    refused: dict[tuple[int | str, ...], str] = {}
    _claimed_once(entries, lambda e: (e.name,), "name", refused)
    _claimed_once(entries, _prefixes, "domain_names", refused)
    _claimed_once(entries, lambda e: e.suffixes, "suffixes", refused)
    if len(entries) > 1:
        for index, entry in enumerate(entries):
            if entry.accepts_domain_prefix and not entry.domain_names:
                refused.setdefault((index, "domain_names"), _NAME_THE_DOMAINS)
    if any(getattr(entry, "global_catalog", None) for entry in entries):
        why = "two directories would serve one domain: a global catalog's find is ambiguous"
        _claimed_once(entries, _domain, "base_dn", refused, why)
        marked = any(entry.default for entry in entries)
        for index, entry in enumerate(entries):
            is_default = entry.default or (not marked and index == 0)
            if getattr(entry, "global_catalog", None) and not is_default:
                refused[(index, "global_catalog")] = (
                    "asked for bare names only, which go to the default directories: "
                    "set default = true here"
                )
    return refused


_NAME_THE_DOMAINS = (
    "with several directories, DOMAIN\\name logins are routed by domain_names: list this "
    'directory\'s NetBIOS names (e.g. ["CORP"]), or set accept_domain_prefix = false'
)


_Entry = NamedLdapDirectorySettings | NamedFileDirectorySettings


def _prefixes(entry: _Entry) -> tuple[str, ...]:
    return entry.domain_names if entry.accepts_domain_prefix else ()


def _domain(entry: _Entry) -> tuple[str, ...]:
    domain = domain_of(entry.base_dn) if isinstance(entry, LdapDirectorySettings) else None
    return (domain,) if domain else ()


def _claimed_once(
    entries: Sequence[_Entry],
    values: Callable[[_Entry], Iterable[str]],
    key: str,
    refused: dict[tuple[int | str, ...], str],
    why: str = "",
) -> None:
    owner: dict[str, int] = {}
    for index, entry in enumerate(entries):
        for value in values(entry):
            folded = value.casefold()
            if folded in owner and owner[folded] != index:
                said = f"{value!r} is also directories[{owner[folded]}]'s"
                refused[(index, key)] = f"{said}: {why}" if why else said
            owner.setdefault(folded, index)
