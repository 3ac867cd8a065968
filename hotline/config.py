"""Configuration: one TOML file, ``HOTLINE_*`` environment overrides, command-line flags.

Precedence (lowest to highest): built-in defaults < TOML file < environment < flags.

The TOML file has sections matching :class:`Settings`::

    data_dir = "/var/lib/hotline"

    [http]
    host = "0.0.0.0"
    port = 8080

    [sip]
    host = "192.0.2.10"
    port = 5060

    [database]
    url = "postgresql+asyncpg://hotline:secret@db/hotline"

Environment variables name a key by its path joined with ``_`` (``HOTLINE_HTTP_PORT``,
``HOTLINE_DATABASE_URL``, ``HOTLINE_DATA_DIR``).

Any error names the source (file path or variable), the key and the reason, and stops start-up.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ConfigError(Exception):
    """A configuration value is wrong. ``str()`` names the source, the key and the reason."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        super().__init__(f"{source}: {key}: {reason}" if key else f"{source}: {reason}")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    #: Public base URL printed to operators; derived from host/port when empty.
    public_url: str = ""


DigestAlgorithm = Literal["MD5", "SHA-256"]
_MD5_ONLY: tuple[DigestAlgorithm, ...] = ("MD5",)


class SipSettings(_Section):
    #: Run the SIP server (and the call path) inside `hotline serve`.
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(5060, ge=0, le=65535)
    #: National trunk prefix and country code used to normalise numbers.
    national_prefix: str = "0"
    country_code: str = "86"
    #: Seconds between OPTIONS pings to registered phones (0: never).
    keepalive_interval: float = Field(30.0, ge=0)
    #: Digest algorithms offered in challenges, in order. MD5 alone by default: older phones
    #: (baresip 1.0, many desk phones) reject the whole challenge when they meet SHA-256.
    digest_algorithms: list[DigestAlgorithm] = Field(default_factory=lambda: list(_MD5_ONLY), min_length=1)
    #: Seconds an extension rings before the caller hears "unavailable".
    ring_timeout: float = Field(60.0, gt=0, le=600)
    #: Where calls to outside numbers go (callbacks, IVR transfers): a SIP URI template such as
    #: ``sip:{number}@gw.example:5060`` (empty: no outside calls; callbacks read the number to
    #: the agent instead).
    outbound_trunk: str = ""


class MediaSettings(_Section):
    #: Address the RTP sockets bind to, and the one written into SDP (default: the bind address).
    host: str = "127.0.0.1"
    advertise: str = ""
    port_min: int = Field(20000, ge=1024, le=65534)
    port_max: int = Field(29999, ge=1025, le=65535)
    #: Hang up a call after this many seconds without any RTP from a leg (0: never).
    media_timeout: float = Field(30.0, ge=0)
    #: Record every bridged call (recordings/YYYY-MM-DD/<call-id>.wav under the data directory).
    record_calls: bool = True


class DatabaseSettings(_Section):
    #: Empty means SQLite at ``<data_dir>/hotline.db``.
    url: str = ""
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _known_driver(cls, v: str) -> str:
        if v and not (v.startswith("sqlite+aiosqlite://") or v.startswith("postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (async drivers only)"
            )
        return v


class SecuritySettings(_Section):
    #: Failed logins before a user is locked out, and for how long.
    lockout_threshold: int = Field(5, ge=1, le=100)
    lockout_minutes: int = Field(15, ge=1, le=24 * 60)
    #: Lifetime of API bearer tokens and browser sessions.
    token_hours: float = Field(12, gt=0, le=24 * 30)
    session_hours: float = Field(12, gt=0, le=24 * 30)
    password_min_length: int = Field(10, ge=8, le=128)
    #: Mark the session cookie Secure (set when served behind HTTPS).
    secure_cookies: bool = False


class UtilitySettings(_Section):
    #: the billing system: "builtin" (data in Hotline's database) or "package.module:factory"
    #: (an adapter to the utility's own CIS; see hotline/utility/backend.py)
    backend: str = "builtin"
    #: how long the IVR waits for the billing system before apologising and routing to an agent
    timeout_seconds: float = Field(3.0, gt=0, le=60)


class CrmSettings(_Section):
    #: file holding the 32-byte key protecting customers' ID numbers (empty:
    #: ``<data_dir>/keys/customer-id.key``, created with mode 0600 on first use; see hotline/crm/protect.py)
    id_key_file: str = ""


class TicketsSettings(_Section):
    #: largest attachment accepted (bytes); bigger uploads get 413
    max_attachment_bytes: int = Field(10 * 1024 * 1024, gt=0, le=1024 * 1024 * 1024)
    #: content types accepted for attachments (checked against the file's magic bytes too)
    attachment_types: list[str] = Field(
        default_factory=lambda: [
            "image/jpeg",
            "image/png",
            "image/webp",
            "application/pdf",
            "audio/wav",
            "audio/mpeg",
            "text/plain",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ]
    )
    #: a complaint (or opinion) within this many days of an earlier one of the same customer and
    #: type is a repeat: linked to it and counted
    repeat_days: int = Field(30, ge=0, le=3650)
    #: types whose new orders are checked for repeats
    repeat_types: list[str] = Field(default_factory=lambda: ["complaint", "opinion"])
    #: how often the deadline scheduler looks for due timers (seconds)
    scheduler_poll_seconds: float = Field(0.5, gt=0, le=60)
    #: uploads never attached to an order are removed after this many hours (row and bytes)
    upload_max_age_hours: float = Field(24.0, gt=0, le=24 * 366)


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    json_format: bool = Field(False, alias="json")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Settings(_Section):
    data_dir: Path = Path("var")
    http: HttpSettings = Field(default_factory=HttpSettings)
    sip: SipSettings = Field(default_factory=SipSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    log: LogSettings = Field(default_factory=LogSettings)
    utility: UtilitySettings = Field(default_factory=UtilitySettings)
    crm: CrmSettings = Field(default_factory=CrmSettings)
    tickets: TicketsSettings = Field(default_factory=TicketsSettings)

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'hotline.db').resolve()}"

    @property
    def base_url(self) -> str:
        if self.http.public_url:
            return self.http.public_url.rstrip("/")
        host = self.http.host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - only formatting a URL
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.http.port}"


