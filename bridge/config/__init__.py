"""Settings: one TOML file, validated completely, then frozen.

``load(path)`` returns a :class:`Config` (typed settings, secrets already read, each
directory's options resolved, the source path) or raises
:class:`~bridge.core.errors.ConfigError` listing *every* problem with its dotted key,
e.g. ``directory.urls[1]: expected ldap://HOST[:PORT] or ldaps://...``.

A key that does not apply is refused, never ignored: a key of another
``client_auth.mode`` or ``directory.type`` (``client_auth.token_file: only for mode
"bearer"``), and a key that another key set beside it would override.

The package, by what each module owns:

* ``durations``: ``"5m"`` and its kin; ``section``: what every section shares;
* ``server``, ``client_auth``, ``directory``, ``groups``, ``response``, ``protection``:
  one model per TOML section (a union of models where a key picks the variant);
  ``directories``: ``[[directories]]``, several directories each with a name and
  routing rules (``[directory]`` is the one directory, named ``default``);
  ``settings``: the whole file and the rules that span sections;
* ``problems``: pydantic's errors as dotted keys; ``resolver`` and ``secret_files``:
  the files a config names; ``options``: what the settings resolve to;
  ``loading``: :func:`load` and :class:`Config`.
"""

from bridge.config.client_auth import (
    MIN_CLIENT_SECRET,
    BasicAuthSettings,
    BearerAuthSettings,
    ClientAuthSettings,
    OAuth2Settings,
)
from bridge.config.directory import (
    DirectorySettings,
    FileDirectorySettings,
    LdapDirectorySettings,
    LdapUrl,
)
from bridge.config.durations import Duration, OptionalDuration, parse_duration
from bridge.config.groups import GroupSettings
from bridge.config.loading import CONFIG_ENV, DEFAULT_CONFIG_PATH, Config, from_mapping, load
from bridge.config.protection import ProtectionSettings
from bridge.config.resolver import Secret, Secrets
from bridge.config.response import (
    FILE_USERNAME_ATTRIBUTES,
    USERNAMES_REQUIRED,
    ResponseSettings,
    Transform,
    UsernameRule,
)
from bridge.config.server import ListenAddress, Network, RequestSettings, ServerSettings
from bridge.config.settings import LoggingSettings, Settings

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATH",
    "FILE_USERNAME_ATTRIBUTES",
    "MIN_CLIENT_SECRET",
    "USERNAMES_REQUIRED",
    "BasicAuthSettings",
    "BearerAuthSettings",
    "ClientAuthSettings",
    "Config",
    "DirectorySettings",
    "Duration",
    "FileDirectorySettings",
    "GroupSettings",
    "LdapDirectorySettings",
    "LdapUrl",
    "ListenAddress",
    "LoggingSettings",
    "Network",
    "OAuth2Settings",
    "OptionalDuration",
    "ProtectionSettings",
    "RequestSettings",
    "ResponseSettings",
    "Secret",
    "Secrets",
    "ServerSettings",
    "Settings",
    "Transform",
    "UsernameRule",
    "from_mapping",
    "load",
    "parse_duration",
]
