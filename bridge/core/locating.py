"""From a route to the one directory a login goes to, or a refusal.

Most routes name one directory, and the login goes there. A bare name may have several
places to look (several default directories, a global catalog): then every one is
asked, and the name must be found in exactly one of them. A name found in two is
refused (``Reason.AMBIGUOUS_DIRECTORY``, with the places in the audit log), never
guessed; so is a name found in a domain of the forest that no configured directory
serves, when it is found elsewhere too. A directory that does not answer makes the
answer unknowable: the login is Unavailable, not sent to the one that did answer.

A global catalog only tells where the user lives (the DC= parts of the DN it finds,
mapped by the router to a directory); the bind and the groups are always asked of
that directory, never of the catalog, which carries only universal groups.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from bridge.core.branch import Branch, login_key, refuse
from bridge.core.errors import DirectoryUnavailable, LoginRejected, Reason
from bridge.core.outcomes import Trace
from bridge.core.ports import Catalog, Guard, UserEntry
from bridge.core.routing import Route, Router
from bridge.core.typed_login import normalize_login


@dataclass(frozen=True)
class Candidate:
    """Found already, in exactly one of several directories asked: the directory, the
    typed login's guard subject there, and the entry (not bound yet)."""

    branch: Branch
    key: str
    user: UserEntry


@dataclass
class _Places:
    """Where a bare name may be: directories to ask, DNs the catalogs found in domains no
    directory serves, and the typed-login subjects charged when it is nowhere."""

    names: list[str]
    unserved: list[str]
    keys: list[str]


class Locator:
    """Narrows a route to one directory (a Branch to run the login in, or a Candidate
    already found there), or raises the rejection."""

    def __init__(
        self,
        router: Router,
        branches: Mapping[str, Branch],
        guard: Guard,
        catalogs: Mapping[str, Catalog],
    ) -> None:
        self.router = router
        self.branches = branches
        self.guard = guard
        self.catalogs = catalogs

    async def narrow(
        self, route: Route, typed: str, password: str, trace: Trace
    ) -> Branch | Candidate:
        if route.single is not None:
            return self.branches[route.single]
        places = await self._located(route, typed, password, trace)
        if len(places.names) == 1 and not places.unserved:
            return self.branches[places.names[0]]
        return await self._among(places, typed, password, trace)

    async def _located(self, route: Route, typed: str, password: str, trace: Trace) -> _Places:
        """Ask each catalog of the route where the name lives (after the typed login's
        budget in that directory allows it: this is directory traffic)."""
        places = _Places(list(route.directories), [], [])
        for name in route.catalogs:
            login = normalize_login(typed, self.branches[name].policy.rules)
            key = login_key(name, login)
            refuse(await self.guard.before_login(key, password), "the typed login")
            places.keys.append(key)
            trace.directory_used = True
            found = await self.catalogs[name].locate(login)
            if not found:
                trace.note(f"{name}'s global catalog: no entry")
            for dn in found:
                owner = self.router.owner(dn)
                where = f"directory {owner}" if owner else "a domain no directory serves"
                trace.note(f"{name}'s global catalog: {dn}: {where}")
                if owner is None:
                    places.unserved.append(dn)
                elif owner not in places.names:
                    places.names.append(owner)
        return places

    async def _among(self, places: _Places, typed: str, password: str, trace: Trace) -> Candidate:
        asked = self._asked(places, typed, trace)
        for branch, _, key in asked:
            refuse(await self.guard.before_login(key, password), f"the typed login ({branch.name})")
        if asked:
            trace.directory_used = True
        answers = await asyncio.gather(
            *(branch.directory.find(login) for branch, login, _ in asked), return_exceptions=True
        )
        _raise_first(answers)
        found = [
            Candidate(branch, key, user)
            for (branch, _, key), user in zip(asked, answers, strict=True)
            if isinstance(user, UserEntry)
        ]
        for candidate in found:
            trace.note(f"directory {candidate.branch.name}: found {candidate.user.dn}")
        where = [f"directory {c.branch.name}" for c in found]
        where += [f"{dn} (a domain no directory serves)" for dn in places.unserved]
        if len(where) > 1:
            raise LoginRejected(Reason.AMBIGUOUS_DIRECTORY, "found in " + ", ".join(where))
        if not found:
            for key in [*places.keys, *(key for _, _, key in asked)]:
                await self.guard.unknown_login(key, password)
            detail = f"{places.unserved[0]}: no directory serves its domain" if where else ""
            raise LoginRejected(Reason.UNKNOWN_USER, detail)
        return found[0]

    def _asked(self, places: _Places, typed: str, trace: Trace) -> list[tuple[Branch, str, str]]:
        """Each place's directory, with the login as its rules read it; a directory
        whose rules refuse the login is not asked (when none accepts it, the first
        refusal is the answer)."""
        asked = []
        refused: LoginRejected | None = None
        for name in places.names:
            branch = self.branches[name]
            try:
                login = normalize_login(typed, branch.policy.rules)
            except LoginRejected as exc:
                trace.note(f"directory {name}: not asked ({exc.detail})")
                refused = refused or exc
                continue
            asked.append((branch, login, login_key(name, login)))
        if not asked and not places.unserved and refused is not None:
            raise refused
        return asked


def _raise_first(answers: list[UserEntry | BaseException | None]) -> None:
    """A "no" from any directory (e.g. two entries match) is the answer; else one that
    did not answer makes the answer unknowable."""
    errors = [answer for answer in answers if isinstance(answer, BaseException)]
    for error in errors:
        if isinstance(error, LoginRejected):
            raise error
    for error in errors:
        if isinstance(error, DirectoryUnavailable):
            raise error
    if errors:
        raise errors[0]
