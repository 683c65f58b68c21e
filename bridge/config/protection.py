"""``[protection]``: keep AD accounts from locking, secrets from being guessed, and the
DCs from overload.

Two budgets, two pairs of keys that do not overlap: wrong *user* passwords
(``max_failures`` / ``failure_window``, per login and per account) and wrong *client*
credentials (``client_max_failures`` / ``client_failure_window``, per source address).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from bridge.config.durations import Duration, OptionalDuration
from bridge.config.section import Section


class ProtectionSettings(Section):
    """``[protection]``."""

    #: wrong passwords per login (and per account) before the bridge stops asking; each
    #: account is also held below its own directory lockout threshold
    max_failures: int = Field(5, ge=1, le=1000)
    #: sliding: a failure counts until this long after the *last* one; AD's default
    #: lockout observation window is 30 minutes
    failure_window: Duration = 1800.0
    stale_password_ttl: Duration = 900.0
    #: wrong client credentials (Basic, Bearer, token endpoint) per source address
    client_max_failures: int = Field(10, ge=1, le=10_000)
    client_failure_window: Duration = 900.0
    #: the guard's HMAC key; relative: under $STATE_DIRECTORY, else beside the config
    key_file: Path = Path("guard-key")
    max_concurrent_directory_ops: int = Field(16, ge=1, le=1024)
    user_cache_ttl: OptionalDuration = 60.0
    #: how long "this value is held by this entry alone" is believed; 0: search every time
    username_check_ttl: OptionalDuration = 300.0
    max_tracked_logins: int = Field(100_000, ge=100)
