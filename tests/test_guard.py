"""The guard over the in-memory store, on a fake clock: budgets, sliding windows, the
directory's own policy, remembered failures, client limits per source, bounded memory,
and the key file."""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.core.errors import Reason
from bridge.core.ports import AccountLockout, LockoutPolicy
from bridge.directory.lockout_flavors import budget_problems
from bridge.guard import Guard, GuardLimits, MemoryStore, Refusal
from bridge.guard.guard import account_limits, directory_refusal
from bridge.guard.key import KeyFileError, load_or_create
from tests.harness.clock import FakeClock

PASSWORD = "Corr3ct horse!"
ALICE = "dn:cn=alice,dc=corp"


def reason_of(refusal: Refusal | None) -> Reason | None:
    return refusal.reason if refusal is not None else None


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(clock: FakeClock, maxsize: int = 1000, **limits: Any) -> Guard:
    options: dict[str, Any] = {"max_failures": 3, "failure_window": 60.0, "stale_ttl": 3600.0}
    options.update(limits)
    return Guard(MemoryStore(maxsize, clock=clock), b"k" * 32, GuardLimits(**options), clock)


async def fail(
    guard: Guard, login: str, password: str, policy: LockoutPolicy | None = None
) -> None:
    await guard.bad_password(login, "dn:" + login, password, policy)


# ------------------------------------------------------------------ typed-login budget


async def test_budget_is_spent_then_refuses_even_the_right_password(clock: FakeClock) -> None:
    guard = make(clock)
    for attempt in range(3):
        assert await guard.before_login("alice", f"wrong-{attempt}") is None
        await fail(guard, "alice", f"wrong-{attempt}")
    refusal = await guard.before_login("alice", PASSWORD)
    assert reason_of(refusal) is Reason.THROTTLED
    assert refusal.retry_after == pytest.approx(60.0)
    assert await guard.before_login("bob", PASSWORD) is None  # others are not affected


async def test_window_slides_from_the_last_failure(clock: FakeClock) -> None:
    """The old bug: a window timed from the first failure that restarted afresh let a
    guesser send max_failures every window while the directory still counted them."""
    guard = make(clock)
    await fail(guard, "alice", "a")
    clock.advance(50)
    await fail(guard, "alice", "b")
    clock.advance(50)  # 100 s after the first failure, 50 s after the last
    await fail(guard, "alice", "c")
    refusal = await guard.before_login("alice", PASSWORD)
    assert reason_of(refusal) is Reason.THROTTLED
    clock.advance(59)
    assert await guard.before_login("alice", PASSWORD) is not None
    clock.advance(1.5)
    assert await guard.before_login("alice", PASSWORD) is None


async def test_success_clears_budget_and_memory(clock: FakeClock) -> None:
    guard = make(clock)
    await fail(guard, "alice", "old-password")
    await fail(guard, "alice", "typo")
    await guard.good_password("alice", "dn:alice")
    assert await guard.before_login("alice", "old-password") is None
    assert not await guard.recent_failures("dn:alice")


# ------------------------------------------------------------------ remembered failures


async def test_same_wrong_password_is_stale_never_normalised(clock: FakeClock) -> None:
    guard = make(clock, max_failures=100)
    await fail(guard, "alice", "old-password")
    refusal = await guard.before_login("alice", "old-password")
    assert reason_of(refusal) is Reason.STALE_PASSWORD
    for other in ("Old-password", "old-password ", PASSWORD):
        assert await guard.before_login("alice", other) is None
    account = await guard.before_password("dn:alice", "old-password", None)
    assert reason_of(account) is Reason.STALE_PASSWORD


async def test_stale_memory_outlives_the_failure_window(clock: FakeClock) -> None:
    guard = make(clock, stale_ttl=3600.0)
    await fail(guard, "alice", "old-password")
    clock.advance(600)
    assert await guard.before_login("alice", "old-password") is not None
    clock.advance(3001)
    assert await guard.before_login("alice", "old-password") is None


async def test_only_the_last_four_wrong_passwords_are_remembered(clock: FakeClock) -> None:
    guard = make(clock, max_failures=100)
    for n in range(1, 6):
        await fail(guard, "alice", f"guess-{n}")
    assert await guard.before_login("alice", "guess-1") is None
    for n in range(2, 6):
        assert await guard.before_login("alice", f"guess-{n}") is not None


