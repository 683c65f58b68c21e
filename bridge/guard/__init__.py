"""The lockout and guessing guard: budgets, remembered failures, client limits."""

from bridge.guard.guard import Guard, GuardLimits, Refusal
from bridge.guard.store import GuardStore, MemoryStore

__all__ = ["Guard", "GuardLimits", "GuardStore", "MemoryStore", "Refusal"]
