"""The agent's metrics and their Prometheus text (docs/operations.md lists them)."""

from __future__ import annotations

import re

from agent.metrics import Metrics

# Every family /metrics shows: name -> (type, HELP text, label names). The names, labels and help texts are the
# interface dashboards and alerts are written against: a change here is a change for every operator.
FAMILIES = {
    "event_agent_ami_events_total": ("counter", "AMI events received", ()),
    "event_agent_ami_connected": ("gauge", "1 while logged in to the AMI", ()),
    "event_agent_system_events_total": ("counter", "System events emitted, by event", ("event",)),
    "event_agent_pump_errors_total": ("counter", "AMI events the pump failed to process", ()),
    "event_agent_deliveries_enqueued_total": ("counter", "Outbox rows created, by event", ("event",)),
    "event_agent_delivery_attempts_total": ("counter", "Delivery attempts, by outcome", ("outcome",)),
    "event_agent_deliveries_total": ("counter", "Finished deliveries, by final state", ("state",)),
    "event_agent_delivery_duration_seconds": ("histogram", "Duration of one delivery attempt", ()),
    "event_agent_outbox_depth": ("gauge", "Deliveries waiting to be sent", ()),
    "event_agent_calls_in_progress": ("gauge", "Calls the tracker follows", ()),
    "event_agent_store_ok": ("gauge", "1 while the database accepts the agent's writes", ()),
    "event_agent_store_backlog": ("gauge", "System events held in memory while the database refuses writes", ()),
    "event_agent_system_events_dropped_total": ("counter", "System events dropped because the backlog was full",
                                                ()),
    "event_agent_tracker_log_pending": ("gauge", "AMI frames and call closes not yet written to the tracker log",
                                        ()),
}
HISTOGRAM = "event_agent_delivery_duration_seconds"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, float("inf"))
_SAMPLE = re.compile(r'(?P<name>[a-z_]+)(?:\{(?P<labels>.*)\})? (?P<value>\S+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def families(text: str) -> dict[str, tuple[str, str]]:
    """name -> (type, help) from the HELP and TYPE lines."""
    helps = dict(line[7:].split(" ", 1) for line in text.splitlines() if line.startswith("# HELP "))
    types = dict(line[7:].split(" ", 1) for line in text.splitlines() if line.startswith("# TYPE "))
    assert helps.keys() == types.keys()
    return {name: (types[name], helps[name]) for name in helps}


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Each sample line as (name, labels, value)."""
    found = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            match = _SAMPLE.fullmatch(line)
            assert match is not None, line
            labels = dict(_LABEL.findall(match["labels"] or ""))
            found.append((match["name"], labels, float(match["value"])))
    return found


def touched() -> Metrics:
    """A registry where every metric has been used once, so each family shows its samples."""
    metrics = Metrics()
    for counter in (metrics.ami_events, metrics.pump_errors, metrics.events_dropped):
        counter.inc()
    metrics.system_events.inc("call_answered")
    metrics.enqueued.inc("call_answered")
    metrics.attempts.inc("ok")
    metrics.deliveries.inc("delivered")
    metrics.latency.observe(0.2)
    return metrics


class TestExposition:
    def test_every_family(self) -> None:
        """Given every metric used, when rendered, then exactly the agent's families show, with their type and
        help text."""
        assert families(touched().render()) == {name: (kind, text) for name, (kind, text, _) in FAMILIES.items()}

    def test_every_series_and_its_labels(self) -> None:
        """Given every metric used, when rendered, then each family's samples carry exactly its label names
        (the histogram: `le` on its buckets, none on sum and count)."""
        series = {(name, tuple(sorted(labels))) for name, labels, _ in samples(touched().render())}
        expected = {(name, labels) for name, (kind, _, labels) in FAMILIES.items() if kind != "histogram"}
        expected |= {(f"{HISTOGRAM}_bucket", ("le",)), (f"{HISTOGRAM}_sum", ()), (f"{HISTOGRAM}_count", ())}
        assert series == expected

    def test_histogram_buckets(self) -> None:
        """Given observations, when rendered, then the buckets are cumulative at the fixed bounds, with sum and
        count."""
        metrics = Metrics()
        for value in (0.004, 0.1, 0.5, 31.0):
            metrics.latency.observe(value)
        found = {(name, labels.get("le")): value for name, labels, value in samples(metrics.render())
                 if name.startswith(HISTOGRAM)}
        buckets = {float(le): value for (name, le), value in found.items() if le is not None}
        assert buckets == dict(zip(BUCKETS, (1, 1, 1, 1, 2, 2, 3, 3, 3, 3, 3, 3, 4), strict=True))
        assert (found[(f"{HISTOGRAM}_sum", None)], found[(f"{HISTOGRAM}_count", None)]) == (31.604, 4)

    def test_label_values_escaped(self) -> None:
        """Given a label value with a quote, a backslash and a newline, when rendered, then it is escaped."""
        metrics = Metrics()
        metrics.system_events.inc('a"b\\c\nd')
        assert 'event_agent_system_events_total{event="a\\"b\\\\c\\nd"} 1' in metrics.render()


class TestValues:
    def test_counters(self) -> None:
        """Given increments by label, then value, snapshot and the status counters read them back."""
        metrics = Metrics()
        metrics.deliveries.inc("delivered")
        metrics.deliveries.inc("delivered")
        metrics.deliveries.inc("failed", amount=3)
        metrics.ami_events.inc()
        assert (metrics.deliveries.value("delivered"), metrics.deliveries.value("expired")) == (2, 0)
        assert metrics.deliveries.snapshot() == {"delivered": 2, "failed": 3}
        assert metrics.counters() == {"ami_events": 1, "pump_errors": 0, "system_events": {}, "delivery_attempts": {},
                                      "deliveries": {"delivered": 2, "failed": 3}}

    def test_gauge_follows(self) -> None:
        """Given a gauge following a callback, when rendered, then it shows the callback's value at that time."""
        depth = [3]
        metrics = Metrics()
        metrics.outbox_depth.follow(lambda: depth[0])
        depth[0] = 7
        assert ("event_agent_outbox_depth", {}, 7.0) in samples(metrics.render())

    def test_store_ok_until_told(self) -> None:
        """Given a new registry, then the store shows as accepting writes."""
        assert ("event_agent_store_ok", {}, 1.0) in samples(Metrics().render())

    def test_registries_are_separate(self) -> None:
        """Given two agents in one process, then each counts only its own events."""
        first, second = Metrics(), Metrics()
        first.ami_events.inc()
        assert (first.ami_events.value(), second.ami_events.value()) == (1, 0)
        assert ("event_agent_ami_events_total", {}, 0.0) in samples(second.render())
