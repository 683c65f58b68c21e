"""The file directory: users in a TOML file, for trying the bridge and for break-glass.

Implements :class:`bridge.core.ports.Directory`. The file (``directory.users_file``)
holds one ``[[users]]`` table per person::

    [[users]]
    login = "alice"                      # matched case-insensitively
    password_hash = "$argon2id$v=19$..."  # ringotel-bridge hash-password
    display_name = "Alice Anders"
    disabled = false
    groups = ["CN=Ringotel Users,OU=Groups,DC=corp,DC=example"]
    telephoneNumber = ["101", "102"]     # any other key is a directory attribute
    mail = "alice@example.com"

Every other key is an attribute, so ``[[usernames]]`` rules and the display-name
attribute work exactly as with LDAP. The file is read and checked completely when the
Service is built (start-up and every SIGHUP); a bad file raises ConfigError with keys
such as ``users[3].password_hash`` (``users[0]`` is the first table).

argon2 is deliberately slow, so verification runs in a small thread pool and the event
loop never waits on it. An unknown login costs one verification too, against a dummy
hash with the same parameters, so response times do not reveal who exists.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from argon2 import PasswordHasher, extract_parameters

from bridge.core.attributes import values as attribute_values
from bridge.core.dn import escape_rdn_value
from bridge.core.errors import ConfigError, LoginRejected, Problem, Reason
from bridge.core.ports import (
    AccountLockout,
    AttributeVerdict,
    DirectoryStats,
    Finding,
    LockoutPolicy,
    Probe,
    Readiness,
    UserEntry,
)
from bridge.core.typed_login import fold_login
from bridge.directory.options import DirectoryOptions
from bridge.directory.passwords import dummy_hash, is_argon2id, verify_password

T = TypeVar("T")

#: Keys with a meaning of their own; every other key of a user is an attribute.
RESERVED = frozenset({"login", "password_hash", "display_name", "disabled", "groups"})
_VERIFY_THREADS = 2


@dataclass(frozen=True)
class FileUser:
    """One ``[[users]]`` table, checked."""

    login: str
    password_hash: str
    display_name: str
    disabled: bool
    groups: tuple[str, ...]
    attributes: Mapping[str, tuple[str, ...]]

    @property
    def dn(self) -> str:
        """Synthetic, escaped: the DN of an odd login (``a,b``) is still one RDN."""
        return f"uid={escape_rdn_value(self.login)},o=file"


class FileDirectory:
    """Directory backed by a TOML users file, read once per Service."""

    def __init__(
        self,
        path: Path,
        users: Sequence[FileUser],
        display_name_attribute: str = "displayName",
        mail_attribute: str | None = None,
        username_attributes: Sequence[str] = (),
    ) -> None:
        self.path = path
        self.users = tuple(users)
        self._username_attributes = tuple(dict.fromkeys(username_attributes))
        self._by_login: dict[str, FileUser] = {}
        self._by_dn = {user.dn.casefold(): user for user in self.users}
        for user in self.users:
            for key in login_keys(user, mail_attribute):
                self._by_login[key] = user
        self._display_name_attribute = display_name_attribute
        self._dummy: str | None = None  # made on first use: hashing is slow
        self._executor = ThreadPoolExecutor(_VERIFY_THREADS, thread_name_prefix="argon2")
        #: verifications run (stats): an unknown login must cost one too
        self._verifications = 0

    @classmethod
    def load(cls, path: Path, options: DirectoryOptions) -> FileDirectory:
        """Read and check ``path`` (raises ConfigError naming each bad key)."""
        mail = options.mail_attribute
        users = load_users(path, mail)
        display = options.display_name_attribute
        return cls(path, users, display, mail, options.username_attributes)

    @property
    def name(self) -> str:
        return f"file:{self.path}"

    async def _verify(self, hash: str, password: str) -> bool:
        self._verifications += 1
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, verify_password, hash, password)

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            loop = asyncio.get_running_loop()
            self._dummy = await loop.run_in_executor(self._executor, _dummy_like, self.users)
        return self._dummy

    async def _spend_like_a_check(self, password: str) -> None:
        """Verify against a dummy hash, so an unknown login costs what a real one does."""
        await self._verify(await self._dummy_hash(), password)

    # -- Directory protocol -------------------------------------------------------
    async def find(self, login: str) -> UserEntry | None:
        user = self._by_login.get(fold_login(login))
        if user is None:
            await self._spend_like_a_check(login)
            return None
        return UserEntry(user.dn, self._attributes(user), server=self.name)

    def _attributes(self, user: FileUser) -> dict[str, tuple[str, ...]]:
        attributes = {"login": (user.login,), **user.attributes}
        lowered = {name.lower() for name in attributes}
        if self._display_name_attribute.lower() not in lowered:
            attributes[self._display_name_attribute] = (user.display_name,)
        return attributes

    async def authenticate(self, user: UserEntry, password: str) -> UserEntry:
        if password == "":
            raise LoginRejected(Reason.EMPTY_PASSWORD)
        record = self._by_dn.get(user.dn.casefold())
        if record is None:  # the entry came from an older file
            await self._spend_like_a_check(password)
            raise LoginRejected(Reason.UNKNOWN_USER, "no longer in the users file")
        if not await self._verify(record.password_hash, password):
            raise LoginRejected(Reason.BAD_PASSWORD)
        if record.disabled:  # like AD: only the right password learns this
            raise LoginRejected(Reason.ACCOUNT_DISABLED, "disabled in the users file")
        return UserEntry(record.dn, self._attributes(record), server=self.name)

    async def groups(self, user: UserEntry) -> frozenset[str]:
        record = self._by_dn.get(user.dn.casefold())
        return frozenset(record.groups) if record else frozenset()

    async def holders_of(self, value: str) -> tuple[str, ...]:
        """Users holding ``value`` in a username attribute, compared like AD's ipPhone
        (ignoring case); two at most, as the LDAP search asks for."""
        wanted = value.casefold()
        found = [
            user.dn
            for user in self.users
            if any(
                held.casefold() == wanted
                for name in self._username_attributes
                for held in attribute_values(user.attributes, name)
            )
        ]
        return tuple(found[:2])

    async def check(self) -> Readiness:
        await self._dummy_hash()  # made now (start-up), not on the first unknown login
        return Readiness(self.name, f"{len(self.users)} users")

    async def lockout(
        self, user: UserEntry, counters: Literal["none", "entry", "read"]
    ) -> AccountLockout | None:
        """A file has no lockout of its own: the guard's budget is the only one."""
        return None

    async def lockout_policies(self) -> list[LockoutPolicy]:
        return []

    async def username_attribute_verdicts(self) -> list[AttributeVerdict]:
        """Only the administrator writes the file: no user can forge a value in it."""
        return []

    async def probe(self) -> Probe:
        ready = await self.check()
        return Probe((Finding(ready.server, (ready.detail,)),))

    def stats(self) -> DirectoryStats:
        return DirectoryStats(operations={"verifications": self._verifications})

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def login_keys(user: FileUser, mail_attribute: str | None) -> Iterator[str]:
    yield fold_login(user.login)
    if mail_attribute:
        yield from map(fold_login, attribute_values(user.attributes, mail_attribute))


