"""The tracker log: the AMI frames of the calls in progress, kept in SQLite so that a restart knows what the
killed agent knew.

A CoreShowChannels snapshot shows only live channels: an agent that restarts after a callee answered and hung
up (the caller still on the line) would adopt a call with no leg and emit nothing at its end. So the pump hands
every AMI event the tracker learns from (`tracker.log_key`) to `TrackerLog.add`, filed under its call, and
`TrackerLog.changes` forgets a call's frames once the tracker has completed it. Calls between which a channel
moved (a transfer, a pickup) form one group, whose frames go when its last call completes. On start, `restore`
feeds the logged frames to a fresh tracker (what they emit is already in the outbox and is discarded), then
the resync snapshot reconciles as after any reconnect: calls continue with their legs, and their completion
comes once.

Order and cost. The pump calls `flush()` after each batch's outbox rows are committed, so the log never runs
ahead of what was emitted; a writer task commits what has gathered in one transaction (a single INSERT in the
usual case), off the path of deliveries. Frames of a call completed before they were written are never written.
If the agent dies before the log caught up, the restart misses the newest frames, which the snapshot then
covers as it did without a log; a call whose completion is in the outbox but whose close did not reach the log
is dropped by `restore` instead of being completed twice.

While the database refuses writes, the store writer (agent/store/writer.py) tries again with a capped backoff and
what waits is held in memory up to LIMIT frames; beyond that it is dropped and the stored log is cleared at the
next write (a restart then adopts calls from the snapshot alone) rather than kept with a hole in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agent.ami.events import AmiEvent
from agent.ami.wire import FrameStats, decode_event, encode_event
from agent.mapping.tracker import CallTracker
from agent.store.facade import LogFrame, Store
from agent.store.health import WRITE_RETRY, Backoff, StoreHealth
from agent.store.writer import StoreWriter

log = logging.getLogger("agent.ingest.trackerlog")

LIMIT = 200_000
GATHER_DELAY = 0.01  # s the writer lets ops gather: fewer transactions, none in the way of the sends just due
WRITER = "tracker log"
RESTORED = "@restored"  # the tag of the frames a restarted agent found (no Linkedid looks like it)


@dataclass(frozen=True, slots=True)
class Closed:
    """These groups' calls all completed: their frames are no longer needed."""

    tags: frozenset[str]


@dataclass(frozen=True, slots=True)
class Retag:
    """Two groups merged (a channel moved between their calls): frames filed under `old` now belong to `new`."""

    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Keep:
    """Only these groups have calls in progress: stored frames of any other are not needed."""

    tags: frozenset[str]


Op = LogFrame | Closed | Retag | Keep


@dataclass(frozen=True, slots=True)
class FrameWrite:
    """One transaction: apply `retags` (old -> final), delete `closed` groups (and, given `keep`, every group
    not in it), then append `frames`."""

    frames: tuple[LogFrame, ...]
    retags: tuple[tuple[str, str], ...]
    closed: frozenset[str]
    keep: frozenset[str] | None


def compact(ops: Sequence[Op]) -> FrameWrite:
    """The one write equivalent to `ops` in order. Read backwards: a frame is filed under its group's final tag,
    and is not written when that group is closed later; the retags and deletes run before the appends."""
    final: dict[str, str] = {}
    closed: set[str] = set()
    keeps: list[frozenset[str]] = []
    frames: list[LogFrame] = []
    for op in reversed(ops):
        if isinstance(op, Closed):
            closed |= op.tags
        elif isinstance(op, Retag):
            final[op.old] = final.get(op.new, op.new)
            if final[op.old] in closed:
                closed.add(op.old)
        elif isinstance(op, Keep):
            keeps.append(frozenset(final.get(tag, tag) for tag in op.tags))
        elif (tag := final.get(op[0], op[0])) not in closed:
            frames.append(LogFrame(tag, op[1], op[2]))
    frames.reverse()
    keep = frozenset.intersection(*keeps) if keeps else None
    return FrameWrite(tuple(frames), tuple(final.items()), frozenset(closed), keep)


