"""Bad AMI event sequences never crash the tracker, and a resync always leaves nothing stale behind.

The sequences are the recorded traces mutated: events dropped, duplicated, swapped with a neighbour (so a
Hangup can come before its DialEnd), headers removed or given random values, events for channels nobody
created. The tracker must not raise, and after a resync that lists no live channel it must hold no call.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.ami.events import AmiEvent
from agent.devtools.trace import read_events
from agent.mapping.catalog import ALL_PARAMETERS, CALL_ANSWERED, CALL_UNANSWERED
from agent.mapping.config import MappingConfig
from agent.mapping.tracker import CallTracker
from tests.reliability.synth import LAB_TRACES, trace_path

TRACES: dict[str, list[AmiEvent]] = {
    name: read_events(trace_path(name)) for name in (*LAB_TRACES, "pub_caco_xfer_attended", "pub_caco_sip_pickup",
                                                      "pub_caco_call_forwarding", "pub_legacy_ast11_originate")
}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = ("Uniqueid", "Linkedid", "DestUniqueid", "DestLinkedid", "Channel", "DestChannel", "ChannelState",
        "DialStatus", "Cause", "Exten", "CallerIDNum", "Timestamp", "Event", "Forward", "Variable", "Value")
VALUES = ("", "0", "-1", "6", "5", "ANSWER", "CANCEL", "BUSY", "nan", "1e308", "<unknown>", "Local/x@y-1;2",
          "PJSIP/201-00000001", "1795872177.73", "\udcff", "x" * 5000, "1.2.3", "-", ";1")


def mutate(events: list[AmiEvent], seed: int, rate: float) -> list[AmiEvent]:
    """The events with about `rate` of them dropped, duplicated, swapped, stripped or garbled."""
    rng = random.Random(seed)
    out: list[AmiEvent] = []
    for event in events:
        roll = rng.random()
        if roll < rate / 5:
            continue
        if roll < 2 * rate / 5:
            out += [event, event]
        elif roll < 3 * rate / 5 and out:
            out.insert(len(out) - 1, event)
        elif roll < 4 * rate / 5:
            out.append(garble(event, rng))
        elif roll < rate:
            out.append(unknown_channel(event, rng))
        else:
            out.append(event)
    return out


def garble(event: AmiEvent, rng: random.Random) -> AmiEvent:
    headers = dict(event.headers)
    key = rng.choice(KEYS)
    if rng.random() < 0.5:
        headers.pop(key, None)
    else:
        headers[key] = rng.choice(VALUES)
    return AmiEvent(headers=headers, received_at=event.received_at)


def unknown_channel(event: AmiEvent, rng: random.Random) -> AmiEvent:
    headers = dict(event.headers)
    for key in ("Uniqueid", "DestUniqueid", "Linkedid"):
        if key in headers:
            headers[key] = f"1700000000.{rng.randrange(10**6)}"
    return AmiEvent(headers=headers, received_at=event.received_at)


def feed_all(tracker: CallTracker, events: list[AmiEvent]) -> int:
    """Feed every event; every system event must carry every parameter as a string. Returns how many."""
    count = 0
    for event in events:
        for emitted in tracker.feed(event):
            assert set(emitted.params) == set(ALL_PARAMETERS)
            assert all(isinstance(value, str) for value in emitted.params.values())
            count += 1
    return count


class TestTrackerFuzz:
    @FUZZ
    @given(st.sampled_from(sorted(TRACES)), st.integers(min_value=0), st.floats(min_value=0.01, max_value=0.5))
    def test_mutated_traces(self, name: str, seed: int, rate: float) -> None:
        """Given a real trace mutated at random, when fed to the tracker, then no exception, and after a resync
        with no live channel the tracker holds no call and no channel."""
        tracker = CallTracker(MappingConfig())
        feed_all(tracker, mutate(TRACES[name], seed, rate))
        tracker.connection_lost(1_900_000_000.0)
        tracker.resync([], 1_900_000_000.0)
        assert (tracker.calls_in_progress, tracker.tracked_channels) == (0, 0)

    @FUZZ
    @given(st.sampled_from(sorted(TRACES)), st.integers(min_value=0, max_value=10_000))
    def test_hangup_before_dialend(self, name: str, seed: int) -> None:
        """Given every Hangup moved before the DialEnd that precedes it (out of order), when fed, then no
        exception and each call completes at most once."""
        events = list(TRACES[name])
        rng = random.Random(seed)
        for index in range(1, len(events)):
            if events[index].name == "Hangup" and events[index - 1].name == "DialEnd" and rng.random() < 0.8:
                events[index - 1], events[index] = events[index], events[index - 1]
        tracker = CallTracker(MappingConfig())
        completions = [e.call_id for ev in events for e in tracker.feed(ev) if e.name in (CALL_ANSWERED,
                                                                                         CALL_UNANSWERED)]
        assert len(completions) == len(set(completions))

    @pytest.mark.parametrize("name", sorted(TRACES))
    def test_every_event_twice(self, name: str) -> None:
        """Given every event of a trace delivered twice in a row, when fed, then the same system events as
        once (docs/call-model.md: duplicate events change nothing)."""
        once, twice = CallTracker(MappingConfig()), CallTracker(MappingConfig())
        single = [(e.name, e.call_id, e.params["extension"]) for ev in TRACES[name] for e in once.feed(ev)]
        double = [(e.name, e.call_id, e.params["extension"]) for ev in TRACES[name] for e in
                  twice.feed(ev) + twice.feed(ev)]
        assert double == single

    @pytest.mark.parametrize("stamp", ["nan", "inf", "-inf", "1e308", "1e20", "-1e20", "99999999999999"])
    def test_timestamp_out_of_range(self, stamp: str) -> None:
        """Given a trace whose every event carries an unusable Timestamp (not finite, or beyond any calendar),
        when fed, then no exception: the event time falls back to the receive time."""
        trace = TRACES["01_internal_answered_caller_hangup"]
        bad = [AmiEvent(headers={**ev.headers, "Timestamp": stamp}, received_at=ev.received_at) for ev in trace]
        none = [AmiEvent(headers={k: v for k, v in ev.headers.items() if k != "Timestamp"},
                         received_at=ev.received_at) for ev in trace]
        with_bad, without = CallTracker(MappingConfig()), CallTracker(MappingConfig())
        assert [e.params for ev in bad for e in with_bad.feed(ev)] == [e.params for ev in none for e in
                                                                        without.feed(ev)]

    def test_dead_channel_relinked(self) -> None:
        """Given a hung-up Local channel that an out-of-order event moves to a new Linkedid, when an empty
        resync follows, then neither call is left behind (found by test_random_headers)."""
        tracker = CallTracker(MappingConfig())
        one = {"Channel": "Local/202@internal-00000001;1", "Uniqueid": "1700000000.1", "Linkedid": "1700000000.1",
               "ChannelState": "0", "Exten": "202", "Context": "internal"}
        two = {**one, "Channel": "Local/202@internal-00000001;2", "Uniqueid": "1700000000.2"}
        for headers in ({"Event": "Newchannel", **one}, {"Event": "Newchannel", **two},
                        {"Event": "Hangup", **one, "Cause": "16"},
                        {"Event": "NewCallerid", **one, "Linkedid": "1700000000.9"}):
            tracker.feed(AmiEvent(headers=headers, received_at=1_700_000_000.0))
        tracker.resync([], 1_700_000_100.0)
        assert (tracker.calls_in_progress, tracker.tracked_channels) == (0, 0)

    def test_random_headers(self) -> None:
        """Given 20,000 events of random names and headers, when fed, then no exception and an empty resync
        leaves nothing behind."""
        rng = random.Random(7)
        names = ("Newchannel", "Newstate", "DialBegin", "DialState", "DialEnd", "Hangup", "HangupRequest",
                 "VarSet", "QueueCallerJoin", "AgentCalled", "NewCallerid", "BridgeEnter", "Newexten")
        tracker = CallTracker(MappingConfig())
        for _ in range(20_000):
            headers = {key: rng.choice(VALUES) for key in rng.sample(KEYS, rng.randrange(len(KEYS)))}
            headers["Event"] = rng.choice(names)
            for key in ("Uniqueid", "Linkedid", "DestUniqueid", "DestLinkedid"):
                if rng.random() < 0.7:
                    headers[key] = f"1700000000.{rng.randrange(50)}"
            feed_all(tracker, [AmiEvent(headers=headers, received_at=1_700_000_000.0 + rng.random())])
        tracker.resync([], 1_700_001_000.0)
        assert (tracker.calls_in_progress, tracker.tracked_channels) == (0, 0)

