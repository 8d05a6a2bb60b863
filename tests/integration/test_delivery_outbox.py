"""The sender's lanes: per (call, action) order, due times, retry and finish (pure)."""

from __future__ import annotations

from dataclasses import replace

from agent.store.model import RenderedRequest
from agent.store.records import Delivery
from agent.webhooks.outbox import Lanes

REQUEST = RenderedRequest("POST", "http://127.0.0.1/x")


def row(seq: int, call_id: str, action_id: int = 1, at: float = 0.0) -> Delivery:
    return Delivery(seq, seq, f"e{seq}", "call_hangup", call_id, action_id, "a", REQUEST, "final", 0, at, 1e9,
                    "pending", 0.0)


class TestLanes:
    def test_one_head_per_lane(self) -> None:
        """Given two rows of call A and one of B, when taking due rows, then A's second waits for its first."""
        lanes = Lanes()
        lanes.add([row(1, "A"), row(2, "A"), row(3, "B")])
        taken = [lanes.take_due(0.0), lanes.take_due(0.0), lanes.take_due(0.0)]
        assert [r.seq if r else None for r in taken] == [1, 3, None]
        assert (len(lanes), lanes.in_flight) == (3, 2)

    def test_finish_releases_next(self) -> None:
        """Given A's first row in flight, when it finishes, then A's second row becomes due."""
        lanes = Lanes()
        lanes.add([row(1, "A"), row(2, "A")])
        first = lanes.take_due(0.0)
        assert first is not None
        lanes.finish(first)
        second = lanes.take_due(0.0)
        assert second is not None
        assert second.seq == 2
        lanes.finish(second)
        assert (len(lanes), lanes.next_due_at()) == (0, None)

    def test_retry_keeps_order(self) -> None:
        """Given A's first row retried at t=5, when taking at t=1 and t=5, then nothing, then the same row."""
        lanes = Lanes()
        lanes.add([row(1, "A"), row(2, "A")])
        first = lanes.take_due(0.0)
        assert first is not None
        lanes.retry(replace(first, attempts=1, next_attempt_at=5.0))
        assert (lanes.take_due(1.0), lanes.next_due_at()) == (None, 5.0)
        again = lanes.take_due(5.0)
        assert again is not None
        assert (again.seq, again.attempts) == (1, 1)

    def test_actions_are_separate_lanes(self) -> None:
        """Given one call's rows for two actions, when taking, then both go out in parallel."""
        lanes = Lanes()
        lanes.add([row(1, "A", action_id=1), row(2, "A", action_id=2)])
        assert [r.seq for r in (lanes.take_due(0.0), lanes.take_due(0.0)) if r] == [1, 2]

    def test_due_order(self) -> None:
        """Given lanes due at 3, 1 and 2, when taking at 10, then the earliest comes first."""
        lanes = Lanes()
        lanes.add([row(1, "A", at=3.0), row(2, "B", at=1.0), row(3, "C", at=2.0)])
        assert [r.seq for r in iter(lambda: lanes.take_due(10.0), None)] == [2, 3, 1]
