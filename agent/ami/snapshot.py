"""The answer to one CoreShowChannels action, collected within limits (docs/security.md, "Hostile AMI peers").

A real answer is `Response: Success` with `EventList: start`, one `CoreShowChannel` event per live channel, then
`CoreShowChannelsComplete`. A buggy or hostile peer can send entries forever, or flood events while the answer is
awaited (those are held back until it completes, docs/ami.md): the collection counts the channels, and what they
and the held events take in memory, and says when a limit is passed. The entries are kept as plain header maps
(about 2.4 kB for a real one), not as the frames they came in.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.ami.events import AmiEvent

DEFAULT_MAX_CHANNELS = 10_000
# What a parsed frame takes in memory, measured: FRAME_COST + its bytes + HEADER_COST per header (a dict slot, key
# and value objects): a Newstate event about 1,450 bytes; a real CoreShowChannel entry, kept as a header map
# without its bytes, about 2,400 (counted as 2,800: its values' length instead of its bytes).
FRAME_COST = 256
HEADER_COST = 128
CHANNEL_COST = 3072  # bytes allowed per channel of `max_channels`, on average
_MIB = 1024 * 1024
_LIST_KEYS = frozenset({"Event", "ActionID"})


def cost(frame: AmiEvent) -> int:
    """What a parsed frame takes in memory, about (see FRAME_COST)."""
    headers = len(frame.headers) + len(frame.variables) + len(frame.dest_variables)
    return FRAME_COST + len(frame.raw) + HEADER_COST * headers


@dataclass(frozen=True, slots=True)
class SnapshotLimits:
    """How large a resync may grow: `max_channels` entries, and `max_channels` x CHANNEL_COST bytes in all."""

    max_channels: int = DEFAULT_MAX_CHANNELS

    @property
    def max_cost(self) -> int:
        return self.max_channels * CHANNEL_COST


class Snapshot:
    """The channels of one CoreShowChannels answer so far, and the memory the resync holds."""

    def __init__(self, limits: SnapshotLimits) -> None:
        self._limits = limits
        self.entries: list[dict[str, str]] = []
        self.cost = 0

    def take(self, frame: AmiEvent) -> str:
        """Add one frame of the answer (a channel is kept); the reason to give up, or ""."""
        if frame.name == "CoreShowChannel":
            if len(self.entries) >= self._limits.max_channels:
                return (f"the CoreShowChannels answer has more than {self._limits.max_channels} channels "
                        "(EVENT_AGENT_AMI__RESYNC_MAX_CHANNELS)")
            entry = {key: value for key, value in frame.headers.items() if key not in _LIST_KEYS}
            self.entries.append(entry)
            return self._count(FRAME_COST + HEADER_COST * len(entry) + sum(map(len, entry.values())))
        return ""

    def hold(self, frame: AmiEvent) -> str:
        """Count one frame held while the answer is awaited; the reason to give up, or ""."""
        return self._count(cost(frame))

    def _count(self, added: int) -> str:
        self.cost += added
        if self.cost <= self._limits.max_cost:
            return ""
        return (f"the CoreShowChannels answer and the events that came with it take more than "
                f"{self._limits.max_cost // _MIB} MiB ({CHANNEL_COST // 1024} KiB per channel of "
                "EVENT_AGENT_AMI__RESYNC_MAX_CHANNELS)")
