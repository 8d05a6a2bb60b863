"""Metamorphic tests: transformations of a golden trace that must not change what the tracker emits.

Each relation is run over every golden fixture. The tracker implements docs/call-model.md as general rules,
so none of these transformations (which a real PBX produces all the time: concurrent calls, a `systemname`,
dialplan noise, another header order, repeated events, no `timestampevents`) may change the system events,
except for the values the transformation itself changes (renamed call ids; times without a Timestamp).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import replace
from itertools import zip_longest
from pathlib import Path
from types import MappingProxyType

import pytest

from agent.ami.events import AmiEvent, uniqueid_epoch
from agent.ami.wire import FrameDecoder
from agent.devtools.replay import fixture_config
from agent.devtools.trace import read_events
from agent.mapping.catalog import SystemEvent
from agent.mapping.config import MappingConfig
from tests.support.tracker import GOLDEN, Emitted, Rename, comparable, run, solo

# The common channel header block (docs/ami.md §1.1): copied from a real event to build noise about that channel.
CHANNEL_KEYS = (
    "Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "ConnectedLineNum",
    "ConnectedLineName", "Language", "AccountCode", "Context", "Exten", "Priority", "Uniqueid", "Linkedid",
)  # fmt: skip
def is_id_header(key: str) -> bool:
    """Headers holding a channel id: Uniqueid, Linkedid and every prefixed form (Dest..., Transferee..., UniqueID)."""
    lowered = key.lower()
    return lowered.endswith(("uniqueid", "linkedid"))


def renamed_event(event: AmiEvent, rename: Rename) -> AmiEvent:
    headers = {key: rename(value) if value and is_id_header(key) else value for key, value in event.headers.items()}
    return replace(event, headers=MappingProxyType(headers))


def prefixed(prefix: str) -> Rename:
    return lambda uid: prefix + uid


def shifted(offset: int) -> Rename:
    """`epoch.seq` -> `epoch.(seq + offset)`: another run of the same PBX (Uniqueid == Linkedid still holds)."""

    def shift(uid: str) -> str:
        head, dot, seq = uid.rpartition(".")
        return f"{head}.{int(seq) + offset}" if dot and seq.isdigit() else uid

    return shift


def partner(trace: Path) -> Path:
    """Another golden trace replayed with the same settings (the next one, cyclically)."""
    config = fixture_config(trace)
    same = [other for other in GOLDEN if fixture_config(other) == config]
    return same[(same.index(trace) + 1) % len(same)]


def by_call(emitted: Emitted) -> dict[str, Emitted]:
    calls: dict[str, Emitted] = {}
    for item in emitted:
        calls.setdefault(item[1], []).append(item)
    return calls


def channel_block(event: AmiEvent) -> dict[str, str]:
    """The channel header block of an event (the dialing side of a Dial event, else its Dest side)."""
    headers = event.headers
    prefix = "" if headers.get("Uniqueid") else "Dest"
    return {key: headers[prefix + key] for key in CHANNEL_KEYS if prefix + key in headers}


def noise_after(event: AmiEvent) -> list[AmiEvent]:
    """Events a busy PBX sends between any two: dialplan steps, variables, RTCP, device states, CDRs, unknowns."""
    block = channel_block(event)
    time = event.headers.get("Timestamp", "")
    stamp = {"Timestamp": time} if time else {}
    plain: list[dict[str, str]] = [
        {"Event": "DeviceStateChange", "Device": "PJSIP/201", "State": "INUSE"},
        {"Event": "Cdr", "UniqueID": block.get("Uniqueid", ""), "Disposition": "ANSWERED", "Duration": "3"},
        {"Event": "SomethingNew", "Detail": "an event this agent has never heard of"},
    ]
    on_channel: list[dict[str, str]] = [
        {"Event": "VarSet", "Variable": "RTPAUDIOQOS", "Value": "ssrc=1;themssrc=2;lp=0"},
        {"Event": "VarSet", "Variable": "__FROM_DID", "Value": "noise"},
        {"Event": "Newexten", "Extension": block.get("Exten", ""), "Application": "NoOp", "AppData": "noise"},
        {"Event": "Newexten", "Extension": "s", "Application": "Set", "AppData": "CDR(userfield)=x"},
        {"Event": "RTCPSent", "To": "127.0.0.1:5000", "SSRC": "0x1", "PT": "200(SR)"},
        {"Event": "AnotherUnknownEvent", "Detail": "about a channel"},
        {"Event": "NewConnectedLine", "ConnectedLineNum": "5550000", "ConnectedLineName": "Somebody"},
        {"Event": "Hold", "MusicClass": "default"},
        {"Event": "MusicOnHoldStart", "Class": "default"},
        {"Event": "ChannelTalkingStart"},
        {"Event": "BridgeEnter", "BridgeUniqueid": "noise-bridge", "BridgeType": "holding", "BridgeNumChannels": "1"},
        {"Event": "DTMFEnd", "Digit": "5", "DurationMs": "120", "Direction": "Received"},
    ]
    frames = plain + ([{**block, **frame} for frame in on_channel] if block.get("Uniqueid") else [])
    return [AmiEvent(headers=MappingProxyType({**frame, **stamp}), received_at=event.received_at) for frame in frames]


def shuffled_on_the_wire(event: AmiEvent, rng: random.Random) -> AmiEvent:
    """The event re-encoded with its headers in random order plus unknown headers, then decoded again."""
    lines = [f"{key}: {value}" for key, value in event.headers.items()]
    lines += [f"ChanVariable: {name}={value}" for name, value in event.variables.items()]
    lines += [f"DestChanVariable: {name}={value}" for name, value in event.dest_variables.items()]
    lines += ["X-Unknown-Header: 1", "Zzz: ", f"Unrelated{rng.randrange(1000)}: value: with colon"]
    rng.shuffle(lines)
    decoded = FrameDecoder(expect_banner=False).feed_events(("\r\n".join(lines) + "\r\n\r\n").encode(), 0.0)
    assert len(decoded) == 1
    return replace(decoded[0], received_at=event.received_at)


def without_timestamps(trace: Path, tmp_path: Path) -> Path:
    """The trace with every `Timestamp:` line removed (a PBX without `timestampevents = yes`)."""
    lines = trace.read_bytes().split(b"\r\n")
    stripped = tmp_path / trace.name
    stripped.write_bytes(b"\r\n".join(line for line in lines if not line.startswith(b"Timestamp:")))
    return stripped


def sequence(events: Iterable[SystemEvent]) -> list[tuple[str, str, str]]:
    return [(event.name, event.params["extension"], event.call_id) for event in events]


def rounds(first: list[AmiEvent], second: list[AmiEvent]) -> list[AmiEvent]:
    """Round-robin merge: one event of each stream in turn, each stream keeping its own order."""
    return [event for pair in zip_longest(first, second) for event in pair if event is not None]


def random_merge(streams: list[list[AmiEvent]], rng: random.Random) -> list[AmiEvent]:
    """All streams merged in a random interleaving that keeps each stream's own order."""
    cursors = [0] * len(streams)
    merged: list[AmiEvent] = []
    while live := [n for n, stream in enumerate(streams) if cursors[n] < len(stream)]:
        pick = rng.choice(live)
        merged.append(streams[pick][cursors[pick]])
        cursors[pick] += 1
    return merged