def _dummy_like(users: Sequence[FileUser]) -> str:
    """A dummy hash as expensive as the real ones (tests use cheap parameters)."""
    if not users:
        return dummy_hash()
    parameters = extract_parameters(users[0].password_hash)
    return PasswordHasher.from_parameters(parameters).hash("ringotel-bridge: no such user")


# -- loading and checking the file ----------------------------------------------------
def load_users(path: Path, mail_attribute: str | None = None) -> list[FileUser]:
    """Read and check the whole file; raise ConfigError naming every bad key."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise _file_error(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise _file_error(f"{path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise _file_error(f"{path}: not valid TOML: {exc}") from exc
    return parse_users(document, mail_attribute)


def _file_error(message: str) -> ConfigError:
    return ConfigError([Problem("directory.users_file", message)])


def parse_users(document: Mapping[str, Any], mail_attribute: str | None = None) -> list[FileUser]:
    problems = [Problem(key, "unknown key") for key in document if key != "users"]
    tables = document.get("users", [])
    if not isinstance(tables, list):
        raise ConfigError([*problems, Problem("users", "expected [[users]] tables")])
    users: list[FileUser] = []
    owners: dict[str, int] = {}
    for index, table in enumerate(tables):
        checker = _UserChecker(f"users[{index}]", problems)
        user = checker.check(table)
        if user is None:
            continue
        for key in login_keys(user, mail_attribute):
            if key in owners:
                checker.problem("login", f"{key!r} is also a login or mail of users[{owners[key]}]")
            owners.setdefault(key, index)
        users.append(user)
    if problems:
        raise ConfigError(problems)
    return users


class _UserChecker:
    """Checks one ``[[users]]`` table, adding problems with its dotted keys."""

    def __init__(self, prefix: str, problems: list[Problem]) -> None:
        self.prefix = prefix
        self.problems = problems
        self.ok = True

    def problem(self, key: str, message: str) -> None:
        self.ok = False
        self.problems.append(Problem(f"{self.prefix}.{key}" if key else self.prefix, message))

    def check(self, table: object) -> FileUser | None:
        if not isinstance(table, dict):
            self.problem("", "expected a [[users]] table")
            return None
        login = self._string(table, "login", required=True)
        password_hash = self._string(table, "password_hash", required=True)
        if password_hash and not is_argon2id(password_hash):
            self.problem(
                "password_hash", "not an argon2 hash (make one with ringotel-bridge hash-password)"
            )
        display_name = self._string(table, "display_name") or login
        disabled = self._typed(table, "disabled", bool, "expected true or false", False)
        groups = self._strings(table, "groups")
        attributes = {name: self._strings(table, name) for name in table if name not in RESERVED}
        if not self.ok:
            return None
        return FileUser(login, password_hash, display_name, disabled, groups, attributes)

    def _typed(
        self, table: Mapping[str, Any], key: str, kind: type[T], message: str, default: T
    ) -> T:
        value = table.get(key, default)
        if not isinstance(value, kind):
            self.problem(key, message)
            return default
        return value

    def _string(self, table: Mapping[str, Any], key: str, required: bool = False) -> str:
        if key not in table:
            if required:
                self.problem(key, "required key is missing")
            return ""
        value = self._typed(table, key, str, "expected a string", "")
        if isinstance(table[key], str) and not value.strip():
            self.problem(key, "must not be empty")
        return value

    def _strings(self, table: Mapping[str, Any], key: str) -> tuple[str, ...]:
        """An attribute value: a string, a number, or a list of them; kept as strings."""
        value = table.get(key, [])
        values = value if isinstance(value, list) else [value]
        if not all(_scalar(item) for item in values):
            self.problem(key, "expected a string or a list of strings")
            return ()
        return tuple(str(item) for item in values)


def _scalar(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
