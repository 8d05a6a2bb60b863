"""A small metrics registry rendered as the Prometheus text exposition (served at /metrics, no secrets).

Counters by label, gauges (set, or read from a callback at render time) and one latency histogram.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator

LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _labels(name: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{{{name}="{escaped}"}}' if name else ""


class Counter:
    """A monotonically increasing count, optionally split by one label."""

    def __init__(self, name: str, help_text: str, label: str = "") -> None:
        self.name, self.help, self.label = name, help_text, label
        self._values: dict[str, float] = {}

    def inc(self, label_value: str = "", amount: float = 1.0) -> None:
        self._values[label_value] = self._values.get(label_value, 0.0) + amount

    def value(self, label_value: str = "") -> float:
        return self._values.get(label_value, 0.0)

    def snapshot(self) -> dict[str, float]:
        return dict(self._values)

    def lines(self) -> Iterator[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for label_value, value in sorted(self._values.items()):
            yield f"{self.name}{_labels(self.label, label_value)} {value:g}"


class Gauge:
    """A value that goes up and down; `read`, when given, is called at render time."""

    def __init__(self, name: str, help_text: str, read: Callable[[], float] | None = None) -> None:
        self.name, self.help, self._read = name, help_text, read
        self._value = 0.0

    def set(self, value: float) -> None:
        self._value = value

    def follow(self, read: Callable[[], float]) -> None:
        """Read the value from `read` at render time from now on."""
        self._read = read

    def value(self) -> float:
        return float(self._read()) if self._read else self._value

    def lines(self) -> Iterator[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        yield f"{self.name} {self.value():g}"


class Histogram:
    """Observed values (seconds) in cumulative buckets, with their sum and count."""

    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.name, self.help, self.buckets = name, help_text, buckets
        self._counts = [0] * (len(buckets) + 1)
        self._sum = 0.0

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self.buckets, value)] += 1
        self._sum += value

    @property
    def count(self) -> int:
        return sum(self._counts)

    def lines(self) -> Iterator[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        running = 0
        for bound, count in zip((*self.buckets, float("inf")), self._counts, strict=True):
            running += count
            edge = "+Inf" if bound == float("inf") else f"{bound:g}"
            yield f'{self.name}_bucket{{le="{edge}"}} {running}'
        yield f"{self.name}_sum {self._sum:g}"
        yield f"{self.name}_count {running}"


class Metrics:
    """Every metric of the agent."""

    def __init__(self) -> None:
        self.ami_events = Counter("event_agent_ami_events_total", "AMI events received")
        self.ami_connected = Gauge("event_agent_ami_connected", "1 while logged in to the AMI")
        self.system_events = Counter("event_agent_system_events_total", "System events emitted, by event", "event")
        self.pump_errors = Counter("event_agent_pump_errors_total", "AMI events the pump failed to process")
        self.enqueued = Counter("event_agent_deliveries_enqueued_total", "Outbox rows created, by event", "event")
        self.attempts = Counter("event_agent_delivery_attempts_total", "Delivery attempts, by outcome", "outcome")
        self.deliveries = Counter("event_agent_deliveries_total", "Finished deliveries, by final state", "state")
        self.latency = Histogram("event_agent_delivery_duration_seconds", "Duration of one delivery attempt")
        self.outbox_depth = Gauge("event_agent_outbox_depth", "Deliveries waiting to be sent")
        self.calls_in_progress = Gauge("event_agent_calls_in_progress", "Calls the tracker follows")
        self.store_ok = Gauge("event_agent_store_ok", "1 while the database accepts the agent's writes")
        self.store_backlog = Gauge("event_agent_store_backlog",
                                   "System events held in memory while the database refuses writes")
        self.events_dropped = Counter("event_agent_system_events_dropped_total",
                                      "System events dropped because the backlog was full")
        self.tracker_log_pending = Gauge("event_agent_tracker_log_pending",
                                         "AMI frames and call closes not yet written to the tracker log")
        self.store_ok.set(1.0)

    def _all(self) -> tuple[Counter | Gauge | Histogram, ...]:
        return (self.ami_events, self.ami_connected, self.system_events, self.pump_errors, self.enqueued,
                self.attempts, self.deliveries, self.latency, self.outbox_depth, self.calls_in_progress,
                self.store_ok, self.store_backlog, self.events_dropped, self.tracker_log_pending)

    def render(self) -> str:
        return "\n".join(line for metric in self._all() for line in metric.lines()) + "\n"

    def counters(self) -> dict[str, object]:
        """Plain counters for the status endpoint."""
        return {
            "ami_events": self.ami_events.value(),
            "pump_errors": self.pump_errors.value(),
            "system_events": self.system_events.snapshot(),
            "delivery_attempts": self.attempts.snapshot(),
            "deliveries": self.deliveries.snapshot(),
        }