params = pytest.mark.parametrize("trace", GOLDEN, ids=lambda path: path.stem)


class TestInterleaving:
    @params
    def test_each_call_as_if_alone(self, trace: Path) -> None:
        """Given a trace merged round-robin with another one (ids made disjoint), then each call emits as alone."""
        other = partner(trace)
        rename = prefixed("other-")
        second = [renamed_event(event, rename) for event in read_events(other)]
        merged = comparable(run(rounds(read_events(trace), second), fixture_config(trace)))
        want = by_call(comparable(solo(trace))) | by_call(comparable(solo(other), rename))
        assert by_call(merged) == want

    @pytest.mark.parametrize("seed", range(3))
    def test_all_traces_at_once(self, seed: int) -> None:
        """Given every trace of one setting merged at random (each keeps its order), then each call as if alone."""
        configs: list[MappingConfig] = []
        for config in map(fixture_config, GOLDEN):
            configs += [] if config in configs else [config]
        assert configs
        for config in configs:
            traces = [trace for trace in GOLDEN if fixture_config(trace) == config]
            streams = [[renamed_event(e, prefixed(f"s{n}-")) for e in read_events(t)] for n, t in enumerate(traces)]
            merged = comparable(run(random_merge(streams, random.Random(seed)), config))
            want: dict[str, Emitted] = {}
            for n, trace in enumerate(traces):
                want |= by_call(comparable(solo(trace), prefixed(f"s{n}-")))
            assert by_call(merged) == want

    def test_partner_is_another_trace_with_the_same_settings(self) -> None:
        """Given the golden traces, when paired, then each pair holds two different traces of equal settings."""
        assert len(GOLDEN) >= 2
        for trace in GOLDEN:
            assert partner(trace) != trace
            assert fixture_config(partner(trace)) == fixture_config(trace)


class TestIdRenaming:
    @params
    @pytest.mark.parametrize("how", ["systemname", "shifted"])
    def test_same_output_with_renamed_ids(self, trace: Path, how: str) -> None:
        """Given every id prefixed with a systemname or its sequence shifted, then the output has renamed ids only."""
        rename = prefixed("pbx-host-") if how == "systemname" else shifted(7_000_000)
        events = [renamed_event(event, rename) for event in read_events(trace)]
        assert comparable(run(events, fixture_config(trace))) == comparable(solo(trace), rename)


