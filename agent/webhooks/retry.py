"""Retry policy (docs/delivery.md): classify an attempt's outcome and decide what happens to the delivery. Pure.

- 2xx: delivered.
- No response (connection error, timeout), 408, 429, 5xx: retried, honouring `Retry-After` (seconds or an
  HTTP date), else after an exponential delay (initial, doubled each attempt, capped).
- 3xx: redirects are not followed, so the delivery is given up; so is any other status.
- Live events (call_incoming, ringing) retry within `live_retry_window` of their creation, final events within
  `final_retry_window` (about a day); a retry that would fall after the window expires the delivery instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Literal

from agent.mapping.catalog import LIVE_EVENTS
from agent.store.records import OutboxState, Profile
from agent.webhooks.config import DeliveryConfig

Outcome = Literal["delivered", "retry", "give_up"]


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """One HTTP attempt: status (0 when no response), body or error text, duration, and Retry-After if sent."""

    status: int
    message: str
    duration_ms: float
    retry_after: str | None = None
    permanent: bool = False  # the request can never succeed as built (e.g. an invalid URL): no retry

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a delivery after an attempt: its new state, when to try next, and why."""

    state: OutboxState
    next_attempt_at: float
    reason: str


def classify(status: int) -> Outcome:
    """2xx delivered; no response (0), 408, 429 and 5xx retried; anything else (3xx, other 4xx) given up."""
    if 200 <= status <= 299:
        return "delivered"
    if status == 0 or status in (408, 429) or status >= 500:
        return "retry"
    return "give_up"


def retry_after_delay(value: str | None, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date), or None when absent/invalid."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The two retry profiles; build with `RetryPolicy.from_settings(settings.delivery)`."""

    initial_delay: float = 1.0
    max_delay: float = 900.0
    live_window: float = 30.0
    final_window: float = 86400.0

    @classmethod
    def from_settings(cls, delivery: DeliveryConfig) -> RetryPolicy:
        return cls(delivery.retry_initial_delay, delivery.retry_max_delay, delivery.live_retry_window,
                   delivery.final_retry_window)

    @staticmethod
    def profile_for(event: str) -> Profile:
        return "live" if event in LIVE_EVENTS else "final"

    def expires_at(self, profile: Profile, created_at: float) -> float:
        return created_at + (self.live_window if profile == "live" else self.final_window)

    def backoff(self, attempts: int) -> float:
        """The delay after the `attempts`-th failed attempt: initial, doubled each time, capped at max_delay."""
        exponent = min(max(attempts - 1, 0), 60)
        return min(self.max_delay, self.initial_delay * 2.0**exponent)

    def decide(self, result: AttemptResult, attempts: int, expires_at: float, now: float) -> Decision:
        """After the `attempts`-th attempt (counting this one) ended at `now` with `result`."""
        outcome = "give_up" if result.permanent else classify(result.status)
        if outcome == "delivered":
            return Decision("delivered", now, "delivered")
        if outcome == "give_up":
            why = "the request cannot be sent" if result.permanent else f"status {result.status} is not retried"
            return Decision("failed", now, f"given up: {why}")
        wait = retry_after_delay(result.retry_after, now)
        delay = self.backoff(attempts) if wait is None else wait
        if now + delay > expires_at:
            return Decision("expired", now, f"expired: no retry possible within the window (attempt {attempts})")
        return Decision("pending", now + delay, f"retry in {delay:g} s")
