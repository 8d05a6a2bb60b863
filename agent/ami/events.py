"""What travels from the AMI connection to the pump: events and connection changes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_EMPTY: Mapping[str, str] = MappingProxyType({})
# 9999-01-01T00:00:00Z: any later stamp would overflow a datetime in some time zone (`date`/`time` parameters).
_LAST_STAMP = 253370764800.0
# C0 and C1 control characters, DEL and the Unicode line and paragraph separators, as escapes.
_ESCAPES: Mapping[int, str] = MappingProxyType(
    {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
    | {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x2028: "\\u2028", 0x2029: "\\u2029"}
)


def printable(value: object) -> str:
    """A value from the PBX as it may go into a log line: control characters escaped (LF as `\\n`, ESC as
    `\\x1b`), so it can neither start a line of its own (journald splits on LF) nor drive a terminal. Everything
    else, accented caller names included, is unchanged (docs/security.md)."""
    return str(value).translate(_ESCAPES)


@dataclass(frozen=True, slots=True)
class AmiEvent:
    """One AMI event as received: its headers (first occurrence of each), channel variables and receive time.

    `variables` holds `ChanVariable: NAME=value` headers, `dest_variables` the `DestChanVariable` ones.
    `received_at` is the local receive time in epoch seconds (for replay: see agent.devtools.trace).
    `raw` is the frame as it came off the wire (empty when the event was built otherwise): the tracker log
    (agent/ingest/trackerlog.py) keeps it as it is, so logging an event costs no encoding.
    """

    headers: Mapping[str, str]
    received_at: float
    variables: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    dest_variables: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    raw: bytes = field(default=b"", repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.headers.get("Event", "")

    def get(self, key: str, default: str = "") -> str:
        return self.headers.get(key, default)

    @property
    def timestamp(self) -> float | None:
        """The `Timestamp` header (timestampevents = yes) as epoch seconds, if present and valid.

        Valid means a finite number between the epoch and the year 9999: anything else (`nan`, `inf`,
        `1e20`) would crash the date and duration arithmetic downstream, so it counts as absent.
        """
        raw = self.headers.get("Timestamp")
        if not raw:
            return None
        try:
            stamp = float(raw)
        except ValueError:
            return None
        return stamp if math.isfinite(stamp) and 0.0 <= stamp <= _LAST_STAMP else None

    @property
    def time(self) -> float:
        """When the event happened: its Timestamp, else the receive time."""
        stamp = self.timestamp
        return self.received_at if stamp is None else stamp


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    """The AMI link went down at `at` (epoch seconds); events may have been missed."""

    at: float
    reason: str


@dataclass(frozen=True, slots=True)
class ConnectionUp:
    """Logged in again at `at`; `channels` is the CoreShowChannels snapshot (one header map per channel).

    `channels` is None when there is no snapshot (Asterisk refused CoreShowChannels: the AMI user lacks
    `write = reporting`): nothing is known about which channels are live, which is not the same as an empty
    tuple (no channel live at all). `resync_at` is the resync moment: the Timestamp of the last event before
    the response (`stamped`), else the receive time, which the pump moves onto the AMI clock
    (docs/call-model.md "One clock").
    """

    at: float
    resync_at: float
    channels: tuple[Mapping[str, str], ...] | None
    stamped: bool = True


AmiMessage = AmiEvent | ConnectionLost | ConnectionUp


def uniqueid_epoch(uniqueid: str) -> float | None:
    """The creation epoch encoded in a Uniqueid (`[system-]epoch.seq`), or None."""
    tail = uniqueid.rsplit("-", 1)[-1]
    head = tail.split(".", 1)[0]
    return float(head) if head.isdigit() else None