def frame_count(ops: Sequence[Op]) -> int:
    return sum(1 for op in ops if isinstance(op, tuple))


class Groups:
    """Which log tag each call's frames are filed under. A call is its own group until a channel moves between
    it and another call; then both groups merge (a transfer, a pickup), and the group closes with its last call."""

    def __init__(self) -> None:
        self._tag: dict[str, str] = {}  # merged calls only: call id -> tag
        self._members: dict[str, set[str]] = {}  # merged groups only: tag -> calls not closed yet

    def tag(self, call_id: str) -> str:
        return self._tag.get(call_id, call_id)

    def merge(self, old: str, new: str) -> Retag | None:
        old_tag, new_tag = self.tag(old), self.tag(new)
        if old_tag == new_tag:
            return None
        members = self._members.pop(old_tag, {old_tag}) | self._members.get(new_tag, {new_tag})
        for call_id in members:
            self._tag[call_id] = new_tag
        self._members[new_tag] = members
        return Retag(old_tag, new_tag)

    def seed(self, tag: str, call_ids: Iterable[str]) -> None:
        """Start with one group `tag` holding `call_ids` (the calls a restart restored)."""
        members = set(call_ids)
        for call_id in members:
            self._tag[call_id] = tag
        if members:
            self._members[tag] = members

    def close(self, call_id: str) -> str | None:
        """The tag to drop now that `call_id` completed, or None while other calls of its group go on."""
        tag = self._tag.pop(call_id, call_id)
        members = self._members.get(tag)
        if members is None:
            return tag
        members.discard(call_id)
        if members:
            return None
        del self._members[tag]
        return tag


class Gathering:
    """The pure half of the log: turns what the pump reports into ops, in order, until `take()`."""

    def __init__(self) -> None:
        self._groups = Groups()
        self._gathering: list[Op] = []

    def restored(self, call_ids: Iterable[str]) -> None:
        """The calls `restore` rebuilt: the frames filed under RESTORED go when the last of them completes."""
        self._groups.seed(RESTORED, call_ids)

    def add(self, call_id: str, event: AmiEvent) -> None:
        self._gathering.append(LogFrame(self._groups.tag(call_id), event.received_at, encode_event(event)))

    def changes(self, links: Iterable[tuple[str, str]], closed: Iterable[str]) -> None:
        """What the tracker reported after an event (`take_changes`): channel moves, then completed calls."""
        for old, new in links:
            if retag := self._groups.merge(old, new):
                self._gathering.append(retag)
        tags = frozenset(tag for call_id in closed if (tag := self._groups.close(call_id)) is not None)
        if tags:
            self._gathering.append(Closed(tags))

    def keep_only(self, call_ids: Iterable[str]) -> None:
        self._gathering.append(Keep(frozenset(self._groups.tag(call_id) for call_id in call_ids)))

    def take(self) -> list[Op]:
        ops, self._gathering = self._gathering, []
        return ops


