"""The tracker log (agent/ingest/trackerlog.py): what it keeps, how it is stored, and that a tracker restored from it
carries every call on as if the agent had never stopped.

The restore property is checked over every golden fixture at many cut points: a tracker fed the trace up to the
cut (the killed agent) logs what the pump would log; a fresh tracker is restored from that log, resynced with
the snapshot of the channels live at the cut (as CoreShowChannels would list them) and fed the rest. What both
emitted together must be exactly what one uninterrupted tracker emits: the golden file, event ids included.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent.ami.events import AmiEvent
from agent.devtools.replay import fixture_config
from agent.devtools.trace import read_events
from agent.ingest.pump import COMPLETIONS
from agent.ingest.trackerlog import (
    RESTORED,
    Closed,
    Gathering,
    Keep,
    Op,
    Retag,
    TrackerLog,
    compact,
    finish_replay,
    replay_frames,
    restore,
)
from agent.mapping.catalog import SystemEvent
from agent.mapping.config import MappingConfig
from agent.mapping.tracker import CallTracker, log_key
from agent.store.facade import LogFrame, Store
from agent.store.health import Backoff, StoreHealth
from agent.store.migrations import STEPS
from agent.store.model import Action, RenderedRequest
from agent.store.records import NewDelivery
from tests.support.polling import eventually
from tests.support.tracker import GOLDEN, comparable, event, hangup, newchannel, solo

CUTS = 12  # cut points per fixture, spread over the trace (every Hangup is a cut as well)


def frame(call_id: str, text: str = "Event: X") -> LogFrame:
    return LogFrame(call_id, 1.0, text.encode())


class TestCompact:
    def test_frames_of_a_call_closed_later_are_not_written(self) -> None:
        """Given frames of two calls and a close of one, then only the other's frames are written, the close
        is a delete."""
        ops: list[Op] = [frame("a"), frame("b"), frame("a"), Closed(frozenset({"a"}))]
        write = compact(ops)
        assert write.frames == (frame("b"),)
        assert write.closed == frozenset({"a"})
        assert write.keep is None

    def test_a_call_id_used_again_after_its_close_keeps_the_new_frames(self) -> None:
        """Given a call closed and its Linkedid reused afterwards, then the new call's frames are written
        (the delete runs before the appends)."""
        ops: list[Op] = [frame("a", "Event: Old"), Closed(frozenset({"a"})), frame("a", "Event: New")]
        assert compact(ops).frames == (frame("a", "Event: New"),)

    def test_keep_deletes_stored_frames_of_calls_not_in_progress(self) -> None:
        """Given a Keep, then the write deletes every stored group not in it; frames waiting are written all the
        same (a later Keep removes those of a call never followed)."""
        ops: list[Op] = [frame("ghost"), Keep(frozenset({"live"})), Keep(frozenset({"live", "new"}))]
        write = compact(ops)
        assert write.frames == (frame("ghost"),)
        assert write.keep == frozenset({"live"})

    def test_retag_files_earlier_frames_under_the_merged_group(self) -> None:
        """Given frames of a call whose group merged into another, then they are written under the new tag, the
        stored ones are retagged, and closing the merged group drops them all."""
        ops: list[Op] = [frame("pickup"), Retag("pickup", "ringing"), frame("ringing")]
        write = compact(ops)
        assert write.frames == (frame("ringing"), frame("ringing"))
        assert write.retags == (("pickup", "ringing"),)
        closed = compact([*ops, Closed(frozenset({"ringing"}))])
        assert closed.frames == ()
        assert closed.closed == frozenset({"pickup", "ringing"})


class TestGroups:
    def test_a_group_closes_with_its_last_call(self) -> None:
        """Given a channel moved from call B into call A (a pickup), when B completes first, then nothing is
        dropped; when A completes, the merged group is."""
        gathering = Gathering()
        gathering.changes([("B", "A")], [])
        gathering.changes([], ["B"])
        gathering.changes([], ["A"])
        assert gathering.take() == [Retag("B", "A"), Closed(frozenset({"A"}))]

    def test_the_restored_group_closes_with_the_last_restored_call(self) -> None:
        """Given two calls restored after a restart, then their frames (tag RESTORED) stay until both completed;
        a call a restored one merges with joins the group."""
        gathering = Gathering()
        gathering.restored(["A", "B"])
        gathering.changes([("C", "A")], ["A"])
        gathering.changes([], ["B"])
        assert gathering.take() == [Retag("C", RESTORED)]
        gathering.changes([], ["C"])
        assert gathering.take() == [Closed(frozenset({RESTORED}))]


class TestLogKey:
    def test_noise_and_unread_variables_are_not_logged(self) -> None:
        """Given events the tracker learns nothing from, then they have no log key; the ones it reads do."""
        base = {"Uniqueid": "1.1", "Linkedid": "1.1"}
        assert log_key(event("RTCPSent", 1.0, **base)) == ""
        assert log_key(event("VarSet", 1.0, Variable="RTPAUDIOQOS", **base)) == ""
        assert log_key(event("Newexten", 1.0, Application="Playback", **base)) == ""
        assert log_key(event("VarSet", 1.0, Variable="DIALSTATUS", **base)) == "1.1"
        assert log_key(event("Newexten", 1.0, Application="Dial", **base)) == "1.1"
        assert log_key(event("DialBegin", 1.0, DestUniqueid="1.2", DestLinkedid="1.1")) == "1.1"
        assert log_key(event("FullyBooted", 1.0)) == ""


class TestStore:
    async def test_write_read_close_keep(self, tmp_path: Path) -> None:
        """Given frames of three calls, when one is closed and then only one kept, then the log holds exactly
        the kept call's frames, in order, byte for byte."""
        store = await Store.open(tmp_path / "agent.db")
        try:
            await store.write_tracker_log([frame("a", "A1"), frame("b", "B1"), frame("c", "C1")])
            await store.write_tracker_log([frame("b", "B2\r\nX: \xe9")], closed=["a"])
            assert await store.tracker_log() == [frame("b", "B1"), frame("c", "C1"), frame("b", "B2\r\nX: \xe9")]
            await store.write_tracker_log([], keep=["b"])
            assert [f[0] for f in await store.tracker_log()] == ["b", "b"]
        finally:
            await store.close()

    async def test_a_version_1_database_is_upgraded_with_its_data(self, tmp_path: Path) -> None:
        """Given a database of the previous release (schema version 1: no tracker log) holding an action, when
        opened, then it is at the latest version, the tracker log is empty and the action is still there."""
        path = tmp_path / "agent.db"
        store = await Store.open(path)
        await store.create_action(Action(name="crm", method="GET", url="http://127.0.0.1/"))
        await store.close()
        with sqlite3.connect(path) as db:
            db.executescript("DROP TABLE tracker_log; PRAGMA user_version = 1;")
        store = await Store.open(path)
        try:
            assert await store.tracker_log() == []
            assert [a.name for a in (await store.list_actions())[0]] == ["crm"]
        finally:
            await store.close()
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == len(STEPS)


