"""What the tracker needs to know about this PBX: which endpoints are extensions, time zone, tenant, rating."""

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