ENV_PREFIX = "HOTLINE_"

# Flat names accepted from the environment and from flags → path in Settings.
_ENV_KEYS: dict[str, tuple[str, ...]] = {
    "DATA_DIR": ("data_dir",),
    "HTTP_HOST": ("http", "host"),
    "HTTP_PORT": ("http", "port"),
    "HTTP_PUBLIC_URL": ("http", "public_url"),
    "SIP_HOST": ("sip", "host"),
    "SIP_PORT": ("sip", "port"),
    "SIP_NATIONAL_PREFIX": ("sip", "national_prefix"),
    "SIP_COUNTRY_CODE": ("sip", "country_code"),
    "SIP_ENABLED": ("sip", "enabled"),
    "MEDIA_HOST": ("media", "host"),
    "MEDIA_ADVERTISE": ("media", "advertise"),
    "MEDIA_PORT_MIN": ("media", "port_min"),
    "MEDIA_PORT_MAX": ("media", "port_max"),
    "DATABASE_URL": ("database", "url"),
    "DATABASE_ECHO": ("database", "echo"),
    "SECURITY_LOCKOUT_THRESHOLD": ("security", "lockout_threshold"),
    "SECURITY_LOCKOUT_MINUTES": ("security", "lockout_minutes"),
    "SECURITY_TOKEN_HOURS": ("security", "token_hours"),
    "SECURITY_SESSION_HOURS": ("security", "session_hours"),
    "SECURITY_PASSWORD_MIN_LENGTH": ("security", "password_min_length"),
    "SECURITY_SECURE_COOKIES": ("security", "secure_cookies"),
    "UTILITY_BACKEND": ("utility", "backend"),
    "UTILITY_TIMEOUT_SECONDS": ("utility", "timeout_seconds"),
    "CRM_ID_KEY_FILE": ("crm", "id_key_file"),
    "TICKETS_MAX_ATTACHMENT_BYTES": ("tickets", "max_attachment_bytes"),
    "TICKETS_REPEAT_DAYS": ("tickets", "repeat_days"),
    "TICKETS_SCHEDULER_POLL_SECONDS": ("tickets", "scheduler_poll_seconds"),
    "TICKETS_UPLOAD_MAX_AGE_HOURS": ("tickets", "upload_max_age_hours"),
    "LOG_LEVEL": ("log", "level"),
    "LOG_JSON": ("log", "json"),
}


def _set_path(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def _validate(tree: dict[str, Any], source: str) -> Settings:
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        reason = err["msg"]
        if err["type"] == "extra_forbidden":
            reason = "unknown key"
        raise ConfigError(source, key, reason) from None


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build settings from defaults, an optional TOML file, the environment and flag overrides.

    ``overrides`` uses the flat environment names without prefix in lower case
    (``{"http_port": 8081}``); ``None`` values are ignored.
    """
    tree: dict[str, Any] = {}
    if config_file is not None:
        src = str(config_file)
        try:
            raw = config_file.read_bytes()
        except OSError as exc:
            raise ConfigError(src, "", f"cannot read file: {exc.strerror}") from None
        try:
            tree = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(src, "", "file is not UTF-8") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(src, "", f"invalid TOML: {exc}") from None
        _validate(tree, src)
    env = os.environ if environ is None else environ
    for name, path in _ENV_KEYS.items():
        var = ENV_PREFIX + name
        if var in env:
            _set_path(tree, path, env[var])
            _validate(tree, f"environment variable {var}")
    for key in env:
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :] not in _ENV_KEYS:
            raise ConfigError(f"environment variable {key}", key, "unknown setting")
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        flag_path = _ENV_KEYS.get(name.upper())
        if flag_path is None:
            raise ConfigError("command line", name, "unknown setting")
        _set_path(tree, flag_path, value)
        _validate(tree, f"command line option --{name.replace('_', '-')}")
    return _validate(tree, "configuration")
