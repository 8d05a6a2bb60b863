"""The manager.conf event filters of docs/install.md drop the floods and nothing the tracker needs.

The filters are applied here the way Asterisk applies exclude-only filters (an event matching any is dropped):
the `eventfilter = !regex` form, matched against the whole event text. Python's `re` reads these POSIX
expressions the same way (bracket lists, alternation, anchors; `.` across lines as POSIX does without
REG_NEWLINE).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import pytest

from agent.ami.wire import to_event
from agent.devtools.replay import as_line
from agent.devtools.trace import read_frames
from agent.mapping.config import MappingConfig
from agent.mapping.tracker import CallTracker
from tests.support.paths import ROOT

DOC = ROOT / "docs" / "install.md"
TRACES = ROOT / "tests" / "fixtures" / "ami_traces"
ASTERISK22 = sorted(path.name for path in TRACES.glob("[0-9][0-9]_*.ami"))

Frame = Sequence[tuple[str, str]]
Filter = Callable[[Frame], bool]


def _doc_lines(prefix: str) -> list[str]:
    return [line.strip() for line in DOC.read_text().splitlines() if line.strip().startswith(prefix)]


def _exclude_filter(line: str) -> Filter:
    expr = line.split("=", 1)[1].strip()
    assert expr.startswith("!"), "only exclude filters keep unknown events flowing"
    pattern = re.compile(expr[1:], re.DOTALL)
    return lambda frame: pattern.search("".join(f"{key}: {value}\r\n" for key, value in frame)) is not None


FILTERS = [_exclude_filter(line) for line in _doc_lines("eventfilter = ")]


def _events(name: str) -> list[Frame]:
    frames, _ = read_frames((TRACES / name).read_bytes())
    return [frame for frame in frames if dict(frame).get("Event")]


def _kept(frames: list[Frame], filters: list[Filter]) -> list[Frame]:
    return [frame for frame in frames if not any(matches(frame) for matches in filters)]


def _replay(frames: list[Frame]) -> list[str]:
    tracker = CallTracker(MappingConfig())
    return [as_line(event) for frame in frames for event in tracker.feed(to_event(list(frame), 0.0))]


def _frame(text: str) -> Frame:
    return [tuple(line.split(": ", 1)) for line in text.strip().splitlines()]  # type: ignore[misc]


DIALSTATUS = _frame("""
Event: VarSet
Privilege: dialplan,all
Channel: PJSIP/201-00000001
ChanVariable: TENANT=acme
Variable: DIALSTATUS
Value: CHANUNAVAIL
""")
DIAL = _frame("""
Event: Newexten
Privilege: dialplan,all
Channel: PJSIP/201-00000001
ChanVariable: TENANT=acme
Application: Dial
AppData: PJSIP/209,20
""")
NEWCHANNEL = _frame("""
Event: Newchannel
Privilege: call,all
Channel: PJSIP/201-00000001
ChanVariable: TENANT=acme
""")


class TestDocumentedEventFilters:
    def test_four_filters(self) -> None:
        """The document shows four exclude filters, in one form (`Event: RTCP` covers both RTCP events)."""
        assert len(FILTERS) == 4

    @pytest.mark.parametrize("trace", ASTERISK22)
    def test_tracker_output_unchanged(self, trace: str) -> None:
        """Given a recorded Asterisk 22 trace, the filtered stream gives exactly the same system events."""
        frames = _events(trace)
        assert _replay(_kept(frames, FILTERS)) == _replay(frames)

    def test_floods_dropped(self) -> None:
        """Given trace 13, every VarSet but DIALSTATUS, every Newexten but Dial, RTCP and device states are gone."""
        kept = [dict(frame) for frame in _kept(_events("13_load_mixed_35_calls.ami"), FILTERS)]
        assert {h["Variable"] for h in kept if h["Event"] == "VarSet"} == {"DIALSTATUS"}
        assert {h["Application"] for h in kept if h["Event"] == "Newexten"} == {"Dial"}
        assert not [h for h in kept if h["Event"].startswith("RTCP") or h["Event"] == "DeviceStateChange"]

    def test_failed_dial_kept(self) -> None:
        """Given the two events of a Dial to an unregistered phone (with channelvars TENANT), both pass."""
        assert _kept([DIAL, DIALSTATUS, NEWCHANNEL], FILTERS) == [DIAL, DIALSTATUS, NEWCHANNEL]

    @pytest.mark.parametrize("variable", ["DIALSTATU", "DIALSTATUSES", "BRIDGEPEER", "DIAL", "", "TENANT"])
    def test_other_varsets_dropped(self, variable: str) -> None:
        """Given a VarSet of any other variable (near misses included), it is dropped."""
        frame = [(key, variable if key == "Variable" else value) for key, value in DIALSTATUS]
        assert _kept([frame], FILTERS) == []


def test_doc_names_filters_and_classes() -> None:
    """The install page names the read classes, timestampevents, channelvars and write = reporting."""
    text = DOC.read_text()
    for needle in ("read = call,dialplan,agent", "timestampevents = yes", "channelvars = TENANT",
                   "write = reporting", "event-agent check-config"):
        assert needle in text


def test_every_class_explained() -> None:
    """Each read class check-config talks about has a row in the read class table."""
    from agent.cli.checkconfig import OPTIONAL_CLASSES, REQUIRED_CLASS

    rows: Mapping[str, str] = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)`.*$", DOC.read_text(), re.M)}
    assert {REQUIRED_CLASS, *OPTIONAL_CLASSES} <= set(rows)


def test_one_setup_in_the_docs() -> None:
    """The manager.conf user and its filters are shown once, on the install page, with one write class."""
    docs = {path.name: path.read_text() for path in (ROOT / "docs").glob("*.md")}
    docs["README.md"] = (ROOT / "README.md").read_text()
    assert [name for name, text in docs.items() if re.search(r"^\[event-agent\]$", text, re.M)] == ["install.md"]
    assert [name for name, text in docs.items() if re.search(r"^eventfilter", text, re.M)] == ["install.md"]
    writes = {match for text in docs.values() for match in re.findall(r"write = (\w+)", text)}
    assert writes == {"reporting"}