class TestNoise:
    @params
    def test_noise_between_every_event(self, trace: Path) -> None:
        """Given dialplan/RTCP/device/CDR/unknown events after every event, then the output is identical."""
        noisy = [item for event in read_events(trace) for item in (event, *noise_after(event))]
        assert comparable(run(noisy, fixture_config(trace))) == comparable(solo(trace))


class TestHeaders:
    @params
    def test_header_order_and_unknown_headers(self, trace: Path) -> None:
        """Given headers shuffled within each event plus unknown headers, when decoded and fed, then identical."""
        rng = random.Random(trace.stem)
        events = [shuffled_on_the_wire(event, rng) for event in read_events(trace)]
        assert comparable(run(events, fixture_config(trace))) == comparable(solo(trace))

    @params
    def test_context_and_priority_names_do_not_matter(self, trace: Path) -> None:
        """Given every Context renamed and every Priority shifted, then the output is identical (no dialplan names)."""

        def rename(event: AmiEvent) -> AmiEvent:
            headers = dict(event.headers)
            for key, value in event.headers.items():
                if key.endswith("Context") and value:
                    headers[key] = f"ctx-{sum(map(ord, value)) % 997}-{value[::-1]}"
                elif key.endswith("Priority") and value.isdigit():
                    headers[key] = str(int(value) + 100)
            return replace(event, headers=MappingProxyType(headers))

        events = [rename(event) for event in read_events(trace)]
        assert comparable(run(events, fixture_config(trace))) == comparable(solo(trace))


class TestDuplicates:
    @params
    def test_dialend_hangup_newstate_twice(self, trace: Path) -> None:
        """Given each DialEnd, Hangup and Newstate sent twice in a row, then the output is identical."""
        twice = {"DialEnd", "Hangup", "Newstate"}
        events = [item for event in read_events(trace) for item in [event] * (2 if event.name in twice else 1)]
        assert comparable(run(events, fixture_config(trace))) == comparable(solo(trace))

    @params
    def test_every_event_twice(self, trace: Path) -> None:
        """Given every event of the trace sent twice in a row, then the output is identical (docs/call-model.md)."""
        events = [item for event in read_events(trace) for item in (event, event)]
        assert comparable(run(events, fixture_config(trace))) == comparable(solo(trace))


class TestNoTimestamp:
    @params
    def test_same_events_without_timestamps(self, trace: Path, tmp_path: Path) -> None:
        """Given the trace without any Timestamp header, then the same (event, extension, call_id) sequence."""
        stripped = without_timestamps(trace, tmp_path)
        assert sequence(run(read_events(stripped), fixture_config(trace))) == sequence(solo(trace))

    @params
    def test_time_is_the_first_uniqueid_epoch(self, trace: Path, tmp_path: Path) -> None:
        """Given the trace without Timestamps, then every event's unix_time is the epoch of the first Uniqueid."""
        events = read_events(without_timestamps(trace, tmp_path))
        emitted = run(events, fixture_config(trace))
        first = next(uniqueid_epoch(event.get("Uniqueid")) for event in events if event.get("Uniqueid"))
        assert {event.params["unix_time"] for event in emitted} <= {str(int(first or 0))}


def swapped_hangups(events: list[AmiEvent]) -> list[AmiEvent]:
    """Each pair of consecutive Hangups of different channels in the other order (docs/ami.md quirk 9)."""
    out = list(events)
    for index in range(len(out) - 1):
        first, second = out[index], out[index + 1]
        if first.name == second.name == "Hangup" and first.get("Uniqueid") != second.get("Uniqueid"):
            out[index], out[index + 1] = second, first
    return out


class TestCrossChannelOrder:
    @params
    def test_hangups_of_two_channels_in_either_order(self, trace: Path) -> None:
        """Given consecutive Hangups of two channels swapped, then the same (event, extension, call_id) sequence."""
        events = swapped_hangups(read_events(trace))
        assert sequence(run(events, fixture_config(trace))) == sequence(solo(trace))

    @params
    def test_callee_hangup_before_its_dialend(self, trace: Path) -> None:
        """Given each callee Hangup moved before the DialEnd to it, then the same events with the same dial_status."""
        events = read_events(trace)
        for index in range(len(events) - 1):
            end, gone = events[index], events[index + 1]
            if end.name == "DialEnd" and gone.name == "Hangup" and gone.get("Uniqueid") == end.get("DestUniqueid"):
                events[index], events[index + 1] = gone, end
        emitted = run(events, fixture_config(trace))
        assert sequence(emitted) == sequence(solo(trace))
        assert [item.params["dial_status"] for item in emitted] == [item.params["dial_status"] for item in solo(trace)]
