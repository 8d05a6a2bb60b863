"""What the admin API reads from the settings: declared here, so that `agent/admin_api` imports nothing above it.

`agent/settings.py` (the pydantic boundary) has models of this shape; the daemon passes its `Settings` as is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from agent.ami.config import Secret


class AdminConfig(Protocol):
    """Where the admin API listens, its configured token and the host names it answers to (`EVENT_AGENT_ADMIN__*`)."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def token(self) -> Secret | None: ...
    @property
    def allowed_hosts(self) -> tuple[str, ...]: ...


class SampleConfig(Protocol):
    """The mapping values Save & Test uses for its sample system parameters (`date`, `time`, `tenant`)."""

    @property
    def timezone(self) -> str: ...
    @property
    def tenant(self) -> str: ...


class ApiSettings(Protocol):
    """The settings the admin API reads: its own section, the state directory (token file) and sample values."""

    @property
    def state_dir(self) -> Path: ...
    @property
    def admin(self) -> AdminConfig: ...
    @property
    def mapping(self) -> SampleConfig: ...
