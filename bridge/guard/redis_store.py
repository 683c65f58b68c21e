"""The guard's state in Redis or Valkey, shared by every instance that names it.

Every update is one Lua script, so it is atomic and no key is ever left without a TTL
(an INCR that succeeded followed by an EXPIRE that did not would keep a failure
forever). Counters re-arm their TTL on every failure: the guard's windows slide, as
AD's observation window does. Keys are namespaced (``ringotel-bridge:guard:`` by
default) and are HMACs of the subject, never a login name (the guard makes them).

Fingerprint lists are read back whole (at most a handful) and compared here in
constant time, rather than searched by Redis.

Run Redis with ``maxmemory-policy noeviction`` (or ``volatile-ttl``): a spent budget
must not be evicted to make room; with ``noeviction`` a full Redis refuses writes,
and the guard falls back to its local memory (see ``shared_store.py``).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from bridge.guard.store import Count

NAMESPACE = "ringotel-bridge:guard:"

# KEYS[1] counter; ARGV[1] ttl in ms. Returns {value, remaining ttl in ms}.
_HIT = """
local value = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return {value, tonumber(ARGV[1])}
"""
# KEYS[1] counter. Returns {value, remaining ttl in ms} or {0, -2} when absent.
_COUNT = """
local value = redis.call('GET', KEYS[1])
if not value then return {0, -2} end
return {tonumber(value), redis.call('PTTL', KEYS[1])}
"""
# KEYS[1] list; ARGV[1] marker, ARGV[2] ttl in ms, ARGV[3] how many to keep.
_MARK = """
redis.call('LREM', KEYS[1], 0, ARGV[1])
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[3]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisStore:
    """A GuardStore on a redis-py asyncio client (Redis 6.2+, Valkey)."""

    #: how many guards split a budget when this store is the one in use
    share = 1

    def __init__(
        self,
        client: Redis,
        namespace: str = NAMESPACE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.clock = clock
        self._hit = client.register_script(_HIT)
        self._count = client.register_script(_COUNT)
        self._mark = client.register_script(_MARK)

    def _key(self, key: str) -> str:
        return self.namespace + key

    async def ping(self) -> None:
        await self.client.ping()

    async def count(self, key: str) -> Count | None:
        value, ttl = await self._count(keys=[self._key(key)])
        if int(value) == 0 or int(ttl) < 0:
            return None
        return Count(int(value), self.clock() + int(ttl) / 1000)

    async def hit(self, key: str, ttl: float, limit: int) -> Count | None:
        value, ttl_ms = await self._hit(keys=[self._key(key)], args=[_ms(ttl)])
        return Count(int(value), self.clock() + int(ttl_ms) / 1000)

    async def clear(self, *keys: str) -> None:
        if keys:
            await self.client.delete(*(self._key(k) for k in keys))

    async def mark(self, key: str, marker: bytes, ttl: float, keep: int) -> None:
        await self._mark(keys=[self._key(key)], args=[marker, _ms(ttl), keep])

    async def marked(self, key: str, marker: bytes) -> bool:
        seen: list[Any] = await self.client.lrange(self._key(key), 0, -1)
        found = False
        for value in seen:
            found |= hmac.compare_digest(bytes(value), marker)
        return found

    async def get(self, key: str) -> str | None:
        value = await self.client.get(self._key(key))
        if value is None:
            return None
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)

    async def put(self, key: str, value: str, ttl: float) -> None:
        await self.client.set(self._key(key), value, px=_ms(ttl))

    async def close(self) -> None:
        await self.client.aclose()


def connect(
    url: str, password: bytes | None = None, ca_file: str | None = None, timeout: float = 0.25
) -> Redis:
    """A client for ``redis://``, ``rediss://`` (checked against ``ca_file``) or
    ``unix://`` URLs. Connecting is lazy: nothing is sent until the first call, so a
    store that is down at start-up costs a fallback, not a failed start."""
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 30,
        "retry_on_timeout": False,
    }
    if password is not None:
        options["password"] = password.decode("utf-8")
    if url.startswith("rediss://"):
        options["ssl_ca_certs"] = ca_file
        options["ssl_cert_reqs"] = "required"
    client: Redis = Redis.from_url(url, **options)
    return client