class TrackerLog(Gathering):
    """Gathers ops from the pump; `flush()` hands them to a writer task that commits them in order."""

    def __init__(self, store: Store, health: StoreHealth, *, limit: int = LIMIT,
                 backoff: Backoff = WRITE_RETRY) -> None:
        super().__init__()
        self._store = store
        self._limit = limit
        self._writer = StoreWriter(WRITER, health, late=lambda _: "tracker log written again", backoff=backoff)
        self._waiting: list[Op] = []
        self._trying: list[Op] = []  # the ops of a commit refused for now: tried again with what waits
        self._frames = 0
        self._reset = False
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Ops not yet committed (0 once the log has caught up with the pump)."""
        return len(self._gathering) + len(self._trying) + len(self._waiting)

    def flush(self) -> None:
        """Hand what was gathered to the writer (call once the outbox rows of the same events are committed)."""
        ops = self.take()
        if not ops:
            return
        self._frames += frame_count(ops)
        self._waiting += ops
        if self._frames > self._limit:
            self._overflow()
        self._idle.clear()
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="tracker-log")

    def _overflow(self) -> None:
        log.error("tracker log: %d frames wait while the database refuses writes; dropping them and clearing the "
                  "stored log (a restart now adopts the calls in progress from the snapshot alone)", self._frames)
        self._trying = [op for op in self._trying if not isinstance(op, tuple)]
        self._waiting = [op for op in self._waiting if not isinstance(op, tuple)]
        self._frames = 0
        self._reset = True

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(GATHER_DELAY)
            self._wake.clear()
            await self._write_waiting()
            if not self._waiting:
                self._idle.set()

    async def _write_waiting(self) -> None:
        """Commit what waits, through the store writer; a commit that fails for good leaves a hole: reset."""
        while self._waiting:
            try:
                await self._writer.hold(self._commit_waiting)
            except Exception as exc:  # not an outage (the writer waits those out): see _give_up
                self._give_up(exc)

    async def _commit_waiting(self) -> None:
        """One try: the ops of a refused try, then every op that waits now, in one transaction."""
        self._trying, self._waiting = self._trying + self._waiting, []
        try:
            await self._commit(self._trying)
            self._trying = []
        finally:
            self._frames = frame_count(self._trying) + frame_count(self._waiting)

    async def _commit(self, ops: Sequence[Op]) -> None:
        if self._reset:
            await self._store.clear_tracker_log()
            self._reset = False
        write = compact(ops)
        await self._store.write_tracker_log(write.frames, write.closed, write.keep, retags=write.retags)

    def _give_up(self, exc: Exception) -> None:
        log.error("tracker log: write failed (%s); clearing it (a restart adopts calls from the snapshot alone)",
                  exc, exc_info=exc)
        self._trying = []
        self._frames = frame_count(self._waiting)
        self._reset = True

    async def wait_written(self) -> None:
        """Return once everything flushed so far is committed (tests, and a clean stop)."""
        await self._idle.wait()

    async def close_writer(self, grace: float) -> None:
        """Write what is flushed, for up to `grace` s; then stop the writer."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self.wait_written()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


@dataclass(frozen=True, slots=True)
class Restored:
    frames: int
    calls: int
    dropped: int


def replay_frames(tracker: CallTracker, frames: Iterable[LogFrame]) -> float | None:
    """Feed logged frames to the tracker, discarding what they emit; the time of the last one (None if none)."""
    stats = FrameStats()
    last: float | None = None
    for _call_id, received_at, frame in frames:
        event = decode_event(frame, received_at, stats)
        if event is not None and event.name:
            tracker.feed(event)
            last = event.time
    return last


def finish_replay(tracker: CallTracker, completed: Iterable[str], last: float | None) -> int:
    """After `replay_frames`: drop the calls whose completion was emitted already (`completed`), and mark the link lost
    at the last logged event (a call that vanished meanwhile ends there). Returns how many were dropped."""
    dropped = 0
    for call_id in completed:
        tracker.drop(call_id)
        dropped += 1
    tracker.take_changes()
    if last is not None:
        tracker.connection_lost(last)
    return dropped


async def restore(store: Store, tracker: CallTracker) -> Restored:
    """Rebuild the tracker from the stored log before the AMI connects.

    What the frames emit was committed to the outbox before they were logged, so it is discarded. A call that
    the log shows in progress but whose completion is in the outbox (its close did not reach the log before the
    agent died) is dropped, so that the resync cannot complete it a second time. The stored frames are then
    filed under one tag, RESTORED, kept until every restored call has completed (`TrackerLog.restored`)."""
    frames = await store.tracker_log()
    last = replay_frames(tracker, frames)
    dropped = finish_replay(tracker, await store.completed_calls(tracker.open_calls()), last)
    if tracker.calls_in_progress:
        await store.retag_tracker_log(RESTORED)
    elif frames:
        await store.clear_tracker_log()
    return Restored(len(frames), tracker.calls_in_progress, dropped)
