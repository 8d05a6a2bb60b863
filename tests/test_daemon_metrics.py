"""The metrics registry and its Prometheus text."""

from __future__ import annotations

from agent.metrics import Counter, Gauge, Histogram, Metrics


class TestMetrics:
    def test_counter(self) -> None:
        """Given a labelled counter, when incremented, then each label renders its own sample, escaped."""
        counter = Counter("x_total", "X.", "event")
        counter.inc("a")
        counter.inc("a")
        counter.inc('b"c')
        assert list(counter.lines()) == ["# HELP x_total X.", "# TYPE x_total counter", 'x_total{event="a"} 2',
                                         'x_total{event="b\\"c"} 1']

    def test_histogram(self) -> None:
        """Given observations, when rendered, then buckets are cumulative with sum and count."""
        histogram = Histogram("d_seconds", "D.", buckets=(0.1, 1.0))
        for value in (0.05, 0.1, 0.5, 3.0):
            histogram.observe(value)
        assert list(histogram.lines())[2:] == ['d_seconds_bucket{le="0.1"} 2', 'd_seconds_bucket{le="1"} 3',
                                               'd_seconds_bucket{le="+Inf"} 4', "d_seconds_sum 3.65",
                                               "d_seconds_count 4"]

    def test_gauge_follows(self) -> None:
        """Given a gauge following a callback, when rendered, then it shows the callback's value."""
        depth = [3]
        gauge = Gauge("g", "G.")
        gauge.set(1)
        gauge.follow(lambda: depth[0])
        depth[0] = 7
        assert list(gauge.lines())[-1] == "g 7"

    def test_registry(self) -> None:
        """Given the agent's registry, when rendered, then every metric has HELP and TYPE lines."""
        metrics = Metrics()
        metrics.deliveries.inc("delivered")
        text = metrics.render()
        assert text.count("# TYPE ") == 14
        assert 'event_agent_deliveries_total{state="delivered"} 1' in text
        assert metrics.counters()["deliveries"] == {"delivered": 1.0}
