"""``[client_auth]``: how Ringotel proves who it is, one model per ``mode``.

Each mode has only its own keys, so ``token_file`` in ``basic`` mode is refused as
``client_auth.token_file: only for mode "bearer"`` instead of being ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from bridge.client_auth.keys import Algorithm
from bridge.config.durations import Duration
from bridge.config.section import Section, Variants, check_url_path

#: Shortest Basic password, Bearer token or client secret accepted (HS256 keys: 32,
#: checked where keys are loaded).
MIN_CLIENT_SECRET = 16


class _ClientAuth(Section):
    #: the OAuth2 client id; the Basic user name when ``username`` is unset; the
    #: client a bearer token stands for in the audit log
    client_id: str = Field("ringotel", min_length=1, max_length=256)


class BasicAuthSettings(_ClientAuth):
    """``mode = "basic"``: a fixed user name and password in every request."""

    mode: Literal["basic"] = "basic"
    username: str | None = None
    password: str | None = None
    password_file: Path | None = None

    @model_validator(mode="after")
    def _needs_password(self) -> BasicAuthSettings:
        if not (self.password or self.password_file):
            raise ValueError("mode 'basic' needs password_file")
        return self

    @property
    def basic_username(self) -> str:
        return self.username or self.client_id


class BearerAuthSettings(_ClientAuth):
    """``mode = "bearer"``: a static token (several during a rotation)."""

    mode: Literal["bearer"] = "bearer"
    token: str | None = None
    token_file: Path | None = None
    token_files: tuple[Path, ...] = ()

    @model_validator(mode="after")
    def _needs_token(self) -> BearerAuthSettings:
        if not (self.token or self.token_file or self.token_files):
            raise ValueError("mode 'bearer' needs token_file")
        return self


class OAuth2Settings(_ClientAuth):
    """``mode = "oauth2"``: client credentials for our token endpoint, then its JWTs."""

    mode: Literal["oauth2"] = "oauth2"
    client_secret: str | None = None
    client_secret_file: Path | None = None
    client_secret_files: tuple[Path, ...] = ()
    token_path: str = "/oauth/token"
    token_ttl: Duration = 3600.0
    token_leeway: Duration = 30.0
    signing_algorithm: Algorithm = "HS256"
    signing_key_file: Path | None = None
    verification_key_files: tuple[Path, ...] = ()
    issuer: str = "ringotel-bridge"
    audience: str = "ringotel-bridge"

    @field_validator("token_path")
    @classmethod
    def _token_path(cls, value: str) -> str:
        return check_url_path(value)

    @model_validator(mode="after")
    def _needs_secret_and_key(self) -> OAuth2Settings:
        if not (self.client_secret or self.client_secret_file or self.client_secret_files):
            raise ValueError("mode 'oauth2' needs client_secret_file")
        if self.signing_key_file is None:
            raise ValueError("mode 'oauth2' needs signing_key_file")
        return self


CLIENT_AUTH_MODES = Variants(
    "mode",
    "oauth2",
    {"basic": BasicAuthSettings, "bearer": BearerAuthSettings, "oauth2": OAuth2Settings},
)

ClientAuthSettings = Annotated[
    Annotated[BasicAuthSettings, Tag("basic")]
    | Annotated[BearerAuthSettings, Tag("bearer")]
    | Annotated[OAuth2Settings, Tag("oauth2")],
    Discriminator(CLIENT_AUTH_MODES.tag),
]
