"""Reading lockout policies and counters from LDAP, for the guard's soft lock.

The policy of an account (its PSO or the domain's; its ppolicy entry or the default
one; 389-ds's local policy or cn=config) is read with the service account and cached.
Counters are read where they are most complete: AD keeps ``badPwdCount`` per DC and
does not replicate it, but every DC forwards a failed password to the PDC emulator, so
that is where they are read (as AD FS does) whenever the PDC is reachable; otherwise
on whichever configured DC answers, which may have seen fewer failures (the guard's
own budget still holds).

Caches are touched from the event loop only; the reads run in the directory's pool,
through the few service-account reads of :class:`Reads` (``sessions.Sessions``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import urlsplit

import structlog

from bridge.core.attributes import Attributes, values
from bridge.core.dn import normalize_dn, split_rdns
from bridge.core.errors import DirectoryUnavailable
from bridge.core.ports import AccountLockout, LockoutPolicy, UserEntry
from bridge.directory.ldap.transport import ServerState
from bridge.directory.lockout_flavors import LockoutFlavor

_log = structlog.get_logger("bridge.directory")

CounterSource = Literal["none", "entry", "read"]
#: How long a policy or the PDC's identity is trusted before it is read again.
CACHE_TTL = 600.0


class Reads(Protocol):
    """The service-account reads the lockout reader needs, and the servers to read on."""

    async def read(
        self, dn: str, attributes: Sequence[str], server: ServerState | None = None
    ) -> UserEntry | None: ...

    async def search(
        self, base: str, search_filter: str, attributes: Sequence[str]
    ) -> list[UserEntry]: ...

    @property
    def configured(self) -> Sequence[ServerState]: ...

    def outside(self, url: str) -> ServerState: ...


@dataclass
class _Cached:
    value: object
    expires: float


class LdapLockout:
    """Lockout policies and counters of one LDAP directory."""

    def __init__(
        self,
        reads: Reads,
        flavor: LockoutFlavor,
        base_dn: str,
        default_policy_dn: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._reads = reads
        self._flavor = flavor
        self._base_dn = base_dn
        self._default_policy_dn = default_policy_dn
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._warned: set[str] = set()

    # -- the account --------------------------------------------------------------
    async def state(self, user: UserEntry, counters: CounterSource) -> AccountLockout | None:
        """The account's policy, with its counters as ``counters`` asks:

        ``none``: policy only (a cached entry whose counters are stale);
        ``entry``: the counters the entry was just searched with, unless the PDC is
        another server, then read there; ``read``: read them now.
        """
        policy = await self.policy(self._flavor.policy_dn(user.attributes))
        if policy is None:
            return None
        if counters == "none" or policy.threshold == 0:
            return AccountLockout(policy)
        pdc = await self.pdc()
        if counters == "entry" and (pdc is None or pdc.name == user.server):
            return self._account(policy, user.attributes, user.server)
        attributes, server = await self._read_counters(user.dn, pdc)
        return self._account(policy, attributes, server)

    def _account(
        self, policy: LockoutPolicy, attributes: Attributes, server: str | None
    ) -> AccountLockout:
        counters = self._flavor.counters(attributes, policy, self._clock())
        return AccountLockout(
            policy, counters.failures, counters.last_failure, counters.locked, server
        )

    async def _read_counters(
        self, dn: str, pdc: ServerState | None
    ) -> tuple[dict[str, tuple[str, ...]], str | None]:
        attributes = self._flavor.entry_attributes
        if pdc is not None:
            try:
                found = await self._reads.read(dn, attributes, server=pdc)
            except DirectoryUnavailable as exc:
                self._warn_once("pdc_unreachable", pdc=pdc.name, detail=exc.detail)
            else:
                if found is not None:
                    return dict(found.attributes), pdc.name
        found = await self._reads.read(dn, attributes)
        return (dict(found.attributes), found.server) if found else ({}, None)

    # -- policies -----------------------------------------------------------------
    async def policy(self, dn: str | None) -> LockoutPolicy | None:
        """The policy at ``dn`` (None: the default one), cached; None when the
        directory has no default policy the bridge knows of."""
        key = "policy:" + normalize_dn(dn or "")
        cached = self._cached(key)
        if cached is not None:
            return cached.value if isinstance(cached.value, LockoutPolicy) else None
        policy = await self._read_policy(dn)
        self._cache[key] = _Cached(policy, self._clock() + CACHE_TTL)
        return policy

    async def _read_policy(self, dn: str | None) -> LockoutPolicy | None:
        if dn is None:
            default = await self._default_dn()
            if default is None:
                return None
            found = await self._reads.read(default, self._flavor.policy_attributes)
            source = f"the default policy {default}"
            # It applies to everyone: hidden (389's cn=config without the README's ACI)
            # or unreadable means "unknown", never "no rule".
            if found is None:
                default_policy = LockoutPolicy(None, None, f"{source} (not visible)")
            else:
                default_policy = self._flavor.policy(source, found.attributes)
            if default_policy.threshold is None:
                self._warn_once("lockout_policy_unreadable", policy=default)
            return default_policy
        found = await self._reads.read(dn, self._flavor.policy_attributes)
        policy = self._flavor.policy(f"the policy {dn}", found.attributes) if found else None
        if policy is not None and policy.threshold is not None:
            return policy
        # A policy applies, but the service account may not read it (AD's default ACL
        # on PSOs): assume the strictest rule the guard can honour, and say so.
        self._warn_once("lockout_policy_unreadable", policy=dn)
        domain = await self.policy(None)
        windows = [p.window for p in (policy, domain) if p is not None and p.window]
        return LockoutPolicy(None, max(windows, default=None), f"{dn} (unreadable)")

    async def _default_dn(self) -> str | None:
        if self._flavor.default_policy_at_domain_root:
            return await self.domain_root()
        return self._default_policy_dn or self._flavor.default_policy_dn

    async def domain_root(self) -> str | None:
        """The domain's root (RootDSE ``defaultNamingContext``), not ``base_dn``: the
        policy lives there even when users are searched under an OU."""
        cached = self._cached("root")
        if cached is not None:
            return str(cached.value) if cached.value else None
        found = await self._reads.read("", ("defaultNamingContext",))
        root = values(found.attributes, "defaultNamingContext") if found else ()
        self._cache["root"] = _Cached(root[0] if root else "", self._clock() + CACHE_TTL)
        return root[0] if root else None

    async def all_policies(self) -> list[LockoutPolicy]:
        """Every policy the service account can see: the default and the PSOs (or
        ppolicy entries), for the start-up and check-config budget check."""
        found: list[LockoutPolicy] = []
        default = await self.policy(None)
        if default is not None:
            found.append(default)
        flavor = self._flavor
        base: str | None = self._base_dn
        if flavor.policy_container is not None:
            root = await self.domain_root()
            base = f"{flavor.policy_container},{root}" if root else None
        if base:
            for entry in await self._reads.search(
                base, flavor.policy_filter, flavor.policy_attributes
            ):
                if normalize_dn(entry.dn) != normalize_dn(self._default_policy_dn or ""):
                    found.append(flavor.policy(f"the policy {entry.dn}", entry.attributes))
        return found

    # -- the PDC emulator ---------------------------------------------------------
    async def counters_note(self) -> str | None:
        """Where the counters are read, for check-config (None: on the entry, as found)."""
        if not self._flavor.pdc_emulator:
            return None
        pdc = await self.pdc()
        where = pdc.name if pdc else "unknown (counters are read on the configured servers)"
        return f"PDC emulator (bad-password counters read there): {where}"

    async def pdc(self) -> ServerState | None:
        """The domain's PDC emulator (AD only): one of the configured servers when its
        RootDSE names the role owner, else the owner's dNSHostName on the same scheme
        and port. None when unknown; looked up again after ``CACHE_TTL``."""
        if not self._flavor.pdc_emulator:
            return None
        cached = self._cached("pdc")
        if cached is not None:
            return cached.value if isinstance(cached.value, ServerState) else None
        try:
            server = await self._find_pdc()
        except DirectoryUnavailable as exc:
            self._warn_once("pdc_unknown", detail=exc.detail)
            server = None
        self._cache["pdc"] = _Cached(server, self._clock() + CACHE_TTL)
        return server

    async def _find_pdc(self) -> ServerState | None:
        root = await self.domain_root()
        if root is None:
            return None
        domain = await self._reads.read(root, ("fSMORoleOwner",))
        owner = values(domain.attributes, "fSMORoleOwner") if domain else ()
        if not owner:
            return None
        role = normalize_dn(owner[0])
        for server in self._reads.configured:
            dse = await self._reads.read("", ("dsServiceName",), server=server)
            names = values(dse.attributes, "dsServiceName") if dse else ()
            if names and normalize_dn(names[0]) == role:
                return server
        return await self._outside_pdc(owner[0])

    async def _outside_pdc(self, owner: str) -> ServerState | None:
        """The PDC is not among the configured URLs: reach it by its DNS name."""
        server_dn = ",".join(split_rdns(owner)[1:])
        entry = await self._reads.read(server_dn, ("dNSHostName",))
        host = values(entry.attributes, "dNSHostName") if entry else ()
        if not host:
            return None
        first = urlsplit(self._reads.configured[0].url)
        port = f":{first.port}" if first.port else ""
        return self._reads.outside(f"{first.scheme}://{host[0]}{port}")

    # -- helpers ------------------------------------------------------------------
    def _cached(self, key: str) -> _Cached | None:
        cached = self._cache.get(key)
        if cached is None or cached.expires <= self._clock():
            return None
        return cached

    def _warn_once(self, event: str, **fields: object) -> None:
        marker = event + repr(sorted(fields.items()))
        if marker not in self._warned:
            self._warned.add(marker)
            _log.warning(event, **fields)
