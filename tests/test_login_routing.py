"""The login core with several directories (fakes): routing, the ambiguity refusal, a
global catalog that finds the user's domain, and budgets kept per directory."""

from __future__ import annotations

import pytest

from bridge.core.branch import Branch, LoginPolicy
from bridge.core.errors import DirectoryUnavailable, Reason
from bridge.core.groups import GroupCache, GroupPolicy
from bridge.core.login import LoginService
from bridge.core.outcomes import Accepted, Rejected, Trace, Unavailable
from bridge.core.ports import Catalog, Directory
from bridge.core.routing import Router, RouteRules
from bridge.core.typed_login import LoginRules
from bridge.core.usernames import Rule
from bridge.guard import Guard, GuardLimits, MemoryStore
from tests.harness.clock import FakeClock
from tests.harness.fakes import FakeDirectory

#: One DN string in two directories: still two accounts.
JANE_DN = "CN=Jane Doe,OU=Staff,DC=corp,DC=example"
EMEA_JANE = "CN=Jane Doe,OU=Staff,DC=emea,DC=corp,DC=example"
CORP_PASSWORD = "corp-Passw0rd"
SUB_PASSWORD = "sub-Passw0rd"
WINDOW = 900.0


class FakeCatalog:
    """A global catalog: the DNs it holds for each login, nothing else."""

    def __init__(self, found: dict[str, tuple[str, ...]]) -> None:
        self.found = found
        self.asked: list[str] = []
        self.down = False

    async def locate(self, login: str) -> tuple[str, ...]:
        self.asked.append(login)
        if self.down:
            raise DirectoryUnavailable("no catalog server answered")
        return self.found.get(login.casefold(), ())


_catalog: Catalog = FakeCatalog({})


def fake(login: str, dn: str, password: str, phone: str) -> FakeDirectory:
    directory = FakeDirectory()
    directory.add(login, dn, password, {"ipPhone": (phone,), "displayName": ("Jane Doe",)})
    return directory


def branch(name: str, directory: FakeDirectory, *prefixes: str) -> Branch:
    as_directory: Directory = directory
    policy = LoginPolicy(
        rules=LoginRules(accept_domain_prefix=True, domain_names=prefixes),
        group_policy=GroupPolicy.from_dns((), ()),
        username_rules=(Rule("ipPhone"),),
        display_name_attribute="displayName",
    )
    return Branch(name, as_directory, policy)


def service(
    directories: dict[str, FakeDirectory],
    rules: list[RouteRules],
    clock: FakeClock | None = None,
    catalogs: dict[str, Catalog] | None = None,
) -> LoginService:
    limits = GuardLimits(max_failures=2, failure_window=WINDOW, stale_ttl=60.0)
    clock = clock or FakeClock()
    guard = Guard(MemoryStore(clock=clock), b"k" * 32, limits, clock=clock)
    branches = [branch(rule.name, directories[rule.name], *rule.prefixes) for rule in rules]
    cache = GroupCache(300.0, 100, clock=clock)
    return LoginService(branches, guard, cache, Router(rules), catalogs)


@pytest.fixture
def corp() -> FakeDirectory:
    return fake("jane", JANE_DN, CORP_PASSWORD, "101")


@pytest.fixture
def sub() -> FakeDirectory:
    return fake("jane", JANE_DN, SUB_PASSWORD, "7101")


CORP = RouteRules("corp", prefixes=("CORP",), suffixes=("corp.example",))
SUB = RouteRules("sub", prefixes=("SUB",), suffixes=("sub.example",))


# -- routing ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "password", "phone", "directory"),
    [
        ("SUB\\jane", SUB_PASSWORD, "7101", "sub"),
        ("CORP\\jane", CORP_PASSWORD, "101", "corp"),
        ("jane@sub.example", SUB_PASSWORD, "7101", "sub"),
        ("jane", CORP_PASSWORD, "101", "corp"),  # bare: the first directory
    ],
)
async def test_each_login_reaches_its_own_directory(
    corp: FakeDirectory, sub: FakeDirectory, typed: str, password: str, phone: str, directory: str
) -> None:
    corp.add("jane@sub.example", JANE_DN, CORP_PASSWORD)  # never asked: the suffix routes
    sub.add("jane@sub.example", JANE_DN, SUB_PASSWORD, {"ipPhone": ("7101",)})  # her UPN
    trace = Trace()
    outcome = await service({"corp": corp, "sub": sub}, [CORP, SUB]).login(typed, password, trace)
    assert isinstance(outcome, Accepted)
    assert outcome.usernames == (phone,)
    assert trace.directory == directory
    asked, other = (sub, corp) if directory == "sub" else (corp, sub)
    assert len(asked.bind_calls) == 1
    assert other.calls == 0


