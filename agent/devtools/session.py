"""One client connection of the AMI simulator: answers its actions and streams the trace to it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from agent.ami.wire import FrameDecoder
from agent.devtools.channel_table import ChannelTable
from agent.devtools.trace import TraceEvent

_SEP = b"\r\n\r\n"
_BATCH = 256
_MAX_UNAPPLIED = 10_000
_TRACE_PAUSE = 1.0


@dataclass(frozen=True, slots=True)
class SimulatorOptions:
    """What every client session of one simulator shares."""

    speed: float
    username: str | None
    secret: str | None
    read_classes: frozenset[str] | None
    clock: Callable[[], float]
    refused: frozenset[str] = frozenset()  # lower-case action names answered "Permission denied"

    def allows(self, event: TraceEvent) -> bool:
        """Whether a user with these read classes would receive `event`."""
        classes = self.read_classes
        return classes is None or not event.privilege or event.privilege in classes or "all" in classes

    def accepts(self, username: str, secret: str) -> bool:
        return (self.username is None or username == self.username) and (self.secret is None or secret == self.secret)


class ClientSession:
    """Reads actions and answers them; after Login, streams `passes()` (one event list per trace pass) with
    the recorded gaps, and a pause of 1 s (over speed) between passes. A pass is taken from `passes()` only
    when it is about to stream (after the pause, and once the gate lets its first event go)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        options: SimulatorOptions,
        running: asyncio.Event,
        gate: StreamGate,
        passes: Callable[[], Iterator[list[TraceEvent]]],
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._options = options
        self._running = running
        self._gate = gate
        self._passes = passes
        self._decoder = FrameDecoder(expect_banner=False)
        self._table = ChannelTable()
        self._unapplied: list[TraceEvent] = []
        self._streamer: asyncio.Task[None] | None = None
        self.logins = 0

    async def run(self, banner: bytes) -> None:
        self._writer.write(banner)
        try:
            await self._read_actions()
        except ConnectionError:
            pass
        finally:
            self.drop()

    def drop(self) -> None:
        if self._streamer is not None:
            self._streamer.cancel()
        self._writer.transport.abort()

    def inject(self, data: bytes) -> None:
        if self.logins and not self._writer.is_closing():
            self._writer.write(data)

    async def _read_actions(self) -> None:
        while True:
            await self._running.wait()
            data = await self._reader.read(65536)
            if not data:
                return
            await self._running.wait()
            for pairs in self._decoder.feed(data):
                if not self._answer(dict(pairs)):
                    await self._writer.drain()
                    return

    def _answer(self, action: Mapping[str, str]) -> bool:
        """Answer one action; False when the connection should close afterwards."""
        name = action.get("Action", "").lower()
        action_id = action.get("ActionID")
        if name == "login":
            return self._login(action, action_id)
        if not self.logins:
            self._reply(action_id, [("Response", "Error"), ("Message", "Authentication Required")])
        elif name in self._options.refused:
            self._reply(action_id, [("Response", "Error"), ("Message", "Permission denied")])
        elif name == "ping":
            stamp = f"{self._options.clock():.6f}"
            self._reply(action_id, [("Response", "Success"), ("Ping", "Pong"), ("Timestamp", stamp)])
        elif name == "coreshowchannels":
            self._core_show_channels(action_id)
        elif name == "events":
            self._reply(action_id, [("Response", "Success"), ("Events", "On")])
        elif name == "logoff":
            self._reply(action_id, [("Response", "Goodbye"), ("Message", "Thanks for all the fish.")])
            return False
        else:
            self._reply(action_id, [("Response", "Error"), ("Message", "Invalid/unknown command")])
        return True

    def _login(self, action: Mapping[str, str], action_id: str | None) -> bool:
        if not self._options.accepts(action.get("Username", ""), action.get("Secret", "")):
            self._reply(action_id, [("Response", "Error"), ("Message", "Authentication failed")])
            return False
        self._reply(action_id, [("Response", "Success"), ("Message", "Authentication accepted")])
        self.logins += 1
        if self._streamer is None and action.get("Events", "on").lower() != "off":
            self._streamer = asyncio.create_task(self._stream())
        return True

    def _reply(self, action_id: str | None, lines: list[tuple[str, str]]) -> None:
        if action_id is not None:
            lines.insert(1, ("ActionID", action_id))
        self._writer.write(_frame(lines))

    def _core_show_channels(self, action_id: str | None) -> None:
        self._catch_up()
        channels = self._table.snapshot()
        tag = [("ActionID", action_id)] if action_id is not None else []
        frames = [_frame([("Response", "Success"), *tag, ("EventList", "start"), ("Message", "Channels will follow")])]
        frames += [_frame([("Event", "CoreShowChannel"), *tag, *channel.items()]) for channel in channels]
        complete = [("Event", "CoreShowChannelsComplete"), *tag, ("EventList", "Complete")]
        frames.append(_frame([*complete, ("ListItems", str(len(channels)))]))
        self._writer.write(b"".join(frames))

    def _catch_up(self) -> None:
        for event in self._unapplied:
            self._table.apply(event.headers, event.timestamp)
        self._unapplied.clear()

    async def _stream(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self._stream_from(self._gate.start)

    async def _stream_from(self, start: int) -> None:
        batch: list[TraceEvent] = []
        index = 0
        passes = self._passes()
        while True:
            if index >= start and not self._gate.allows(index):  # a held stream makes its next pass once let go
                await self._send(batch)
                batch = []
                await self._gate.reach(index)
            events = next(passes, None)
            if events is None:
                break
            batch = await self._stream_pass(events, index, start, batch)
            index += len(events)
            if index > start and self._options.speed > 0:  # between two traces: a fixed pause, not a recorded gap
                await self._send(batch)
                batch = []
                await asyncio.sleep(_TRACE_PAUSE / self._options.speed)
        await self._send(batch)

    async def _stream_pass(self, events: list[TraceEvent], index: int, start: int,
                           batch: list[TraceEvent]) -> list[TraceEvent]:
        """Stream one pass (events `index`... of the whole stream) with its recorded gaps; returns the unsent batch."""
        previous: float | None = None
        speed = self._options.speed
        for event in events:
            if index >= start:
                gap = _gap(previous, event.timestamp, speed)
                previous = event.timestamp if event.timestamp is not None else previous
                if gap > 0 or len(batch) >= _BATCH or not self._gate.allows(index):
                    await self._send(batch)
                    batch = []
                    await asyncio.sleep(gap)
                    await self._gate.reach(index)
                if self._options.allows(event):
                    batch.append(event)
            self._unapplied.append(event)
            index += 1
        return batch

    async def _send(self, batch: list[TraceEvent]) -> None:
        await self._running.wait()
        if len(self._unapplied) > _MAX_UNAPPLIED:
            self._catch_up()
        if not batch or self._writer.is_closing():
            return
        self._writer.write(b"".join(event.raw + _SEP for event in batch))
        await self._writer.drain()


class StreamGate:
    """Shared by the sessions of one simulator: streams stop before `limit` (None: no limit), and sessions
    that start streaming later begin at event `start` (the events before it count as missed)."""

    def __init__(self) -> None:
        self.limit: int | None = None
        self.start = 0
        self._changed = asyncio.Event()

    def allows(self, index: int) -> bool:
        return self.limit is None or index < self.limit

    def set_limit(self, limit: int | None) -> None:
        self.limit = limit
        self._changed.set()
        self._changed = asyncio.Event()

    async def reach(self, index: int) -> None:
        """Wait until event `index` may be sent."""
        while not self.allows(index):
            await self._changed.wait()


def _gap(previous: float | None, stamp: float | None, speed: float) -> float:
    if speed <= 0 or previous is None or stamp is None:
        return 0.0
    return max(0.0, stamp - previous) / speed


def _frame(lines: list[tuple[str, str]]) -> bytes:
    return "".join(f"{key}: {value}\r\n" for key, value in lines).encode() + b"\r\n"
