"""The sender's in-memory view of the pending outbox: one lane per (call_id, action_id), in emission order.

Only a lane's head may be in flight, so one call's deliveries to one action go out in order while other lanes
proceed in parallel. A heap holds each idle lane's head by due time, so picking the next due delivery costs
O(log n) however many calls are waiting. `ready` counts the work at hand (heads never tried, which are due at
once, and heads in flight): the sender loads more rows from the database only while it is low. Pure data
structure: no I/O, time passed in.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable

from agent.store.records import Delivery

LaneKey = tuple[str, int]


def lane_of(row: Delivery) -> LaneKey:
    return (row.call_id, row.action_id)


class Lanes:
    """Pending deliveries by lane; `take_due` hands out a lane head, `finish`/`retry` give the lane back."""

    def __init__(self) -> None:
        self._lanes: dict[LaneKey, deque[Delivery]] = {}
        self._ready: list[tuple[float, int, LaneKey]] = []
        self._busy: set[LaneKey] = set()
        self._count = 0
        self._fresh = 0

    def __len__(self) -> int:
        """Rows waiting or in flight."""
        return self._count

    @property
    def in_flight(self) -> int:
        return len(self._busy)

    @property
    def ready(self) -> int:
        """Idle lane heads never tried yet (due at once) plus heads in flight; waiting retries do not count."""
        return self._fresh + len(self._busy)

    def add(self, rows: Iterable[Delivery]) -> None:
        """Append rows (in emission order) to their lanes; a new lane's head becomes ready at its due time."""
        for row in rows:
            key = lane_of(row)
            lane = self._lanes.setdefault(key, deque())
            lane.append(row)
            self._count += 1
            if len(lane) == 1:
                self._push(row)

    def next_due_at(self) -> float | None:
        """When the earliest idle lane head is due, or None when nothing waits."""
        return self._ready[0][0] if self._ready else None

    def take_due(self, now: float) -> Delivery | None:
        """The earliest lane head due by `now`, marked in flight; None when none is due."""
        if not self._ready or self._ready[0][0] > now:
            return None
        _, _, key = heapq.heappop(self._ready)
        self._busy.add(key)
        head = self._lanes[key][0]
        self._fresh -= 1 if head.attempts == 0 else 0
        return head

    def finish(self, row: Delivery) -> None:
        """The in-flight head `row` is done (delivered, failed or expired): the lane's next row becomes ready."""
        key = lane_of(row)
        self._busy.discard(key)
        lane = self._lanes[key]
        lane.popleft()
        self._count -= 1
        if lane:
            self._push(lane[0])
        else:
            del self._lanes[key]

    def retry(self, row: Delivery) -> None:
        """The in-flight head is to be tried again: `row` (with new attempts and due time) replaces it."""
        key = lane_of(row)
        self._busy.discard(key)
        self._lanes[key][0] = row
        self._push(row)

    def _push(self, row: Delivery) -> None:
        self._fresh += 1 if row.attempts == 0 else 0
        heapq.heappush(self._ready, (row.next_attempt_at, row.seq, lane_of(row)))
