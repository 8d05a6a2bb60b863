"""Skimming (agent/mapping/tracker.skim with agent/ami/wire.FrameDecoder): the AMI client does not parse the
frames the tracker never reads (most of a real PBX's stream is VarSet). It must change nothing the tracker
emits: checked over every golden fixture, each decoded in full and skimmed, fed to two trackers."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.ami.events import AmiEvent
from agent.ami.wire import FrameDecoder
from agent.devtools.replay import fixture_config
from agent.devtools.trace import normalise_line_endings
from agent.mapping.tracker import CallTracker, skim
from tests.support.tracker import GOLDEN, comparable


def decoded(trace: Path, decoder: FrameDecoder) -> list[AmiEvent]:
    frames = decoder.feed_events(normalise_line_endings(trace.read_bytes()) + b"\r\n\r\n", 1795872000.0)
    return [frame for frame in frames if frame.name]


def emitted(trace: Path, events: list[AmiEvent]) -> list[tuple[str, str, dict[str, str]]]:
    tracker = CallTracker(fixture_config(trace))
    return comparable(system for event in events for system in tracker.feed(event))


@pytest.mark.parametrize("trace", GOLDEN, ids=[t.stem for t in GOLDEN])
def test_skimming_changes_no_system_event(trace: Path) -> None:
    """Given a fixture, when its frames are decoded in full and with skimming, then the trackers emit the same
    system events, and every skimmed event keeps its name and Timestamp."""
    full = decoded(trace, FrameDecoder())
    light = decoded(trace, FrameDecoder(skim=skim))
    assert [e.name for e in light] == [e.name for e in full]
    assert [e.get("Timestamp") for e in light] == [e.get("Timestamp") for e in full]
    assert emitted(trace, light) == emitted(trace, full)


def test_skimming_is_used_on_the_fixtures() -> None:
    """Given every fixture, then a large share of their events is skimmed (the check above is not vacuous)."""
    events = [event for trace in GOLDEN for event in decoded(trace, FrameDecoder(skim=skim))]
    skimmed = [event for event in events if len(event.headers) <= 2]
    assert len(skimmed) > len(events) // 4


class TestSkim:
    def test_what_is_skimmed(self) -> None:
        """Given frames, then unread variables, dialplan steps and noise are skimmed; what the tracker reads is
        not, nor is any frame whose first header is not its Event (it is parsed in full, to be safe)."""
        assert skim(b"Event: VarSet\r\nUniqueid: 1.1\r\nVariable: RTPAUDIOQOS\r\nValue: x") == "VarSet"
        assert skim(b"Event: VarSet\r\nUniqueid: 1.1\r\nVariable: DIALSTATUS\r\nValue: BUSY") == ""
        assert skim(b"Event: VarSet\r\nUniqueid: 1.1\r\nVariable: TENANT\r\nValue: acme") == ""
        assert skim(b"Event: Newexten\r\nApplication: NoOp\r\nAppData: x") == "Newexten"
        assert skim(b"Event: Newexten\r\nApplication: Dial\r\nAppData: PJSIP/202") == ""
        assert skim(b"Event: RTCPSent\r\nChannel: PJSIP/201-00000001") == "RTCPSent"
        assert skim(b"Event: Newchannel\r\nChannel: PJSIP/201-00000001") == ""
        assert skim(b"Variable: RTPAUDIOQOS\r\nEvent: VarSet\r\nValue: x") == ""
        assert skim(b"Response: Success\r\nActionID: 1") == ""
