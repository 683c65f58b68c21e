"""``[directory]``: where users live, one model per ``type``.

``type = "ldap"`` has the server, the service account and the search; ``type = "file"``
has a users file. A key of the other type is refused by name (``directory.urls: only
for type "ldap"``), and so is a key whose value the rest of the section would make the
bridge ignore: ``bind_template`` next to ``bind_dn``, ``login_attributes`` next to
``user_filter``, ``domain_names`` when ``DOMAIN\\name`` is not accepted, ...

What the flavor and the keys set here resolve to is worked out once, at load, by
``bridge.config.options``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Discriminator, Field, Tag, model_validator

from bridge.config.durations import Duration, OptionalDuration
from bridge.config.section import AttributeName, Section, Variants, refuse
from bridge.directory.locator.srv import parse_nameserver
from bridge.directory.presets import PRESETS, Flavor, Preset

#: ``DOMAIN\\name`` is accepted by a users file unless accept_domain_prefix says no.
FILE_ACCEPTS_DOMAIN_PREFIX = True


def _check_ldap_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
        raise ValueError(f"expected ldap://HOST[:PORT] or ldaps://..., got {url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"no path or query allowed, got {url!r}")
    return url


#: Validated one by one so a problem names its index: ``directory.urls[1]``.
LdapUrl = Annotated[str, AfterValidator(_check_ldap_url)]


class _Directory(Section):
    """The keys of every type: how a typed login may look."""

    accept_mail: bool = False
    mail_attribute: AttributeName = "mail"
    accept_domain_prefix: bool | None = None
    domain_names: tuple[str, ...] = ()

    def _login_refusals(self, accepts_domain_prefix: bool) -> dict[str, str]:
        refused = {}
        if "mail_attribute" in self.model_fields_set and not self.accept_mail:
            refused["mail_attribute"] = "only used with accept_mail = true"
        if self.domain_names and not accepts_domain_prefix:
            refused["domain_names"] = (
                'only used when "DOMAIN\\name" logins are accepted (accept_domain_prefix)'
            )
        return refused


class FileDirectorySettings(_Directory):
    """``type = "file"``: users, hashes and attributes in a TOML file."""

    type: Literal["file"] = "file"
    users_file: Path | None = None

    @property
    def accepts_domain_prefix(self) -> bool:
        accepts = self.accept_domain_prefix
        return FILE_ACCEPTS_DOMAIN_PREFIX if accepts is None else accepts

    @model_validator(mode="after")
    def _consistent(self) -> FileDirectorySettings:
        refused = self._login_refusals(self.accepts_domain_prefix)
        refuse(self, refused, ["type 'file' needs users_file"] if self.users_file is None else ())
        return self


def _check_dns_domain(value: str) -> str:
    name = value.strip().rstrip(".").lower()
    labels = name.split(".")
    if len(labels) < 2 or not all(_DNS_LABEL.match(label) for label in labels):
        raise ValueError(f"expected a DNS domain such as corp.example, got {value!r}")
    return name


def _check_site(value: str) -> str:
    """It becomes one label of a DNS name."""
    if not _DNS_LABEL.match(value):
        raise ValueError(f"expected an AD site name (letters, digits, hyphens), got {value!r}")
    return value


def _check_nameserver(value: str) -> str:
    parse_nameserver(value)
    return value


_DNS_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
#: ``IP`` or ``IP:PORT`` (``[IPv6]:PORT``), checked one by one: ``directory.nameservers[1]``.
Nameserver = Annotated[str, AfterValidator(_check_nameserver)]


class LdapDirectorySettings(_Directory):
    """``type = "ldap"``: Active Directory or OpenLDAP, searched then bound, or bound
    directly with a template."""

    type: Literal["ldap"] = "ldap"
    urls: tuple[LdapUrl, ...] = ()
    start_tls: bool = False
    ca_file: Path | None = None
    tls_server_name: str | None = None
    allow_plaintext: bool = False
    flavor: Flavor = "active_directory"
    bind_dn: str | None = None
    bind_password: str | None = None
    bind_password_file: Path | None = None
    bind_template: str | None = None
    base_dn: str = ""
    user_filter: str | None = None
    login_attributes: tuple[AttributeName, ...] | None = Field(None, min_length=1)
    connect_timeout: Duration = 3.0
    operation_timeout: Duration = 5.0
    #: idle connections kept per server and kind; default: max_concurrent_directory_ops,
    #: so a busy steady state never closes and reopens connections
    pool_size: int | None = Field(None, ge=1, le=1024)
    server_cooldown: Duration = 30.0
    page_size: int = Field(500, ge=1, le=1000)
    connection_max_age: Duration = 600.0
    #: OpenLDAP: the ppolicy entry that applies to users that name none (ppolicy_default);
    #: 389-ds: where the global policy is read (default cn=config)
    password_policy_dn: str | None = None
    #: an accepted password that expires within this long shows in the audit log
    #: (password_expires_in_days) and a metric; "0": off
    password_expiry_warning: OptionalDuration = 14 * 86400.0
    #: AD DNS domain whose DCs are found by SRV records, nearest site first; the urls
    #: are then the fallback
    domain: Annotated[str, AfterValidator(_check_dns_domain)] | None = None
    #: the AD site to prefer; None: learnt from the DCs by the CLDAP netlogon ping
    site: Annotated[str, AfterValidator(_check_site)] | None = None
    #: "IP[:PORT]" each; empty: the system resolver
    nameservers: tuple[Nameserver, ...] = ()
    #: the SRV records' TTL is held between these before they are resolved again
    dns_min_ttl: Duration = 60.0
    dns_max_ttl: Duration = 3600.0

    @model_validator(mode="after")
    def _consistent(self) -> LdapDirectorySettings:
        refuse(self, self._refusals(), self._missing())
        return self

    @property
    def preset(self) -> Preset:
        return PRESETS[self.flavor]

    @property
    def accepts_domain_prefix(self) -> bool:
        accepts = self.accept_domain_prefix
        return self.preset.accept_domain_prefix if accepts is None else accepts

    def _missing(self) -> list[str]:
        """What the section as a whole lacks (one problem on ``directory``)."""
        errors = []
        if not self.urls and not self.domain:
            errors.append("type 'ldap' needs at least one entry in urls, or domain")
        if self.dns_min_ttl > self.dns_max_ttl:
            errors.append("dns_min_ttl must not be longer than dns_max_ttl")
        if self.bind_dn and not (self.bind_password or self.bind_password_file):
            errors.append("bind_dn needs bind_password_file")
        if not self.bind_dn and not self.bind_template:
            errors.append("set bind_dn (search, then bind) or bind_template (direct bind)")
        if not self.base_dn:
            errors.append(
                "base_dn is required: users, and the holders of each username "
                "(a value two entries hold is never handed out), are searched there"
            )
        if self.bind_template and "{login}" not in self.bind_template:
            errors.append("bind_template must contain {login}")
        if self.user_filter and self.user_filter.count("{login}") < 1:
            errors.append("user_filter must contain {login}")
        plain = [u for u in self.urls if u.lower().startswith("ldap://")]
        if plain and not self.start_tls and not self.allow_plaintext:
            errors.append(
                "a simple bind over plain ldap:// would send passwords in clear text: "
                "use ldaps://, set start_tls = true, or set allow_plaintext = true"
            )
        return errors

    def _refusals(self) -> dict[str, str]:
        """Keys set here that the rest of the section would make the bridge ignore."""
        refused = self._login_refusals(self.accepts_domain_prefix)
        if self.bind_dn:
            refused.update(self._search_refusals())
        else:
            refused.update(self._direct_bind_refusals())
        if self.password_policy_dn is not None and self.bind_dn:
            flavors = [f for f, p in PRESETS.items() if _names_its_default_policy(p)]
            if self.flavor not in flavors:
                refused["password_policy_dn"] = "only for flavor " + " or ".join(
                    f'"{flavor}"' for flavor in flavors
                )
        return refused

    def _search_refusals(self) -> dict[str, str]:
        refused = {}
        if self.bind_template is not None:
            refused["bind_template"] = (
                "bind_dn is set, so users are searched for, then bound: a direct-bind "
                "template would be ignored; set bind_dn or bind_template, not both"
            )
        if self.user_filter and self.login_attributes is not None:
            refused["login_attributes"] = (
                "user_filter is set and replaces the filter built from login_attributes; "
                "set one of them"
            )
        if self.user_filter and self.accept_mail:
            refused["accept_mail"] = (
                "user_filter is set and replaces the filter accept_mail would extend; "
                "put the mail term, e.g. (mail={login}), into user_filter"
            )
        return refused

    def _direct_bind_refusals(self) -> dict[str, str]:
        """Without bind_dn nothing is searched: the typed login is the bind name."""
        ignored = {
            "bind_password": self.bind_password is not None,
            "bind_password_file": self.bind_password_file is not None,
            "password_policy_dn": self.password_policy_dn is not None,
            "user_filter": self.user_filter is not None,
            "login_attributes": self.login_attributes is not None,
            "accept_mail": self.accept_mail,
        }
        message = "only used with bind_dn (search, then bind)"
        return {key: message for key, is_set in ignored.items() if is_set}


def _names_its_default_policy(preset: Preset) -> bool:
    """The default lockout policy is configured (OpenLDAP's ppolicy_default), not read
    from the directory (AD's domain root)."""
    return preset.lockout is not None and not preset.lockout.default_policy_at_domain_root


DIRECTORY_TYPES = Variants(
    "type", "ldap", {"ldap": LdapDirectorySettings, "file": FileDirectorySettings}
)

DirectorySettings = Annotated[
    Annotated[LdapDirectorySettings, Tag("ldap")] | Annotated[FileDirectorySettings, Tag("file")],
    Discriminator(DIRECTORY_TYPES.tag),
]
