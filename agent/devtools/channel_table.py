"""The live channels of a trace at some point, as CoreShowChannels would list them. Pure, no I/O.

The simulator feeds every event it has sent to a client through `ChannelTable.apply`, and answers that
client's `CoreShowChannels` with `snapshot()`: one entry per channel created (Newchannel, or first seen) and
not yet hung up, its latest channel fields, the application it runs (Newexten; `AppDial` for a channel dialed
by DialBegin), its bridge, and its age as `Duration` (H:MM:SS, from the trace's own clock).
"""

from __future__ import annotations

from collections.abc import Mapping

from agent.ami.events import uniqueid_epoch

CHANNEL_FIELDS = (
    "Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "ConnectedLineNum",
    "ConnectedLineName", "Language", "AccountCode", "Context", "Exten", "Priority", "Uniqueid", "Linkedid",
)  # fmt: skip
SNAPSHOT_FIELDS = (*CHANNEL_FIELDS, "Application", "ApplicationData", "Duration", "BridgeId")


class ChannelTable:
    """Channels by Uniqueid, updated event by event."""

    def __init__(self) -> None:
        self._channels: dict[str, dict[str, str]] = {}
        self._created: dict[str, float] = {}
        self._gone: set[str] = set()
        self.now: float | None = None

    def apply(self, headers: Mapping[str, str], stamp: float | None) -> None:
        """Take one event (its headers and Timestamp, if any) into account."""
        if stamp is not None:
            self.now = stamp
        name = headers.get("Event", "")
        own = self._update(headers, "", stamp)
        dest = self._update(headers, "Dest", stamp) if name.startswith("Dial") else None
        if name == "Hangup" and own is not None:
            self._hang_up(headers["Uniqueid"])
        elif name == "Newexten" and own is not None:
            own["Application"] = headers.get("Application", "")
            own["ApplicationData"] = headers.get("AppData", "")
        elif name == "DialBegin" and dest is not None and not dest.get("Application"):
            dest["Application"] = "AppDial"
            dest["ApplicationData"] = "(Outgoing Line)"
        elif name in ("BridgeEnter", "BridgeLeave") and own is not None:
            own["BridgeId"] = headers.get("BridgeUniqueid", "") if name == "BridgeEnter" else ""

    def snapshot(self) -> list[dict[str, str]]:
        """The live channels, oldest first, with every CoreShowChannel field."""
        return [self._entry(uniqueid, channel) for uniqueid, channel in self._channels.items()]

    def __len__(self) -> int:
        return len(self._channels)

    def _update(self, headers: Mapping[str, str], prefix: str, stamp: float | None) -> dict[str, str] | None:
        uniqueid = headers.get(prefix + "Uniqueid")
        if not uniqueid or uniqueid in self._gone or not headers.get(prefix + "Channel"):
            return None
        channel = self._channels.get(uniqueid)
        if channel is None:
            channel = self._channels[uniqueid] = {}
            self._created[uniqueid] = _created_at(uniqueid, stamp, self.now)
        for key in CHANNEL_FIELDS:
            value = headers.get(prefix + key)
            if value is not None:
                channel[key] = value
        return channel

    def _hang_up(self, uniqueid: str) -> None:
        self._gone.add(uniqueid)
        self._channels.pop(uniqueid, None)
        self._created.pop(uniqueid, None)

    def _entry(self, uniqueid: str, channel: dict[str, str]) -> dict[str, str]:
        now = self.now if self.now is not None else max(self._created.values())
        entry = {key: channel.get(key, "") for key in SNAPSHOT_FIELDS}
        entry["Duration"] = format_duration(now - self._created[uniqueid])
        return entry


def _created_at(uniqueid: str, stamp: float | None, now: float | None) -> float:
    if stamp is not None:
        return stamp
    epoch = uniqueid_epoch(uniqueid)
    if epoch is not None:
        return epoch
    return now or 0.0


def format_duration(seconds: float) -> str:
    """`H:MM:SS` as CoreShowChannel's Duration (zero-padded hours; negative clock skew counts as 0)."""
    whole = max(0, int(seconds))
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
