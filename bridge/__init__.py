"""ringotel-ldap-bridge: Ringotel SSO identity provider backed by Active Directory / LDAP."""

from importlib import metadata

try:
    __version__ = metadata.version("ringotel-ldap-bridge")
except metadata.PackageNotFoundError:  # a checkout that is not installed
    __version__ = "unknown"
