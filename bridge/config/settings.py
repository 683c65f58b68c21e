"""The whole file: one model per section, and the rules that span sections."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bridge.config.client_auth import ClientAuthSettings
from bridge.config.directories import (
    DirectorySection,
    NamedDirectorySettings,
    routing_refusals,
    sections,
)
from bridge.config.directory import DirectorySettings, LdapDirectorySettings
from bridge.config.groups import LDAP_ONLY_KEYS, GroupSettings
from bridge.config.protection import ProtectionSettings
from bridge.config.response import USERNAMES_REQUIRED, ResponseSettings, UsernameRule
from bridge.config.section import Section, refuse
from bridge.config.server import RequestSettings, ServerSettings


class LoggingSettings(Section):
    """``[logging]``."""

    format: Literal["json", "console", "auto"] = "json"
    level: Literal["debug", "info", "warning", "error"] = "info"


class Settings(Section):
    """The whole file. Frozen: a reload builds a new one.

    One directory is ``[directory]``; several are ``[[directories]]``
    (``bridge.config.directories``), never both. Sections after them may depend on
    their types; when a directory itself is wrong it is reported on its own and those
    checks wait for it. Whatever needs every directory asks :meth:`directory_sections`.
    """

    server: ServerSettings = ServerSettings()
    request: RequestSettings = RequestSettings()
    client_auth: ClientAuthSettings
    #: required unless [[directories]] is given (then None: see `_one_or_several`)
    directory: DirectorySettings | None
    directories: tuple[NamedDirectorySettings, ...] = ()
    groups: GroupSettings = GroupSettings()
    usernames: tuple[UsernameRule, ...] = Field((), validate_default=True)
    response: ResponseSettings = ResponseSettings()
    protection: ProtectionSettings = ProtectionSettings()
    logging: LoggingSettings = LoggingSettings()

    @model_validator(mode="before")
    @classmethod
    def _one_or_several(cls, data: Any) -> Any:
        """``[directory]`` is required, unless ``[[directories]]`` stands in for it."""
        if isinstance(data, Mapping) and "directories" in data and "directory" not in data:
            return {**data, "directory": None}
        return data

    @model_validator(mode="after")
    def _not_both(self) -> Settings:
        if self.directory is not None and self.directories:
            refuse(self, {"directories": "set [directory] (one) or [[directories]] (several)"})
        if self.directory is None and not self.directories:
            refuse(self, {"directories": "at least one [[directories]] table is required"})
        return self

    @field_validator("directories")
    @classmethod
    def _routable(
        cls, value: tuple[NamedDirectorySettings, ...]
    ) -> tuple[NamedDirectorySettings, ...]:
        refuse(value, routing_refusals(value))
        return value

    @field_validator("groups")
    @classmethod
    def _groups_for_the_directory(cls, value: GroupSettings, info: ValidationInfo) -> GroupSettings:
        """A users file lists each user's groups: there is no strategy to choose."""
        if _given(info) and not any(isinstance(d, LdapDirectorySettings) for d in _all(info)):
            set_here = [key for key in LDAP_ONLY_KEYS if key in value.model_fields_set]
            refuse(value, {key: 'only for directory type "ldap"' for key in set_here})
        return value

    @field_validator("usernames")
    @classmethod
    def _usernames_chosen(
        cls, value: tuple[UsernameRule, ...], info: ValidationInfo
    ) -> tuple[UsernameRule, ...]:
        """No default for LDAP: the obvious attributes are often self-writable (see
        ``bridge.directory.presets``). A directory with its own usernames needs none."""
        if value:
            return value
        for directory in _all(info):
            own = getattr(directory, "usernames", None)
            if isinstance(directory, LdapDirectorySettings) and not own:
                raise ValueError(USERNAMES_REQUIRED)
        return value

    def directory_sections(self) -> tuple[DirectorySection, ...]:
        """Every directory, ``[directory]`` as the one default, in the file's order."""
        return sections(self.directory, self.directories, self.usernames, self.groups)


def _all(info: ValidationInfo) -> list[object]:
    """The directories validated so far (none when they were wrong: checks wait)."""
    single = info.data.get("directory")
    return [single] if single is not None else list(info.data.get("directories", ()))


def _given(info: ValidationInfo) -> bool:
    return bool(_all(info))
