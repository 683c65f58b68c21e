"""Reading a config: TOML, then the model, then the files it names, then what it means.

``load(path)`` returns a :class:`Config` or raises :class:`~bridge.core.errors.ConfigError`
listing *every* problem with its dotted key. The model's problems come first, all at
once; the files are read only when the model holds (a secret's key is only known then).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bridge.config.options import all_directory_options
from bridge.config.problems import problems_from
from bridge.config.resolver import Resolver, Secrets
from bridge.config.settings import Settings
from bridge.core.errors import ConfigError, Problem
from bridge.directory.options import DirectoryOptions

DEFAULT_CONFIG_PATH = Path("/etc/ringotel-bridge/bridge.toml")
CONFIG_ENV = "RINGOTEL_BRIDGE_CONFIG"


@dataclass(frozen=True)
class Config:
    """Validated settings plus what they point to, resolved against the config's folder,
    and what they mean for each directory (resolved once, here; one for ``[directory]``,
    one per ``[[directories]]`` table, in the file's order)."""

    settings: Settings
    secrets: Secrets
    directories: tuple[DirectoryOptions, ...]
    source: Path | None = None
    warnings: tuple[str, ...] = ()
    files: Mapping[str, Path] = field(default_factory=dict)


def load(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, validate and resolve a config file; raise ConfigError with every problem."""
    environ = os.environ if environ is None else environ
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError([Problem("", f"{path}: no such file")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem("", f"{path}: cannot read: {exc}")]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem("", f"{path}: not valid TOML: {exc}")]) from exc
    return from_mapping(raw, base_dir=path.parent, environ=environ, source=path)


def from_mapping(
    raw: Mapping[str, Any],
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
    source: Path | None = None,
) -> Config:
    """Validate an already-parsed TOML document (tests build configs this way)."""
    environ = os.environ if environ is None else environ
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(problems_from(exc)) from None
    resolver = Resolver(base_dir, environ.get("CREDENTIALS_DIRECTORY"))
    secrets = resolver.secrets(settings)
    files = resolver.plain_files(settings)
    files["protection.key_file"] = state_path(
        settings.protection.key_file, base_dir, environ.get("STATE_DIRECTORY")
    )
    if resolver.problems:
        raise ConfigError(resolver.problems)
    directories = all_directory_options(settings, files)
    return Config(settings, secrets, directories, source, tuple(resolver.warnings), files)


def state_path(path: Path, base_dir: Path, state_directory: str | None) -> Path:
    """State the bridge writes itself: under systemd's ``StateDirectory=`` when set
    (the config folder is read-only there), else beside the config."""
    if path.is_absolute():
        return path
    if state_directory:
        return Path(state_directory.split(":")[0]) / path
    return base_dir / path
