"""What the tracker needs to know about this PBX: which endpoints are extensions, time zone, tenant, rating.

The mapping settings (`EVENT_AGENT_MAPPING__*`) are validated at the boundary, `agent/settings.py`, which imports
nothing of the agent; `compile_mapping` turns any object with their plain values (`MappingValues`) into the
`MappingConfig` the tracker reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

DEFAULT_EXTENSION_PATTERN = r"^\d{2,6}$"


@dataclass(frozen=True, slots=True)
class Rating:
    """The result of rating one call: its cost (decimal string, e.g. "0.12") and the billed seconds."""

    cost: str
    rated_seconds: int


class Rater(Protocol):
    """Prices a call to `number` that lasted `billable_seconds`; None when no rate applies."""

    def rate(self, number: str, billable_seconds: float) -> Rating | None: ...


class MappingValues(Protocol):
    """The mapping settings as plain values (docs/settings.md, `EVENT_AGENT_MAPPING__*`), already validated."""

    @property
    def extension_pattern(self) -> str: ...
    @property
    def trunk_pattern(self) -> str | None: ...
    @property
    def extension_map(self) -> Mapping[str, str]: ...
    @property
    def timezone(self) -> str: ...
    @property
    def tenant(self) -> str: ...
    @property
    def tenant_pattern(self) -> str | None: ...
    @property
    def stuck_call_timeout(self) -> float: ...


@dataclass(frozen=True, slots=True)
class MappingConfig:
    """The mapping settings (EVENT_AGENT_MAPPING__*), compiled."""

    extension_pattern: re.Pattern[str] = field(default_factory=lambda: re.compile(DEFAULT_EXTENSION_PATTERN))
    trunk_pattern: re.Pattern[str] | None = None
    extension_map: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    timezone: str = "UTC"
    tenant: str = ""
    tenant_pattern: re.Pattern[str] | None = None
    stuck_call_seconds: float = 4 * 3600.0


def compile_mapping(values: MappingValues) -> MappingConfig:
    """The tracker's configuration from the mapping settings: patterns compiled, the extension map frozen."""
    return MappingConfig(
        extension_pattern=re.compile(values.extension_pattern),
        trunk_pattern=re.compile(values.trunk_pattern) if values.trunk_pattern else None,
        extension_map=MappingProxyType(dict(values.extension_map)),
        timezone=values.timezone,
        tenant=values.tenant,
        tenant_pattern=re.compile(values.tenant_pattern) if values.tenant_pattern else None,
        stuck_call_seconds=values.stuck_call_timeout,
    )
