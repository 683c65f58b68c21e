"""Which directory a typed login belongs to, when there are several.

Companies have more than one directory: a second AD domain from an acquisition, the
child domains of a forest, an OpenLDAP for contractors. Each has a name and routing
rules; the router reads the typed login and says where to look, before any directory
traffic:

* ``SUBSIDIARY\\jane``: the directory whose NetBIOS names (``domain_names``) include
  ``SUBSIDIARY``;
* ``jane@subsidiary.example``: the directory whose ``suffixes`` include
  ``subsidiary.example`` (a UPN or mail suffix);
* anything else (``jane``, or a prefix or suffix no directory claims): the *default*
  directories: those marked default, else the first. A default directory with a global
  catalog has its catalog asked first, which finds the user's domain in the forest
  (:meth:`Router.owner` maps the DN found to the directory that serves that domain).

Several places to look are allowed for bare names only, and the login core then
refuses a name found in more than one (``Reason.AMBIGUOUS_DIRECTORY``): a name is
routed, never guessed. One directory is the router with one entry: every login goes
to it, and its own login rules decide what they accept, as before.

Pure code: no I/O, no settings model; the composition root builds the rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bridge.core.dn import split_rdns


@dataclass(frozen=True)
class RouteRules:
    """One directory's routing rules, from its configuration."""

    name: str
    #: NetBIOS domain names: ``PREFIX\\name`` goes here
    prefixes: tuple[str, ...] = ()
    #: UPN / mail suffixes: ``name@suffix`` goes here
    suffixes: tuple[str, ...] = ()
    #: bare names (and unclaimed prefixes or suffixes) come here
    default: bool = False
    #: the DNS domain of its naming context (``DC=corp,DC=example``: corp.example):
    #: a DN a global catalog finds in that domain belongs to this directory
    domain: str | None = None
    #: bare names are first looked up in this directory's global catalog
    catalog: bool = False


@dataclass(frozen=True)
class Route:
    """Where to look for one login, and why (for the audit log and ``test-login``)."""

    #: directories to ask directly
    directories: tuple[str, ...]
    why: str
    #: directories whose global catalog locates the user (the owner is asked then)
    catalogs: tuple[str, ...] = ()

    @property
    def single(self) -> str | None:
        """The one directory when the route names exactly one and no catalog."""
        if len(self.directories) == 1 and not self.catalogs:
            return self.directories[0]
        return None


class Router:
    """Routes a typed login to the directory (or, for bare names, directories) to ask."""

    def __init__(self, rules: Sequence[RouteRules]) -> None:
        if not rules:
            raise ValueError("a router needs at least one directory")
        self.rules = tuple(rules)
        self.names = tuple(rule.name for rule in rules)
        self._prefixes = _claims(rules, "prefixes")
        self._suffixes = _claims(rules, "suffixes")
        #: only a global catalog's finds are mapped to a domain's directory
        located = any(rule.catalog for rule in rules)
        self._domains = _claims(rules, "domain") if located else {}
        _unique(self.names, "directory name")
        marked = [rule for rule in rules if rule.default]
        self.defaults = tuple(marked) if marked else (rules[0],)

    def route(self, typed: str) -> Route:
        """Where ``typed`` goes. The login itself is checked later, by the rules of the
        directory it goes to (an unclaimed prefix is refused there when that directory
        names its accepted domains)."""
        if len(self.rules) == 1 and not self.rules[0].catalog:
            return Route((self.names[0],), f"directory {self.names[0]} (the only one)")
        login = typed.strip()
        prefix, backslash, _ = login.partition("\\")
        if backslash:
            owner = self._prefixes.get(prefix.casefold())
            if owner is not None:
                return Route((owner,), f"directory {owner}: NetBIOS prefix {prefix}")
            return self._bare(f"prefix {prefix!r} is no directory's")
        _, at, suffix = login.rpartition("@")
        if at:
            owner = self._suffixes.get(suffix.casefold())
            if owner is not None:
                return Route((owner,), f"directory {owner}: suffix @{suffix}")
            return self._bare(f"suffix @{suffix} is no directory's")
        return self._bare("bare name")

    def _bare(self, why: str) -> Route:
        direct = tuple(rule.name for rule in self.defaults if not rule.catalog)
        catalogs = tuple(rule.name for rule in self.defaults if rule.catalog)
        asked = [*direct, *(f"{name}'s global catalog" for name in catalogs)]
        return Route(direct, f"{why}: {_listed(asked)}", catalogs)

    def owner(self, dn: str) -> str | None:
        """The directory serving the domain of ``dn`` (its DC= components), if any."""
        domain = domain_of(dn)
        return self._domains.get(domain) if domain else None


def domain_of(dn: str) -> str | None:
    """The DNS domain a DN lives in: its DC= components, joined with dots."""
    parts = []
    for rdn in split_rdns(dn):
        attribute, sep, value = rdn.partition("=")
        if sep and attribute.strip().casefold() == "dc":
            parts.append(value.strip().casefold())
    return ".".join(parts) or None


def _claims(rules: Iterable[RouteRules], field: str) -> dict[str, str]:
    """value (casefolded) -> the directory claiming it; a value claimed twice is an error
    (the config refuses it with the key first)."""
    claimed: dict[str, str] = {}
    for rule in rules:
        value = getattr(rule, field)
        for item in (value,) if isinstance(value, str) else value or ():
            key = item.casefold()
            if key in claimed and claimed[key] != rule.name:
                raise ValueError(f"{field}: {item!r} claimed by {claimed[key]} and {rule.name}")
            claimed[key] = rule.name
    return claimed


def _unique(names: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} {name!r} used twice")
        seen.add(name)


def _listed(names: Sequence[str]) -> str:
    if len(names) == 1:
        return f"default directory {names[0]}"
    return "default directories " + ", ".join(names)