class TestWriter:
    async def test_writes_in_order_and_forgets_closed_calls(self, tmp_path: Path) -> None:
        """Given events added, a close and flushes, when written, then the store holds the open call's frames;
        a restore into a fresh tracker follows that call."""
        store = await Store.open(tmp_path / "agent.db")
        try:
            writer = TrackerLog(store, StoreHealth(lambda: 0.0))
            ring = newchannel(1.0, "PJSIP/201-00000001", "1.1", "1.1", 4)
            gone = newchannel(1.0, "PJSIP/202-00000002", "2.1", "2.1", 4)
            for item in (ring, gone, hangup(2.0, "PJSIP/202-00000002", "2.1", "2.1")):
                writer.add(log_key(item), item)
            writer.changes([], ["2.1"])
            writer.flush()
            await writer.wait_written()
            assert [f[0] for f in await store.tracker_log()] == ["1.1"]
            assert writer.pending == 0
            await writer.close_writer(1.0)
        finally:
            await store.close()

    async def test_holds_while_the_database_is_locked(self, tmp_path: Path) -> None:
        """Given another process holding the write lock, when frames are flushed, then they wait in memory
        (pending, health not ok) and are written once the lock is released."""
        path = tmp_path / "agent.db"
        store = await Store.open(path, busy_timeout=0.05)
        health = StoreHealth(lambda: 0.0)
        writer = TrackerLog(store, health, backoff=Backoff(first=0.05, cap=0.1))
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            item = newchannel(1.0, "PJSIP/201-00000001", "1.1", "1.1", 4)
            writer.add("1.1", item)
            writer.flush()
            await eventually(lambda: not health.ok, what="the refused write reported")
            assert writer.pending == 1
            blocker.execute("COMMIT")
            await writer.wait_written()
            assert health.ok
            assert [f[0] for f in await store.tracker_log()] == ["1.1"]
            await writer.close_writer(1.0)
        finally:
            blocker.close()
            await store.close()


