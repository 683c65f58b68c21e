"""``[protection]``: keep AD accounts from locking, secrets from being guessed, and the
DCs from overload.

Two budgets, two pairs of keys that do not overlap: wrong *user* passwords
(``max_failures`` / ``failure_window``, per login and per account) and wrong *client*
credentials (``client_max_failures`` / ``client_failure_window``, per source address).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from bridge.config.durations import Duration, OptionalDuration
from bridge.config.section import Section, refuse

STORE_SCHEMES = ("redis", "rediss", "unix")


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
    #: where the guard keeps its state: "memory" (this process), or a Redis/Valkey
    #: shared by every instance: redis://HOST:PORT/DB, rediss://... or unix:///PATH
    store: str = "memory"
    store_password_file: Path | None = None
    #: the CA that signed the store's certificate (rediss:// only)
    store_ca_file: Path | None = None
    #: each store call's own limit, well inside server.request_deadline
    store_timeout: Duration = 0.25
    #: instances sharing the store: while it is unreachable each falls back to its own
    #: memory with 1/N of every budget, so together they never exceed it
    expected_instances: int = Field(2, ge=1, le=64)

    @field_validator("store")
    @classmethod
    def _store(cls, value: str) -> str:
        if value == "memory":
            return value
        parts = urlsplit(value)
        if parts.scheme not in STORE_SCHEMES or not (parts.hostname or parts.path):
            raise ValueError(
                'expected "memory", redis://HOST:PORT/DB, rediss://HOST:PORT/DB or '
                f"unix:///PATH, got {value!r}"
            )
        if parts.password:
            raise ValueError("no password in the URL: put it in store_password_file")
        return value

    @model_validator(mode="after")
    def _store_keys(self) -> ProtectionSettings:
        wrong = {}
        if self.store == "memory":
            for key in ("store_password_file", "store_ca_file"):
                if getattr(self, key) is not None:
                    wrong[key] = 'only with a shared store (store = "redis://...")'
        elif self.store_ca_file is not None and not self.store.startswith("rediss://"):
            wrong["store_ca_file"] = "only with a rediss:// store"
        refuse(self, wrong)
        return self