async def test_the_other_directorys_password_is_a_wrong_password(
    corp: FakeDirectory, sub: FakeDirectory
) -> None:
    outcome = await service({"corp": corp, "sub": sub}, [CORP, SUB]).login(
        "SUB\\jane", CORP_PASSWORD
    )
    assert isinstance(outcome, Rejected)
    assert outcome.reason == Reason.BAD_PASSWORD
    assert corp.calls == 0


async def test_an_unclaimed_prefix_is_refused_by_the_default_directory(
    corp: FakeDirectory, sub: FakeDirectory
) -> None:
    outcome = await service({"corp": corp, "sub": sub}, [CORP, SUB]).login(
        "OTHER\\jane", CORP_PASSWORD
    )
    assert isinstance(outcome, Rejected)
    assert (outcome.reason, outcome.detail) == (Reason.INVALID_LOGIN, "domain not accepted")
    assert corp.calls == sub.calls == 0


# -- several default directories: found in one, or refused -----------------------------
DEFAULTS = [
    RouteRules("corp", prefixes=("CORP",), default=True),
    RouteRules("sub", prefixes=("SUB",), default=True),
]


async def test_a_bare_name_found_in_two_directories_is_refused(
    corp: FakeDirectory, sub: FakeDirectory
) -> None:
    trace = Trace()
    outcome = await service({"corp": corp, "sub": sub}, DEFAULTS).login(
        "jane", CORP_PASSWORD, trace
    )
    assert isinstance(outcome, Rejected)
    assert outcome.reason == Reason.AMBIGUOUS_DIRECTORY
    assert outcome.detail == "found in directory corp, directory sub"
    assert corp.bind_calls == sub.bind_calls == []  # no password went anywhere
    assert trace.directory is None


async def test_a_bare_name_found_in_one_of_two_goes_there(
    corp: FakeDirectory, sub: FakeDirectory
) -> None:
    sub.add("sven", "CN=Sven,DC=sub,DC=example", "sven-pw", {"ipPhone": ("7301",)})
    trace = Trace()
    outcome = await service({"corp": corp, "sub": sub}, DEFAULTS).login("sven", "sven-pw", trace)
    assert isinstance(outcome, Accepted)
    assert (outcome.usernames, trace.directory) == (("7301",), "sub")
    assert corp.find_calls == ["sven"]
    assert corp.bind_calls == []
    # and a name in neither: unknown, after asking both
    missing = await service({"corp": corp, "sub": sub}, DEFAULTS).login("nobody", "x-pw")
    assert isinstance(missing, Rejected)
    assert missing.reason == Reason.UNKNOWN_USER


async def test_a_silent_directory_makes_a_bare_name_unavailable(
    corp: FakeDirectory, sub: FakeDirectory
) -> None:
    """jane is in corp, but sub might hold a jane too: the answer cannot be known."""
    sub.entries.clear()
    sub.down = DirectoryUnavailable("no server answered", "ldaps://dc1.sub")
    outcome = await service({"corp": corp, "sub": sub}, DEFAULTS).login("jane", CORP_PASSWORD)
    assert isinstance(outcome, Unavailable)
    assert corp.bind_calls == []
    # a prefixed login does not need sub
    routed = await service({"corp": corp, "sub": sub}, DEFAULTS).login("CORP\\jane", CORP_PASSWORD)
    assert isinstance(routed, Accepted)


# -- budgets: one per directory ----------------------------------------------------------
async def test_budgets_are_kept_per_directory_even_for_one_dn_string(
    corp: FakeDirectory, sub: FakeDirectory
) -> None:
    clock = FakeClock()
    login = service({"corp": corp, "sub": sub}, [CORP, SUB], clock)
    for attempt in range(2):
        wrong = await login.login("SUB\\jane", f"guess-{attempt}")
        assert isinstance(wrong, Rejected)
        assert wrong.reason == Reason.BAD_PASSWORD
    spent = await login.login("SUB\\jane", SUB_PASSWORD)
    assert isinstance(spent, Rejected)
    assert spent.guarded  # the budget of sub's jane is spent ...
    assert len(sub.bind_calls) == 2
    accepted = await login.login("CORP\\jane", CORP_PASSWORD)
    assert isinstance(accepted, Accepted)  # ... corp's jane (same DN string) is untouched
    assert isinstance(await login.login("jane", CORP_PASSWORD), Accepted)  # bare: corp too
    clock.advance(WINDOW + 1)
    assert isinstance(await login.login("SUB\\jane", SUB_PASSWORD), Accepted)


