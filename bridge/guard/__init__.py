"""The lockout and guessing guard: budgets, remembered failures, client limits."""

from bridge.core.ports import Refusal
from bridge.guard.guard import Guard, GuardLimits
from bridge.guard.store import GuardStore, MemoryStore

__all__ = ["Guard", "GuardLimits", "GuardStore", "MemoryStore", "Refusal"]
