"""The whole file: one model per section, and the rules that span sections."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from bridge.config.client_auth import ClientAuthSettings
from bridge.config.directory import DirectorySettings, FileDirectorySettings, LdapDirectorySettings
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

    Sections after ``directory`` may depend on its type; when ``directory`` itself is
    wrong it is reported on its own and those checks wait for it.
    """

    server: ServerSettings = ServerSettings()
    request: RequestSettings = RequestSettings()
    client_auth: ClientAuthSettings
    directory: DirectorySettings
    groups: GroupSettings = GroupSettings()
    usernames: tuple[UsernameRule, ...] = Field((), validate_default=True)
    response: ResponseSettings = ResponseSettings()
    protection: ProtectionSettings = ProtectionSettings()
    logging: LoggingSettings = LoggingSettings()

    @field_validator("groups")
    @classmethod
    def _groups_for_the_directory(cls, value: GroupSettings, info: ValidationInfo) -> GroupSettings:
        """A users file lists each user's groups: there is no strategy to choose."""
        if isinstance(info.data.get("directory"), FileDirectorySettings):
            set_here = [key for key in LDAP_ONLY_KEYS if key in value.model_fields_set]
            refuse(value, {key: 'only for directory type "ldap"' for key in set_here})
        return value

    @field_validator("usernames")
    @classmethod
    def _usernames_chosen(
        cls, value: tuple[UsernameRule, ...], info: ValidationInfo
    ) -> tuple[UsernameRule, ...]:
        """No default for LDAP: the obvious attributes are often self-writable (see
        ``bridge.directory.presets``)."""
        if not value and isinstance(info.data.get("directory"), LdapDirectorySettings):
            raise ValueError(USERNAMES_REQUIRED)
        return value
