"""Now, on the AMI clock (docs/call-model.md "One clock").

Every time a call carries comes from its AMI events: the `Timestamp` header, else the receive time. Housekeeping
that needs "now" (the stuck-call expiry) must read the same clock, not the bare wall clock: a simulator replaying
a recording from days ago, or a PBX whose clock is off, would otherwise look as if every call in progress had
started days ago, and each housekeeping tick would expire them all. So "now" is the time of the latest AMI event
seen plus the wall time elapsed since that event arrived: the wall clock moved by the offset between the two
clocks that the latest event showed. Before any event it is the wall clock.

Once events carry a Timestamp (manager.conf `timestampevents = yes`), one without (Asterisk's FullyBooted at each
login) does not move the clock back to the receive time: its time would be on the other clock.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.ami.events import AmiEvent


class AmiClock:
    """`now()` on the AMI clock; `seen(event)` for each event taken from the queue, in order."""

    def __init__(self, wall: Callable[[], float]) -> None:
        self._wall = wall
        self._latest: AmiEvent | None = None

    def seen(self, event: AmiEvent) -> None:
        latest = self._latest  # the offset is computed when asked: nothing is parsed per event
        if latest is None or "Timestamp" in event.headers or "Timestamp" not in latest.headers:
            self._latest = event

    @property
    def offset(self) -> float:
        """The AMI clock minus the wall clock, as the latest event showed (0 before any)."""
        latest = self._latest
        return 0.0 if latest is None else latest.time - latest.received_at

    def now(self) -> float:
        return self._wall() + self.offset

    def at(self, wall_time: float) -> float:
        """A moment of the wall clock (when the link was lost) on the AMI clock."""
        return wall_time + self.offset