async def test_unknown_login_repeats_are_answered_from_memory(clock: FakeClock) -> None:
    guard = make(clock, max_failures=3)
    await guard.unknown_login("nobody", "guess")
    refusal = await guard.before_login("nobody", "guess")
    assert reason_of(refusal) is Reason.UNKNOWN_USER
    assert await guard.before_login("nobody", "another") is None
    await guard.unknown_login("nobody", "another")
    await guard.unknown_login("nobody", "third")
    spent = await guard.before_login("nobody", "fourth")
    assert reason_of(spent) is Reason.THROTTLED  # enumeration is bounded


def _walk(node: Any, seen: set[int]) -> Iterator[Any]:
    if id(node) in seen:
        return
    seen.add(id(node))
    yield node
    if isinstance(node, str | bytes | bytearray | int | float | bool | type(None)):
        return
    if isinstance(node, dict):
        children = [*node.keys(), *node.values()]
    elif isinstance(node, list | tuple | set | frozenset):
        children = list(node)
    else:
        children = list(getattr(node, "__dict__", {}).values())
        for cls in type(node).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if hasattr(node, slot):
                    children.append(getattr(node, slot))
    for child in children:
        if not callable(child) or hasattr(child, "__dict__"):
            yield from _walk(child, seen)


async def test_neither_passwords_nor_logins_are_kept_in_plaintext(clock: FakeClock) -> None:
    guard = make(clock, max_failures=100)
    for n in range(3):
        await fail(guard, "alice", f"{PASSWORD}-{n}")
    await guard.unknown_login("zed", PASSWORD)
    reached = list(_walk(guard.store, set()))
    texts = [o for o in reached if isinstance(o, str)]
    blobs = [bytes(o) for o in reached if isinstance(o, bytes | bytearray)]
    assert len([b for b in blobs if len(b) == 32]) >= 4  # the walk reaches the digests
    assert not any(PASSWORD in t or "alice" in t or "zed" in t for t in texts)
    assert not any(PASSWORD.encode() in b for b in blobs)


# ------------------------------------------------------------------ bounded memory


async def test_junk_logins_never_evict_a_spent_budget(clock: FakeClock) -> None:
    """The old bug: a bounded LRU let junk logins flush a victim whose budget was spent."""
    guard = make(clock, maxsize=50, max_failures=3)
    for attempt in range(3):
        await fail(guard, "victim", f"guess-{attempt}")
    for n in range(5000):
        await guard.unknown_login(f"junk-{n}", "x")
    refusal = await guard.before_login("victim", PASSWORD)
    assert reason_of(refusal) is Reason.THROTTLED
    store = guard.store
    assert isinstance(store, MemoryStore)
    assert len(store) <= 100


async def test_when_spent_budgets_fill_the_store_new_ones_are_not_tracked(
    clock: FakeClock,
) -> None:
    guard = make(clock, maxsize=10, max_failures=1)
    for n in range(30):
        await fail(guard, f"user{n}", "x")
    store = guard.store
    assert isinstance(store, MemoryStore)
    assert store.untracked > 0
    for n in range(5):  # the first ones stay spent: nothing was forgotten
        assert await guard.before_login(f"user{n}", PASSWORD) is not None


# ------------------------------------------------------------------ the directory's policy


@pytest.mark.parametrize(
    ("threshold", "window", "budget", "guard_window"),
    [
        (0, None, 5, 60.0),  # never locks: the configured budget
        (4, 1800.0, 3, 1800.0),  # a PSO of 4 beats max_failures 5; AD's window is longer
        (10, 30.0, 5, 60.0),
        (1, 1800.0, 1, 1800.0),
        (None, 1800.0, 1, 1800.0),  # a policy applies but is unreadable: the strictest
    ],
)
def test_account_budget_follows_the_directory(
    threshold: int | None, window: float | None, budget: int, guard_window: float
) -> None:
    limits = GuardLimits(max_failures=5, failure_window=60.0)
    policy = LockoutPolicy(threshold, window, "test")
    assert account_limits(limits, policy) == (budget, guard_window)


async def test_pso_of_four_caps_the_account_at_three(clock: FakeClock) -> None:
    guard = make(clock, max_failures=5)
    pso = LockoutPolicy(4, 1800.0, "PSO")
    for n in range(3):
        assert await guard.before_password(ALICE, f"guess-{n}", pso) is None
        await guard.bad_password(f"form{n}", ALICE, f"guess-{n}", pso)
    refusal = await guard.before_password(ALICE, "guess-9", pso)
    assert reason_of(refusal) is Reason.THROTTLED
    clock.advance(1799)  # the account's window is AD's, not failure_window's 60 s
    assert await guard.before_password(ALICE, "guess-9", pso) is not None
    clock.advance(2)
    assert await guard.before_password(ALICE, "guess-9", pso) is None


