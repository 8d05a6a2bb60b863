"""Every metric of the agent, on prometheus-client, rendered as the Prometheus text exposition (served at
/metrics, no secrets; docs/operations.md lists them).

Each `Metrics` has its own `CollectorRegistry` (never the library's global one), so that two agents in one
process (tests) count apart. The small wrappers keep the agent's calls short: `inc(label_value)` on a counter
split by one label, `follow(read)` on a gauge read at render time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import prometheus_client
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Counter:
    """A monotonically increasing count, optionally split by one label."""

    def __init__(self, registry: CollectorRegistry, name: str, help_text: str, label: str = "") -> None:
        self._name, self._label = name, label
        self._counter = prometheus_client.Counter(name, help_text, (label,) if label else (), registry=registry)
        self._children: dict[str, prometheus_client.Counter] = {}  # by label value: `labels()` costs a lock

    def inc(self, label_value: str = "", amount: float = 1.0) -> None:
        child = self._children.get(label_value)
        if child is None:
            child = self._children[label_value] = self._counter.labels(label_value) if self._label else self._counter
        child.inc(amount)

    def value(self, label_value: str = "") -> float:
        return self.snapshot().get(label_value, 0.0)

    def snapshot(self) -> dict[str, float]:
        """The count of each label value seen so far (of "" when the counter has no label)."""
        return {sample.labels.get(self._label, ""): sample.value for family in self._counter.collect()
                for sample in family.samples if sample.name == self._name}


class Gauge:
    """A value that goes up and down, or is read from a callback at render time (`follow`)."""

    def __init__(self, registry: CollectorRegistry, name: str, help_text: str) -> None:
        self._gauge = prometheus_client.Gauge(name, help_text, registry=registry)

    def set(self, value: float) -> None:
        self._gauge.set(value)

    def follow(self, read: Callable[[], float]) -> None:
        """Read the value from `read` at render time from now on."""
        self._gauge.set_function(lambda: float(read()))


class Histogram:
    """Observed values (seconds) in cumulative buckets, with their sum and count."""

    def __init__(self, registry: CollectorRegistry, name: str, help_text: str,
                 buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self._histogram = prometheus_client.Histogram(name, help_text, buckets=buckets, registry=registry)

    def observe(self, value: float) -> None:
        self._histogram.observe(value)


class _Exposed:
    """The registry as /metrics shows it: without the `_created` series prometheus-client adds to counters and
    histograms (the exposition keeps the series it always had; nothing reads a creation time)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            kept = Metric(family.name, family.documentation, family.type, family.unit)
            kept.samples = [sample for sample in family.samples if not sample.name.endswith("_created")]
            yield kept


class Metrics:
    """Every metric of the agent, in one registry of its own."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.ami_events = Counter(registry, "event_agent_ami_events_total", "AMI events received")
        self.ami_connected = Gauge(registry, "event_agent_ami_connected", "1 while logged in to the AMI")
        self.system_events = Counter(registry, "event_agent_system_events_total", "System events emitted, by event",
                                     "event")
        self.pump_errors = Counter(registry, "event_agent_pump_errors_total", "AMI events the pump failed to process")
        self.enqueued = Counter(registry, "event_agent_deliveries_enqueued_total", "Outbox rows created, by event",
                                "event")
        self.attempts = Counter(registry, "event_agent_delivery_attempts_total", "Delivery attempts, by outcome",
                                "outcome")
        self.deliveries = Counter(registry, "event_agent_deliveries_total", "Finished deliveries, by final state",
                                  "state")
        self.latency = Histogram(registry, "event_agent_delivery_duration_seconds", "Duration of one delivery attempt")
        self.outbox_depth = Gauge(registry, "event_agent_outbox_depth", "Deliveries waiting to be sent")
        self.calls_in_progress = Gauge(registry, "event_agent_calls_in_progress", "Calls the tracker follows")
        self.store_ok = Gauge(registry, "event_agent_store_ok", "1 while the database accepts the agent's writes")
        self.store_backlog = Gauge(registry, "event_agent_store_backlog",
                                   "System events held in memory while the database refuses writes")
        self.events_dropped = Counter(registry, "event_agent_system_events_dropped_total",
                                      "System events dropped because the backlog was full")
        self.tracker_log_pending = Gauge(registry, "event_agent_tracker_log_pending",
                                         "AMI frames and call closes not yet written to the tracker log")
        self.store_ok.set(1.0)

    def render(self) -> str:
        return prometheus_client.generate_latest(_Exposed(self.registry)).decode("utf-8")

    def counters(self) -> dict[str, object]:
        """Plain counters for the status endpoint."""
        return {
            "ami_events": self.ami_events.value(),
            "pump_errors": self.pump_errors.value(),
            "system_events": self.system_events.snapshot(),
            "delivery_attempts": self.attempts.snapshot(),
            "deliveries": self.deliveries.snapshot(),
        }
