"""What delivery reads from the settings: declared here, so that `agent/webhooks` imports nothing above it.

`agent/settings.py` (the pydantic boundary, `EVENT_AGENT_DELIVERY__*`) has a model of this shape; any object with
these attributes will do. Retention and the shutdown drain are read by the daemon (agent/app.py) and handed
down as plain values.
"""

from __future__ import annotations

from typing import Protocol


class DeliveryConfig(Protocol):
    """The sender's limits and the retry profiles (docs/delivery.md, docs/settings.md)."""

    @property
    def concurrency(self) -> int: ...
    @property
    def connect_timeout(self) -> float: ...
    @property
    def total_timeout(self) -> float: ...
    @property
    def retry_initial_delay(self) -> float: ...
    @property
    def retry_max_delay(self) -> float: ...
    @property
    def live_retry_window(self) -> float: ...
    @property
    def final_retry_window(self) -> float: ...