def state(failures: int, threshold: int | None, last: float | None, **kw: Any) -> AccountLockout:
    return AccountLockout(LockoutPolicy(threshold, 1800.0, "PSO"), failures, last, **kw)


@pytest.mark.parametrize(
    ("failures", "threshold", "ago", "refused"),
    [
        (0, 5, None, False),
        (3, 5, 10.0, False),
        (4, 5, 10.0, True),  # threshold - 1: no password goes to the directory
        (4, 5, 1801.0, False),  # ... until its observation window has passed
        (9, 0, 10.0, False),  # never locks
        (1, None, 10.0, True),  # unreadable threshold: one failure is enough to wait
        (1, 2, 10.0, True),
        (1, 1, 10.0, True),
    ],
)
def test_soft_lock(failures: int, threshold: int | None, ago: float | None, refused: bool) -> None:
    now = 1_800_000_000.0
    last = now - ago if ago is not None else None
    refusal = directory_refusal(state(failures, threshold, last, server="ldaps://pdc"), now)
    assert (refusal is not None) == refused
    if refusal is not None:
        assert refusal.reason is Reason.SOFT_LOCKED
        assert refusal.retry_after == pytest.approx(1800.0 - (ago or 0))
        assert "ldaps://pdc" in refusal.detail


def test_soft_lock_without_a_window_waits_for_the_directory() -> None:
    lockout = AccountLockout(LockoutPolicy(3, None, "ppolicy"), 2, 0.0)
    refusal = directory_refusal(lockout, 1e12)
    assert refusal is not None
    assert refusal.retry_after is None


def test_a_locked_account_gets_no_password() -> None:
    refusal = directory_refusal(state(0, 5, None, locked=True), 0.0)
    assert reason_of(refusal) is Reason.ACCOUNT_LOCKED
    assert not math.isinf(refusal.retry_after or 0)


@pytest.mark.parametrize(
    ("budget", "window", "policies", "problems"),
    [
        (4, 1800.0, [LockoutPolicy(5, 1800.0, "PSO")], 0),
        (5, 1800.0, [LockoutPolicy(5, 1800.0, "PSO")], 1),
        (4, 60.0, [LockoutPolicy(5, 1800.0, "PSO")], 1),
        (9, 60.0, [LockoutPolicy(0, 1800.0, "domain"), LockoutPolicy(5, 1800.0, "PSO")], 2),
        (50, 1.0, [LockoutPolicy(0, 1800.0, "domain")], 0),
        (5, 60.0, [], 0),
    ],
)
def test_budget_problems(
    budget: int, window: float, policies: list[LockoutPolicy], problems: int
) -> None:
    found = budget_problems(budget, window, policies)
    assert len(found) == problems
    if budget >= 5 and problems:
        assert any("set it below 5" in p for p in found)


# ------------------------------------------------------------------ client credentials


async def test_client_failures_are_counted_per_source(clock: FakeClock) -> None:
    guard = make(clock, client_max_failures=3, client_window=600.0)
    for _ in range(3):
        assert await guard.client_refusal("203.0.113.9") is None
        await guard.client_failed("203.0.113.9")
    refusal = await guard.client_refusal("203.0.113.9")
    assert refusal is not None
    assert refusal.retry_after == pytest.approx(600.0)
    assert await guard.client_refusal("198.51.100.7") is None  # Ringotel's own address
    clock.advance(601)
    assert await guard.client_refusal("203.0.113.9") is None


async def test_limits_change_in_place_on_reload(clock: FakeClock) -> None:
    guard = make(clock, max_failures=5)
    for n in range(3):
        await fail(guard, "alice", f"g{n}")
    assert await guard.before_login("alice", PASSWORD) is None
    guard.update(GuardLimits(max_failures=3, failure_window=60.0))
    assert await guard.before_login("alice", PASSWORD) is not None


# ------------------------------------------------------------------ the key file


def test_key_file_is_made_once_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "guard-key"
    key = load_or_create(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create(path) == key


@pytest.mark.parametrize("problem", ["group-readable", "symlink", "short", "directory"])
def test_key_file_problems_are_refused(tmp_path: Path, problem: str) -> None:
    path = tmp_path / "guard-key"
    if problem == "group-readable":
        path.write_bytes(os.urandom(32))
        path.chmod(0o640)
    elif problem == "symlink":
        target = tmp_path / "elsewhere"
        target.write_bytes(os.urandom(32))
        target.chmod(0o600)
        path.symlink_to(target)
    elif problem == "short":
        path.write_bytes(b"short")
        path.chmod(0o600)
    else:
        path.mkdir()
    with pytest.raises(KeyFileError):
        load_or_create(path)
