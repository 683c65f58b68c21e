"""Failure budgets and the stale-password guard, on a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bridge.errors import Reason
from bridge.throttle import Throttle

PASSWORD = "Winter2024!-correct horse"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(clock: FakeClock, **kwargs: Any) -> Throttle:
    options: dict[str, Any] = {"max_failures": 3, "window": 60.0, "stale_ttl": 3600.0}
    options.update(kwargs)
    return Throttle(clock=clock, **options)


def test_budget_then_throttled_until_the_window_passes(clock: FakeClock) -> None:
    throttle = make(clock)
    for attempt in range(3):
        assert throttle.check("alice", f"wrong-{attempt}") is None
        throttle.record_failure("alice", f"wrong-{attempt}")
        clock.advance(1)
    assert throttle.failures("alice") == 3
    assert throttle.check("alice", "another-guess") is Reason.THROTTLED
    assert throttle.check("alice", PASSWORD) is Reason.THROTTLED  # even the right one waits
    clock.advance(56.9)  # 59.9 s after the first failure
    assert throttle.check("alice", PASSWORD) is Reason.THROTTLED
    clock.advance(0.1)
    assert throttle.check("alice", PASSWORD) is None
    assert throttle.failures("alice") == 0


def test_budgets_are_per_login(clock: FakeClock) -> None:
    throttle = make(clock)
    for attempt in range(3):
        throttle.record_failure("alice", f"wrong-{attempt}")
    assert throttle.check("alice", PASSWORD) is Reason.THROTTLED
    assert throttle.check("bob", PASSWORD) is None
    assert throttle.check("bob", "wrong-0") is None  # alice's wrong password is not bob's


def test_failures_outside_the_window_do_not_add_up(clock: FakeClock) -> None:
    throttle = make(clock)
    throttle.record_failure("alice", "a")
    throttle.record_failure("alice", "b")
    clock.advance(61)
    throttle.record_failure("alice", "c")
    assert throttle.failures("alice") == 1
    assert throttle.check("alice", PASSWORD) is None


def test_success_resets_the_budget_and_the_remembered_passwords(clock: FakeClock) -> None:
    throttle = make(clock)
    throttle.record_failure("alice", "old-password")
    throttle.record_failure("alice", "typo")
    throttle.record_success("alice")
    assert throttle.failures("alice") == 0
    assert throttle.check("alice", "old-password") is None
    throttle.record_failure("alice", "x")
    throttle.record_failure("alice", "y")
    assert throttle.check("alice", PASSWORD) is None


def test_same_wrong_password_is_stale(clock: FakeClock) -> None:
    throttle = make(clock, max_failures=100)
    throttle.record_failure("alice", "old-password")
    assert throttle.check("alice", "old-password") is Reason.STALE_PASSWORD
    assert throttle.check("alice", "Old-password") is None  # never normalised
    assert throttle.check("alice", "old-password ") is None
    assert throttle.check("alice", PASSWORD) is None


def test_stale_guard_outlives_the_failure_window(clock: FakeClock) -> None:
    throttle = make(clock, stale_ttl=3600.0)
    throttle.record_failure("alice", "old-password")
    clock.advance(600)
    assert throttle.check("alice", "old-password") is Reason.STALE_PASSWORD
    clock.advance(3001)
    assert throttle.check("alice", "old-password") is None


def test_only_the_last_four_wrong_passwords_are_remembered(clock: FakeClock) -> None:
    throttle = make(clock, max_failures=100)
    for n in range(1, 6):
        throttle.record_failure("alice", f"guess-{n}")
    assert throttle.check("alice", "guess-1") is None
    for n in range(2, 6):
        assert throttle.check("alice", f"guess-{n}") is Reason.STALE_PASSWORD


def test_odd_passwords_are_remembered_too(clock: FakeClock) -> None:
    throttle = make(clock, max_failures=100)
    for password in ("pässwörd ☎", "\ud800lone-surrogate", " ", "\x00"):
        throttle.record_failure("alice", password)
        assert throttle.check("alice", password) is Reason.STALE_PASSWORD


def _walk(node: Any, seen: set[int]) -> Iterator[Any]:
    """Every object reachable from node through attributes, slots and containers."""
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


def test_no_password_is_kept_in_plaintext(clock: FakeClock) -> None:
    throttle = make(clock, max_failures=100)
    for n in range(3):
        throttle.record_failure("alice", f"{PASSWORD}-{n}")
    throttle.check("alice", PASSWORD)
    reached = list(_walk(throttle, set()))
    texts = [o for o in reached if isinstance(o, str)]
    blobs = [bytes(o) for o in reached if isinstance(o, bytes | bytearray)]
    assert "alice" in texts  # the walk does reach the stored state
    assert len([b for b in blobs if len(b) == 32]) >= 3  # ... and the remembered digests
    secret = PASSWORD.encode()
    assert not any(PASSWORD in t for t in texts)
    assert not any(secret in b for b in blobs)


def test_memory_is_bounded(clock: FakeClock) -> None:
    throttle = make(clock, max_failures=100, maxsize=50)
    for n in range(300):
        for attempt in range(6):
            throttle.record_failure(f"user{n}", f"guess-{attempt}")
    digests = [o for o in _walk(throttle, set()) if isinstance(o, bytes) and len(o) == 32]
    assert len(digests) <= 50 * 4 + 1  # + the HMAC key
    logins = {o for o in _walk(throttle, set()) if isinstance(o, str) and o.startswith("user")}
    assert len(logins) <= 50
    assert throttle.failures("user0") == 0  # the oldest were forgotten
    assert throttle.check("user0", "guess-5") is None
    assert throttle.failures("user299") == 6
    assert throttle.check("user299", "guess-5") is Reason.STALE_PASSWORD


@pytest.mark.parametrize(
    ("budget", "threshold", "problem"),
    [(5, 6, False), (6, 6, True), (9, 6, True), (50, 0, False), (5, None, False)],
)
def test_lockout_budget_problem(budget: int, threshold: int | None, problem: bool) -> None:
    """One rule for start-up and check-config: the budget must stay below the threshold."""
    from bridge.throttle import lockout_budget_problem

    text = lockout_budget_problem(budget, threshold)
    assert (text is not None) == problem
    if text:
        assert f"set protection.max_failures below {threshold}" in text
