"""An AMI server on loopback that serves `.ami` traces (docs/traces.md): `event-agent simulate` and tests.

Each client gets the banner, then its actions answered: Login (checked when a username or secret is set),
Ping, CoreShowChannels (the channels live at that client's point of the trace), Events, Logoff; anything
else gets `Response: Error`. After its Login, a client is streamed the trace's events (the trace's own
Response frames are skipped) with the recorded gaps divided by `speed` (0: as fast as possible); with
`loop`, the trace starts again as a distinct repetition (fresh Uniqueids, later Timestamps).

Timestamps: kept as recorded by default (each repetition moved later by the traces' span, so they still
increase); with `retime`, every trace pass (each trace, on each loop) is moved so that its first Timestamp is the
wall clock (`clock`) at the moment the pass starts streaming, its gaps kept, so an old trace plays as today's
calls. The move is decided once per pass, by the first client that streams it, and shared: every client gets the
same bytes (a raw recording of one client replays to what another client was sent).

Test hooks: `drop_clients()` closes every client socket (optionally making later logins resume further on);
`pause_at(index)` holds every stream before an event; `stall()` stops reading and writing (a half-open
link as the agent sees it) until `resume()`; `inject(data)` writes raw bytes to every logged-in client;
`timestamps=False` strips Timestamp headers; `read_classes` sends only events whose Privilege class is in it;
`refuse` names actions answered `Permission denied` (a user without `write = reporting` for CoreShowChannels).
With `tls` (a server context; `--tls-cert`/`--tls-key` on the command line) it serves AMI over TLS, as Asterisk
does with `tlsenable` in manager.conf.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import ssl
import sys
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path

from agent.devtools.session import ClientSession, SimulatorOptions, StreamGate
from agent.devtools.trace import TraceEvent, renumbered, timestamp_span, trace_events

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
_STAMP_HEADER = re.compile(rb"\r\nTimestamp: [^\r\n]*")


class AmiSimulator:
    """Serve traces to any number of clients. `await start()` returns the port (pass port=0 for a free one)."""

    def __init__(
        self,
        traces: Sequence[Path],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 0.0,
        loop: bool = False,
        username: str | None = None,
        secret: str | None = None,
        timestamps: bool = True,
        read_classes: Collection[str] | None = None,
        refuse: Collection[str] = (),
        clock: Callable[[], float] = time.time,
        retime: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._data = [path.read_bytes() for path in traces]
        self._tls = tls
        self._host = host
        self._port = port
        classes = frozenset(read_classes) if read_classes is not None else None
        self._options = SimulatorOptions(
            speed=speed, username=username, secret=secret, read_classes=classes, clock=clock,
            refused=frozenset(name.lower() for name in refuse),
        )
        self._loop = loop
        self._timestamps = timestamps
        self._retime = retime
        self._first = [self._render(trace, 0, 0.0) for trace in range(len(self._data))]
        self._starts = [first_timestamp(events) for events in self._first]
        self._span = max((timestamp_span(events) for events in self._first), default=0.0) + 1.0
        self._shifts: list[float] = []  # retime: the shift of each pass, by pass number, once decided
        self._server: asyncio.Server | None = None
        self._sessions: set[ClientSession] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = asyncio.Event()
        self._running.set()
        self._gate = StreamGate()
        self._past_logins = 0

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port

    @property
    def retimed(self) -> bool:
        """Whether Timestamps are moved to the wall clock (see the module docstring)."""
        return self._retime

    @property
    def event_count(self) -> int:
        """Events in one pass over the traces (before any read-class filter)."""
        return sum(len(events) for events in self._first)

    @property
    def logins(self) -> int:
        """Successful logins so far, over all connections."""
        return sum(session.logins for session in self._sessions) + self._past_logins

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, self._host, self._port, ssl=self._tls)
        self._port = self._server.sockets[0].getsockname()[1]
        return self._port

    async def stop(self) -> None:
        """Stop listening, drop every client and wait for their sessions to end."""
        if self._server is not None:
            self._server.close()
        self.drop_clients()
        self.resume()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5.0)
        if self._server is not None:
            await self._server.wait_closed()

    def drop_clients(self, resume_at: int | None = None) -> None:
        """Close every client connection now (the agent sees the server going away mid-trace).

        With `resume_at`, later logins are streamed from that event index on, as if the PBX had gone on while
        the agent was away: the events before it are missed, but CoreShowChannels knows their outcome.
        """
        if resume_at is not None:
            self._gate.start = resume_at
        for session in list(self._sessions):
            session.drop()

    def pause_at(self, index: int | None) -> None:
        """Stream events up to, not including, event `index` (counted over all passes); None: no limit."""
        self._gate.set_limit(index)

    def stall(self) -> None:
        """Stop reading and writing on every connection, keeping the sockets open."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def inject(self, data: bytes) -> None:
        """Write raw bytes to every logged-in client, between two trace events."""
        for session in self._sessions:
            session.inject(data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = ClientSession(
            reader, writer, options=self._options, running=self._running, gate=self._gate, passes=self._passes
        )
        task = asyncio.current_task()
        self._sessions.add(session)
        if task is not None:
            self._tasks.add(task)
        try:
            await session.run(BANNER)
        finally:
            self._sessions.discard(session)
            self._tasks.discard(task)
            self._past_logins += session.logins

    def _passes(self) -> Iterator[list[TraceEvent]]:
        """The event list of each trace, trace after trace, repetition after repetition when looping.

        Lazy: a pass is made when the session is about to stream it (that is the moment `retime` moves it to)."""
        number = 0
        repetition = 0
        while repetition == 0 or self._loop:
            for trace in range(len(self._data)):
                yield self._pass(number, repetition, trace)
                number += 1
            repetition += 1

    def _pass(self, number: int, repetition: int, trace: int) -> list[TraceEvent]:
        if self._retime:
            return self._render(trace, repetition, self._shift(number, trace))
        if repetition == 0:
            return self._first[trace]
        return self._render(trace, repetition, repetition * self._span)

    def _shift(self, number: int, trace: int) -> float:
        """Seconds pass `number` is moved by: decided by the first session to reach it (sessions go in order)."""
        if number == len(self._shifts):
            start = self._starts[trace]
            self._shifts.append(0.0 if start is None else round(self._options.clock() - start, 6))
        return self._shifts[number]

    def _render(self, trace: int, repetition: int, shift: float) -> list[TraceEvent]:
        data = renumbered(self._data[trace], repetition, shift)
        return trace_events(data if self._timestamps else _STAMP_HEADER.sub(b"", data))


def first_timestamp(events: Sequence[TraceEvent]) -> float | None:
    """The Timestamp of the first event that has one (None without any)."""
    return next((event.timestamp for event in events if event.timestamp is not None), None)


def simulate_main(
    traces: list[Path],
    *,
    host: str,
    port: int,
    speed: float,
    loop: bool,
    username: str | None,
    secret: str | None,
    keep_timestamps: bool = False,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> int:
    """`event-agent simulate`: serve until interrupted; prints the address it listens on.

    Timestamps are moved to the wall clock (`retime`) unless `keep_timestamps`: the daemon then sees today's
    calls; keeping them tests an agent against a PBX whose clock is days off."""
    missing = [str(path) for path in traces if not path.is_file()]
    if missing:
        print(f"event-agent simulate: no such trace: {', '.join(missing)}", file=sys.stderr)
        return 66
    tls = server_context(tls_cert, tls_key) if tls_cert else None
    simulator = AmiSimulator(traces, host=host, port=port, speed=speed, loop=loop, username=username, secret=secret,
                             retime=not keep_timestamps, tls=tls)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(simulator))
    return 0


def server_context(cert: Path, key: Path | None) -> ssl.SSLContext:
    """A TLS server context from a PEM certificate (chain) and its key (`key` None: the key is in `cert`)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def _serve_forever(simulator: AmiSimulator) -> None:
    port = await simulator.start()
    stamps = "moved to now" if simulator.retimed else "as recorded"
    print(f"AMI simulator listening on {simulator.host}:{port} ({simulator.event_count} events, timestamps {stamps})",
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await simulator.stop()
