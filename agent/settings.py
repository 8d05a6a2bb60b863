"""Settings from the environment (prefix EVENT_AGENT_, nested with __) or an env file.

Built once at start and passed down. Invalid values raise SettingsError with one plain line per problem;
the CLI turns that into exit status 78 (EX_CONFIG), which systemd is told not to restart on.

This module is a leaf: it imports no agent module, and only the top of the layout (`agent/app.py`,
`agent/__main__.py`, `agent/cli/`, `agent/devtools/`) imports it. It is the trust boundary where environment text
becomes checked values (pydantic). Each package below declares, in its own terms, what it reads: a `Protocol`
of read-only attributes that these models satisfy as they are (`agent.ami.config.AmiConfig`,
`agent.webhooks.config.DeliveryConfig`, `agent.mapping.config.MappingValues` with `compile_mapping`,
`agent.admin_api.deps.ApiSettings`), or plain values handed down by the daemon (the housekeeping period, the
retention, the drain). So a package never depends on this file, and a setting is named once, here (its
documentation is docs/settings.md, checked against these models by a test).
"""

from __future__ import annotations

import json
import os
import re
import ssl
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

EX_CONFIG = 78
DEFAULT_EXTENSION_PATTERN = r"^\d{2,6}$"  # the tracker's default too (agent/mapping/config.py; a test checks)
Seconds = Annotated[float, Field(gt=0)]


class SettingsError(Exception):
    """The settings are invalid; `problems` holds one readable line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AmiSettings(_Section):
    """How to reach the Asterisk Manager Interface (over TLS with `tls`: manager.conf `tlsenable`, port 5039)."""

    host: str = "127.0.0.1"
    port: int = Field(5038, ge=1, le=65535)
    username: str = "event-agent"
    secret: SecretStr = SecretStr("")
    ping_interval: Seconds = 10.0
    connect_timeout: Seconds = 5.0
    reconnect_min: Seconds = 0.5
    reconnect_max: Seconds = 30.0
    resync_timeout: Seconds = 30.0
    resync_max_channels: int = Field(10_000, ge=1)
    tls: bool = False
    tls_ca_file: Path | None = None
    tls_verify: bool = True

    @model_validator(mode="before")
    @classmethod
    def _tls_port(cls, data: Any) -> Any:
        """With TLS and no port given, Asterisk's TLS port (manager.conf `tlsbindaddr`) is 5039."""
        tls = isinstance(data, dict) and str(data.get("tls", "")).lower() in {"1", "true", "yes", "on"}
        if tls and "port" not in data:
            return {**data, "port": 5039}
        return data

    @field_validator("tls_ca_file", mode="before")
    @classmethod
    def _no_ca_file(cls, value: Any) -> Any:
        return None if value == "" else value  # `TLS_CA_FILE=` in an env file: the system's CAs

    @field_validator("tls_ca_file")
    @classmethod
    def _ca_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                ssl.create_default_context(cafile=value)
            except ssl.SSLError:
                raise ValueError(f"no PEM certificate in {value}") from None
            except OSError as exc:
                raise ValueError(f"cannot read {value}: {exc.strerror or exc}") from None
        return value


MIN_TOKEN = 32


class AdminSettings(_Section):
    """The local admin API and web page (docs/security.md: token length, Host names)."""

    host: str = "127.0.0.1"
    port: int = Field(8088, ge=0, le=65535)
    token: SecretStr | None = None
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("token")
    @classmethod
    def _long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        length = len(token.get_secret_value()) if token is not None else 0
        if 0 < length < MIN_TOKEN:
            raise ValueError(f"too short ({length} characters): use at least {MIN_TOKEN} random characters, e.g. "
                             "from `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`, or leave it "
                             "unset to have one generated")
        return token

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _names(cls, value: object) -> object:
        """A comma-separated list (`pbx.example.com,admin.example.com`) or a JSON array."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return tuple(name.strip() for name in text.split(",") if name.strip())
        return value


class MappingSettings(_Section):
    """How AMI channels map to extensions, trunks, tenants and local time; how often the pump does housekeeping."""

    extension_pattern: str = DEFAULT_EXTENSION_PATTERN
    trunk_pattern: str | None = None
    extension_map: dict[str, str] = Field(default_factory=dict)
    timezone: str = "UTC"
    tenant: str = ""
    tenant_pattern: str | None = None
    stuck_call_timeout: Seconds = 4 * 3600.0
    housekeeping_interval: Seconds = 60.0

    @field_validator("extension_pattern", "trunk_pattern", "tenant_pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class DeliverySettings(_Section):
    """Webhook delivery: concurrency, timeouts, retry profiles, activity retention, shutdown drain."""

    concurrency: int = Field(20, ge=1, le=1000)
    connect_timeout: Seconds = 5.0
    total_timeout: Seconds = 15.0
    live_retry_window: Seconds = 30.0
    final_retry_window: Seconds = 86400.0
    retry_initial_delay: Seconds = 1.0
    retry_max_delay: Seconds = 900.0
    activity_retention_days: int = Field(30, ge=1)
    drain_grace_period: Seconds = 10.0


def _default_state_dir() -> Path:
    return Path(os.environ.get("STATE_DIRECTORY", "state"))


class Settings(BaseSettings):
    """Every setting of the agent. See docs/settings.md."""

    model_config = SettingsConfigDict(
        env_prefix="EVENT_AGENT_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    state_dir: Path = Field(default_factory=_default_state_dir)
    log_level: str = "INFO"
    ami: AmiSettings = AmiSettings()
    admin: AdminSettings = AdminSettings()
    mapping: MappingSettings = MappingSettings()
    delivery: DeliverySettings = DeliverySettings()

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return level


def load_settings(env_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from the environment (and `env_file`), or raise SettingsError."""
    if env_file is not None and not env_file.is_file():
        raise SettingsError([f"env file {env_file} does not exist"])
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        raise SettingsError([_describe(error) for error in exc.errors()]) from None


def _describe(error: Any) -> str:
    path = "__".join(str(part) for part in error["loc"]).upper()
    return f"EVENT_AGENT_{path}: {error['msg']}"
