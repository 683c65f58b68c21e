"""What the settings resolve to: the directory's options, worked out once at load.

The preset of the flavor supplies every default; a key set in the file replaces it.
Nothing downstream looks at a preset or a settings key again to find a default: the
composition root (``bridge.process.wiring``) builds the backend, the login policy and
``check-config``'s summary from the :class:`~bridge.directory.options.DirectoryOptions`
made here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bridge.config.directories import DirectorySection
from bridge.config.directory import FileDirectorySettings
from bridge.config.groups import GroupLists
from bridge.config.response import (
    FILE_DISPLAY_NAME_ATTRIBUTE,
    FILE_USERNAME_ATTRIBUTES,
    UsernameRule,
)
from bridge.config.settings import Settings
from bridge.core.routing import RouteRules, domain_of
from bridge.core.usernames import Rule
from bridge.directory.options import DirectoryOptions, FileBackend, LdapBackend
from bridge.directory.presets import GroupStrategy, Preset


def all_directory_options(
    settings: Settings, files: Mapping[str, Path]
) -> tuple[DirectoryOptions, ...]:
    """Every directory's options, in the file's order (``[directory]``: just one)."""
    return tuple(
        directory_options(settings, section, files) for section in settings.directory_sections()
    )


def directory_options(
    settings: Settings, section: DirectorySection, files: Mapping[str, Path]
) -> DirectoryOptions:
    """``files``: the paths the config names, resolved (``Config.files``)."""
    directory = section.settings
    mail = directory.mail_attribute if directory.accept_mail else None
    rules = _username_rules(section.usernames)
    display = settings.response.display_name_attribute
    backend: LdapBackend | FileBackend
    domain = None
    expiry_warning = 0.0
    if isinstance(directory, FileDirectorySettings):
        display = display or FILE_DISPLAY_NAME_ATTRIBUTE
        backend = FileBackend(files[f"{section.key}.users_file"])
    else:
        preset = directory.preset
        expiry_warning = directory.password_expiry_warning
        display = display or preset.display_name_attribute
        login_attributes = directory.login_attributes or preset.login_attributes
        domain = domain_of(directory.base_dn)
        backend = LdapBackend(
            flavor=directory.flavor,
            preset=preset,
            user_filter=directory.user_filter or user_filter(preset, login_attributes, mail),
            login_attributes=login_attributes,
            group_strategy=group_strategy(section.groups, preset),
            attributes=_attributes(rules, display, login_attributes, mail),
            pool_size=directory.pool_size or settings.protection.max_concurrent_directory_ops,
            global_catalog=section.global_catalog,
        )
    accepts_prefix = directory.accepts_domain_prefix
    return DirectoryOptions(
        name=section.name,
        key=section.key,
        routing=RouteRules(
            name=section.name,
            prefixes=directory.domain_names if accepts_prefix else (),
            suffixes=section.suffixes,
            default=section.default,
            domain=domain,
            catalog=section.global_catalog is not None,
        ),
        mail_attribute=mail,
        accept_domain_prefix=accepts_prefix,
        domain_names=directory.domain_names,
        username_rules=rules,
        display_name_attribute=display,
        group_allow=section.groups.allow,
        group_deny=section.groups.deny,
        backend=backend,
        password_expiry_warning=expiry_warning,
    )


def user_filter(preset: Preset, login_attributes: tuple[str, ...], mail: str | None) -> str:
    """The flavor's object filter and one term per login attribute (and mail), with
    the ``{login}`` placeholder escaped later, once, where it is filled."""
    attributes = [*login_attributes, *([mail] if mail else [])]
    terms = "".join(f"({attribute}={{login}})" for attribute in attributes)
    match = terms if len(attributes) == 1 else f"(|{terms})"
    return f"(&{preset.object_filter}{match})"


def group_strategy(groups: GroupLists, preset: Preset) -> GroupStrategy:
    """``strategy`` when set (then ``nested`` is not: see GroupSettings), else the
    flavor's strategy for nested or for direct membership."""
    if groups.strategy is not None:
        return groups.strategy
    return preset.nested_group_strategy if groups.nested else preset.group_strategy


def _username_rules(usernames: tuple[UsernameRule, ...]) -> tuple[Rule, ...]:
    """``[[usernames]]`` (or the directory's own); only a users file has a default
    (nobody but the administrator writes it, so no value in it can be forged): the
    model requires them for LDAP."""
    if usernames:
        return tuple(Rule(r.attribute, r.transforms, r.multi_valued) for r in usernames)
    return tuple(Rule(name) for name in FILE_USERNAME_ATTRIBUTES)


def _attributes(
    rules: tuple[Rule, ...], display: str, login_attributes: tuple[str, ...], mail: str | None
) -> tuple[str, ...]:
    """What a login reads from the entry, each once, in a stable order."""
    names = [rule.attribute for rule in rules]
    names += [display, *login_attributes, *([mail] if mail else [])]
    return tuple(dict.fromkeys(names))