async def test_a_remembered_wrong_password_is_remembered_per_directory(
    corp: FakeDirectory, sub: FakeDirectory
) -> None:
    login = service({"corp": corp, "sub": sub}, [CORP, SUB])
    await login.login("SUB\\jane", "old-saved-password")
    again = await login.login("SUB\\jane", "old-saved-password")
    assert isinstance(again, Rejected)
    assert again.reason == Reason.STALE_PASSWORD
    first_in_corp = await login.login("CORP\\jane", "old-saved-password")
    assert isinstance(first_in_corp, Rejected)
    assert first_in_corp.reason == Reason.BAD_PASSWORD  # corp was asked: its own memory
    assert len(corp.bind_calls) == 1


# -- a global catalog ---------------------------------------------------------------------
FOREST = [
    RouteRules("corp", prefixes=("CORP",), default=True, domain="corp.example", catalog=True),
    RouteRules("emea", prefixes=("EMEA",), domain="emea.corp.example"),
]


@pytest.fixture
def emea() -> FakeDirectory:
    return fake("jane", EMEA_JANE, SUB_PASSWORD, "4101")


async def test_the_catalog_finds_the_domain_and_the_domain_does_the_rest(
    corp: FakeDirectory, emea: FakeDirectory
) -> None:
    corp.entries.clear()
    catalog = FakeCatalog({"jane": (EMEA_JANE,)})
    login = service({"corp": corp, "emea": emea}, FOREST, catalogs={"corp": catalog})
    trace = Trace()
    outcome = await login.login("jane", SUB_PASSWORD, trace)
    assert isinstance(outcome, Accepted)
    assert (outcome.dn, outcome.usernames, trace.directory) == (EMEA_JANE, ("4101",), "emea")
    assert catalog.asked == ["jane"]
    assert emea.find_calls == ["jane"]  # the entry is read in its domain, not the catalog
    assert corp.calls == 0
    assert f"corp's global catalog: {EMEA_JANE}: directory emea" in trace.steps


async def test_catalog_finds_in_two_domains_or_an_unserved_one(
    corp: FakeDirectory, emea: FakeDirectory
) -> None:
    apac = "CN=Jane Doe,DC=apac,DC=corp,DC=example"
    two = FakeCatalog({"jane": (JANE_DN, EMEA_JANE)})
    login = service({"corp": corp, "emea": emea}, FOREST, catalogs={"corp": two})
    ambiguous = await login.login("jane", CORP_PASSWORD)
    assert isinstance(ambiguous, Rejected)
    assert ambiguous.reason == Reason.AMBIGUOUS_DIRECTORY
    assert corp.bind_calls == emea.bind_calls == []

    unserved = FakeCatalog({"jane": (apac,)})
    login = service({"corp": corp, "emea": emea}, FOREST, catalogs={"corp": unserved})
    outcome = await login.login("jane", CORP_PASSWORD)
    assert isinstance(outcome, Rejected)
    assert outcome.reason == Reason.UNKNOWN_USER
    assert outcome.detail == f"{apac}: no directory serves its domain"


async def test_a_name_the_catalog_does_not_know_is_unknown_without_guessing(
    corp: FakeDirectory, emea: FakeDirectory
) -> None:
    catalog = FakeCatalog({})
    login = service({"corp": corp, "emea": emea}, FOREST, catalogs={"corp": catalog})
    outcome = await login.login("jane", CORP_PASSWORD)
    assert isinstance(outcome, Rejected)
    assert outcome.reason == Reason.UNKNOWN_USER
    assert corp.calls == emea.calls == 0
    routed = await login.login("EMEA\\jane", SUB_PASSWORD)  # a prefix needs no catalog
    assert isinstance(routed, Accepted)
    catalog.down = True
    assert isinstance(await login.login("jane", "another-password"), Unavailable)
