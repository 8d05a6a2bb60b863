"""What the AMI connection reads from the settings: declared here, so that `agent/ami` imports nothing above it.

`agent/settings.py` (the pydantic boundary, `EVENT_AGENT_AMI__*`) has a model of exactly this shape; any object
with these attributes will do (tests build the settings model, tools may build their own).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Secret(Protocol):
    """A value kept out of reprs and logs (pydantic's `SecretStr`)."""

    def get_secret_value(self) -> str: ...


class AmiConfig(Protocol):
    """How to reach and watch the Asterisk Manager Interface, over TLS or not (docs/settings.md,
    `EVENT_AGENT_AMI__*`)."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def username(self) -> str: ...
    @property
    def secret(self) -> Secret: ...
    @property
    def ping_interval(self) -> float: ...
    @property
    def connect_timeout(self) -> float: ...
    @property
    def reconnect_min(self) -> float: ...
    @property
    def reconnect_max(self) -> float: ...
    @property
    def resync_timeout(self) -> float: ...
    @property
    def resync_max_channels(self) -> int: ...
    @property
    def tls(self) -> bool: ...
    @property
    def tls_ca_file(self) -> Path | None: ...
    @property
    def tls_verify(self) -> bool: ...