# the restore property over every golden fixture


def live_at(events: list[AmiEvent]) -> tuple[dict[str, str], ...]:
    """The CoreShowChannels snapshot after `events`: every channel created and not hung up, with its latest
    Linkedid (what a snapshot lists; no application: no leg is rebuilt from it)."""
    live: dict[str, dict[str, str]] = {}
    for item in events:
        uniqueid, linkedid = item.get("Uniqueid"), item.get("Linkedid")
        if item.name == "Newchannel" and uniqueid:
            live[uniqueid] = {"Channel": item.get("Channel"), "Uniqueid": uniqueid, "Linkedid": linkedid}
        elif item.name == "Hangup":
            live.pop(uniqueid, None)
        elif uniqueid in live and linkedid:
            live[uniqueid]["Linkedid"] = linkedid
    return tuple(live.values())


def killed_at(events: list[AmiEvent], cut: int, config: MappingConfig) -> tuple[list[SystemEvent], list[Op]]:
    """The killed agent: what it emitted before the cut, and the ops its pump handed to the tracker log."""
    tracker = CallTracker(config)
    log = Gathering()
    emitted: list[SystemEvent] = []
    ops: list[Op] = []
    for item in events[:cut]:
        emitted += tracker.feed(item)
        if key := log_key(item):
            log.add(key, item)
        log.changes(*tracker.take_changes())
        ops += log.take()
    return emitted, ops


def restarted_at(events: list[AmiEvent], cut: int, config: MappingConfig, ops: list[Op],
                 completed: set[str]) -> list[SystemEvent]:
    """The restarted agent: restored from the log, resynced with the snapshot at the cut, fed the rest."""
    tracker = CallTracker(config)
    last = replay_frames(tracker, compact(ops).frames)
    finish_replay(tracker, completed & tracker.open_calls(), last)
    at = events[cut - 1].time if cut else 0.0
    emitted = tracker.resync(live_at(events[:cut]), at)
    for item in events[cut:]:
        emitted += tracker.feed(item)
    return emitted


def cut_points(events: list[AmiEvent]) -> list[int]:
    hangups = [i + 1 for i, item in enumerate(events) if item.name == "Hangup"]
    spread = [len(events) * n // CUTS for n in range(1, CUTS)]
    return sorted(set(hangups + spread))


@pytest.mark.parametrize("trace", GOLDEN, ids=[t.stem for t in GOLDEN])
def test_restored_tracker_emits_what_an_uninterrupted_one_does(trace: Path) -> None:
    """Given a fixture cut at each point, when a tracker is restored from the log at the cut and resynced with
    the live channels, then the events before and after the cut are exactly the uninterrupted run's."""
    config = fixture_config(trace)
    events = read_events(trace)
    expected = comparable(solo(trace))
    for cut in cut_points(events):
        before, ops = killed_at(events, cut, config)
        completed = {e.call_id for e in before if e.name in COMPLETIONS}
        after = restarted_at(events, cut, config, ops, completed)
        assert comparable(before + after) == expected, f"cut after event {cut} of {len(events)}"


async def test_restore_drops_a_call_whose_completion_is_in_the_outbox(tmp_path: Path) -> None:
    """Given a log holding a call whose close never reached it but whose completion row is in the outbox, when
    restored, then the call is dropped (not completed a second time) and its frames are removed."""
    trace = next(t for t in GOLDEN if t.stem.startswith("01_"))
    events = read_events(trace)
    emitted, _ = killed_at(events, len(events), fixture_config(trace))
    done = next(e for e in emitted if e.name in COMPLETIONS)
    last_hangup = max(i for i, item in enumerate(events) if item.name == "Hangup")
    frames = compact(killed_at(events, last_hangup, fixture_config(trace))[1]).frames  # the log lags behind
    store = await Store.open(tmp_path / "agent.db")
    try:
        await store.write_tracker_log(frames)
        await store.enqueue([outbox_row(done)])
        tracker = CallTracker(fixture_config(trace))
        restored = await restore(store, tracker)
        assert (restored.frames, restored.calls, restored.dropped) == (len(frames), 0, 1)
        assert await store.tracker_log() == []
    finally:
        await store.close()


def outbox_row(done: SystemEvent) -> NewDelivery:
    return NewDelivery(event_id=done.event_id, event=done.name, call_id=done.call_id, action_id=0,
                       action_name="crm", request=RenderedRequest("GET", "http://127.0.0.1/"),
                       profile="final", next_attempt_at=0.0, expires_at=1.0, created_at=0.0)
