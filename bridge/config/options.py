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

from bridge.config.directory import FILE_ACCEPTS_DOMAIN_PREFIX, FileDirectorySettings
from bridge.config.groups import GroupSettings
from bridge.config.response import FILE_DISPLAY_NAME_ATTRIBUTE, FILE_USERNAME_ATTRIBUTES
from bridge.config.settings import Settings
from bridge.core.usernames import Rule
from bridge.directory.options import DirectoryOptions, FileBackend, LdapBackend
from bridge.directory.presets import GroupStrategy, Preset


def directory_options(settings: Settings, files: Mapping[str, Path]) -> DirectoryOptions:
    """``files``: the paths the config names, resolved (``Config.files``)."""
    directory = settings.directory
    mail = directory.mail_attribute if directory.accept_mail else None
    rules = _username_rules(settings)
    display = settings.response.display_name_attribute
    backend: LdapBackend | FileBackend
    expiry_warning = 0.0
    if isinstance(directory, FileDirectorySettings):
        accepts_prefix = FILE_ACCEPTS_DOMAIN_PREFIX
        display = display or FILE_DISPLAY_NAME_ATTRIBUTE
        backend = FileBackend(files["directory.users_file"])
    else:
        preset = directory.preset
        expiry_warning = directory.password_expiry_warning
        accepts_prefix = preset.accept_domain_prefix
        display = display or preset.display_name_attribute
        login_attributes = directory.login_attributes or preset.login_attributes
        backend = LdapBackend(
            flavor=directory.flavor,
            preset=preset,
            user_filter=directory.user_filter or user_filter(preset, login_attributes, mail),
            login_attributes=login_attributes,
            group_strategy=group_strategy(settings.groups, preset),
            attributes=_attributes(rules, display, login_attributes, mail),
            pool_size=directory.pool_size or settings.protection.max_concurrent_directory_ops,
        )
    if directory.accept_domain_prefix is not None:
        accepts_prefix = directory.accept_domain_prefix
    return DirectoryOptions(
        mail_attribute=mail,
        accept_domain_prefix=accepts_prefix,
        domain_names=directory.domain_names,
        username_rules=rules,
        display_name_attribute=display,
        needs_groups=bool(settings.groups.allow or settings.groups.deny),
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


def group_strategy(groups: GroupSettings, preset: Preset) -> GroupStrategy:
    """``strategy`` when set (then ``nested`` is not: see GroupSettings), else the
    flavor's strategy for nested or for direct membership."""
    if groups.strategy is not None:
        return groups.strategy
    return preset.nested_group_strategy if groups.nested else preset.group_strategy


def _username_rules(settings: Settings) -> tuple[Rule, ...]:
    """``[[usernames]]``; only a users file has a default (nobody but the administrator
    writes it, so no value in it can be forged): the model requires them for LDAP."""
    if settings.usernames:
        return tuple(Rule(r.attribute, r.transforms, r.multi_valued) for r in settings.usernames)
    return tuple(Rule(name) for name in FILE_USERNAME_ATTRIBUTES)


def _attributes(
    rules: tuple[Rule, ...], display: str, login_attributes: tuple[str, ...], mail: str | None
) -> tuple[str, ...]:
    """What a login reads from the entry, each once, in a stable order."""
    names = [rule.attribute for rule in rules]
    names += [display, *login_attributes, *([mail] if mail else [])]
    return tuple(dict.fromkeys(names))
