"""The asyncio protocol of one AMI connection: panoramisk's AMIProtocol with our own framing.

panoramisk 1.4 gives us action objects (ActionIDs, wire format) and response correlation (`EventList`
responses collected into one list). Everything else here replaces its defects (docs/ami.md §4.12-§4.14):

- frames are cut on CRLF CRLF before decoding (agent.ami.wire), so UTF-8 split across reads arrives whole,
  and a malformed frame is counted and skipped instead of being silently mangled;
- the events of each read go to one synchronous `sink` (the client's enqueue), in order; nothing of ours
  runs inside `data_received` that could raise and drop the connection;
- a lost connection resolves `lost` and cancels pending actions, so awaiting code never hangs.

During a resync, events that follow the first frame of the `CoreShowChannels` response are held back and
released after the snapshot, so the consumer sees: events before the snapshot, the snapshot, events after.
That answer is collected here (agent.ami.snapshot), not by panoramisk, within limits; the answer to any other
action may have at most MAX_ANSWER_PARTS frames. A peer that passes a limit, or sends a banner without an end,
is dropped with a warning that says why (docs/security.md, "Hostile AMI peers").
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Mapping
from typing import Any

from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from agent.ami.events import AmiEvent, printable
from agent.ami.snapshot import Snapshot, SnapshotLimits
from agent.ami.wire import DEFAULT_MAX_FRAME, FrameDecoder, Skim

log = logging.getLogger(__name__)

EventSink = Callable[[list[AmiEvent]], None]
MAX_ANSWER_PARTS = 100  # frames answering one Login, Ping or Logoff (each is answered by one)


class ActionFailed(Exception):
    """The connection went away before an action was answered."""


class AmiProtocol(AMIProtocol):  # type: ignore[misc]
    """One AMI TCP connection. Build with `AmiProtocol(sink, clock)` as the `protocol_factory` product."""

    def __init__(self, sink: EventSink, clock: Callable[[], float], max_frame: int = DEFAULT_MAX_FRAME, *,
                 skim: Skim | None = None, limits: SnapshotLimits | None = None) -> None:
        self._sink = sink
        self._clock = clock
        self._limits = limits or SnapshotLimits()
        self._snapshot: Snapshot | None = None
        self.decoder = FrameDecoder(max_frame, skim=skim)
        self.lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.bytes_received = 0
        self.events_delivered = 0
        self.frame_errors = 0
        self._last_event: AmiEvent | None = None
        self._hold_for: str | None = None
        self._held: list[AmiEvent] | None = None
        self.resync_at: float | None = None
        self.resync_stamped = False
        self.pauses = 0
        self._paused_since: float | None = None
        self._paused_total = 0.0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.encoding = "utf-8"
        self.log = log
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    @property
    def paused(self) -> bool:
        """Reading is paused (the consumer's queue is full): nothing arrives, not even answers."""
        return self._paused_since is not None

    def paused_seconds(self) -> float:
        """Time spent paused on this connection, the current pause included."""
        since = self._paused_since
        current = 0.0 if since is None else asyncio.get_running_loop().time() - since
        return self._paused_total + current

    def pause(self) -> None:
        """Stop reading the socket (the kernel buffers what Asterisk sends meanwhile)."""
        if self._paused_since is None:
            self._paused_since = asyncio.get_running_loop().time()
            self.pauses += 1
            self.transport.pause_reading()

    def resume(self) -> None:
        """Read the socket again."""
        since, self._paused_since = self._paused_since, None
        if since is not None:
            self._paused_total += asyncio.get_running_loop().time() - since
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self.bytes_received += len(data)
        frames = self.decoder.feed_events(data, self._clock())
        if self.decoder.failure:
            self.drop(self.decoder.failure)
            return
        if not frames:
            return
        if self.responses or self._held is not None:
            self._route_each(frames)
            return
        events = [frame for frame in frames if "Event" in frame.headers]
        if events:
            self._last_event = events[-1]
            self._hand_over(events)

    def _route_each(self, frames: list[AmiEvent]) -> None:
        """Frames while actions are pending: answers go to their action, events keep their order."""
        events: list[AmiEvent] = []
        for frame in frames:
            action_id = frame.headers.get("ActionID")
            if action_id is not None and action_id in self.responses:
                self._hand_over(events)
                events = []
                self._answer(action_id, frame)
            elif frame.name:
                self._last_event = frame
                if self._held is None:
                    events.append(frame)
                else:
                    self._hold(frame)
            if self.lost.done():
                break  # dropped for passing a limit: the rest of this read is not looked at
        self._hand_over(events)

    def _hold(self, frame: AmiEvent) -> None:
        if self._held is not None:
            self._held.append(frame)
        if self._snapshot is not None and (reason := self._snapshot.hold(frame)):
            self.drop(reason)

    def _hand_over(self, events: list[AmiEvent]) -> None:
        if not events:
            return
        try:
            self.events_delivered += len(events)
            self._sink(events)
        except Exception:  # supervision point: whatever the sink does must not drop the link
            self.frame_errors += 1
            log.exception("AMI events could not be handed over (%d, first %s)", len(events),
                          printable(events[0].name))

    def _answer(self, action_id: str, frame: AmiEvent) -> None:
        if action_id == self._hold_for:
            self._resync_answer(action_id, frame)
            return
        if len(self.responses[action_id].responses) >= MAX_ANSWER_PARTS:
            self.drop(f"the answer to {self.responses[action_id]['Action']} has more than {MAX_ANSWER_PARTS} parts")
            return
        self._handle(frame)

    def _resync_answer(self, action_id: str, frame: AmiEvent) -> None:
        """The CoreShowChannels answer: its first frame starts holding events; a list answer resolves the action
        to the channels' header maps once complete, any other (a refusal) to that first frame as a Message."""
        snapshot = self._snapshot
        if self._held is None:
            self._held = []
            stamp = self._last_event.timestamp if self._last_event is not None else None
            self.resync_at = frame.received_at if stamp is None else stamp
            self.resync_stamped = stamp is not None
            if frame.get("Response") == "Success" and frame.get("EventList").lower() == "start":
                self._snapshot = Snapshot(self._limits)
            else:
                self._settle(action_id, Message(dict(frame.headers)))
        elif snapshot is None:
            return
        elif frame.name.endswith("Complete"):
            self._settle(action_id, tuple(snapshot.entries))
        elif reason := snapshot.take(frame):
            self.drop(reason)

    def _settle(self, action_id: str, result: object) -> None:
        action = self.responses.pop(action_id)
        if not action.future.done():
            action.future.set_result(result)

    def _handle(self, frame: AmiEvent) -> None:
        try:
            self.handle_message(Message(dict(frame.headers)))
        except Exception:  # supervision point: a surprising answer must not drop the link
            self.frame_errors += 1
            log.exception("AMI answer could not be handled: %s", printable(frame.get("Response") or frame.name))

    def hold_events_from(self, action: Action) -> None:
        """Hold events once the first frame answering `action` arrives, until `release_held()`."""
        self._hold_for = action.action_id

    def release_held(self) -> None:
        held, self._held, self._hold_for = self._held or [], None, None
        self._snapshot = None
        self._hand_over(held)

    def action(self, headers: Mapping[str, str]) -> Action:
        """Send an action now; its `future` resolves to a Message, or a list of them for an EventList."""
        action = Action(dict(headers))
        self.responses[action.action_id] = action
        self.transport.write(str(action).encode("utf-8"))  # not panoramisk's send(): it logs failures with the secret
        return action

    async def request(self, headers: Mapping[str, str], within: float | None = None) -> Any:
        """Send an action and wait for its answer; ActionFailed if the link drops, TimeoutError if slow."""
        return await self.answer(self.action(headers), within)

    async def answer(self, action: Action, within: float | None = None) -> Any:
        future: asyncio.Future[Any] = action.future
        await asyncio.wait({future, self.lost}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        if future.done() and not future.cancelled():
            return future.result()
        if self.lost.done():
            raise ActionFailed(f"connection lost before {action['Action']} was answered ({self.lost.result()})")
        self.responses.pop(action.action_id, None)
        future.cancel()
        raise TimeoutError(f"no answer to {action['Action']} within {within} s")

    def drop(self, reason: str) -> None:
        """The peer passed a limit (or is not AMI at all): say so in the log and drop the connection."""
        if self.lost.done():
            return
        peer = self.transport.get_extra_info("peername") if self.transport is not None else None
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "peer"
        log.warning("AMI %s: %s: a broken or hostile AMI server; dropping the connection", where, reason)
        self.abort(reason)

    def abort(self, reason: str) -> None:
        """Drop the connection now (half-open links never close by themselves)."""
        self._mark_lost(reason)
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._mark_lost(str(exc) if exc else "closed by the server")
        self.closed = True

    def _mark_lost(self, reason: str) -> None:
        if not self.lost.done():
            self.lost.set_result(reason)
        for action in list(self.responses.values()):
            action.future.cancel()
        self.responses.clear()
