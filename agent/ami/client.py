"""The AMI client: one long-running object that keeps a logged-in, resynced AMI connection.

Choice (see docs/ami.md §5): panoramisk 1.4 stays behind this package for what it does well, the action
objects and response correlation, through `agent.ami.protocol.AmiProtocol`, a subclass of its protocol.
Framing and parsing are ours (agent.ami.wire, about twice as fast as panoramisk's and UTF-8 safe). The
connection lifecycle is ours too, because panoramisk's `Manager` reconnects at a fixed whole-second delay,
never checks Ping answers and does no resync:

- connect (timeout `connect_timeout`; over TLS with `tls`, agent.ami.tls), Login, then `CoreShowChannels`: the
  snapshot goes to the queue as `ConnectionUp` between the events before and after it (docs/call-model.md
  "Resync"); when Asterisk refuses the action, `ConnectionUp.channels` is None (no snapshot), never an empty one;
  an answer that does not complete within `resync_timeout`, or passes `resync_max_channels` (agent.ami.snapshot),
  drops the connection (docs/security.md, "Hostile AMI peers");
- a watchdog sends Ping every `ping_interval`; when neither the answer nor any other byte arrives within
  one more interval, the link is aborted, so a half-open link is detected within two intervals;
- a lost link puts `ConnectionLost` in the queue and reconnects after a capped exponential backoff
  (`reconnect_min` doubling up to `reconnect_max`, reset by a login whose resync completed);
- events reach the queue through one enqueue-only sink; the consumer's failures cannot touch the link.

Backpressure: nothing read is ever dropped. The queue is bounded; when it is full, what it cannot take waits
in an `Inlet` (agent.ami.inlet) and reading the socket is paused until the consumer has taken it all. Pausing is
safe: a real PBX sends far fewer events than the pump handles (hundreds a second against tens of thousands),
so pauses only happen in bursts and replays and last as long as the pump needs for one queueful; meanwhile the
kernel buffers what Asterisk writes (our receive buffer and its send buffer, megabytes). Only a stall long
enough to fill both would block Asterisk's write to us, and after its `writetimeout` (manager.conf, 100 ms by
default) Asterisk drops the session: then we reconnect and resync like after any loss. While paused nothing
is read, Ping answers included, so the watchdog does not count that silence against the link. `status()`
reports how often and how long reading was paused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.ami.config import AmiConfig
from agent.ami.events import AmiEvent, AmiMessage, ConnectionLost, ConnectionUp, printable
from agent.ami.inlet import Inlet
from agent.ami.protocol import ActionFailed, AmiProtocol, EventSink
from agent.ami.snapshot import SnapshotLimits
from agent.ami.tls import client_context, failure_reason, unverified_warning
from agent.ami.wire import Skim

log = logging.getLogger(__name__)


class LoginFailed(Exception):
    """Asterisk refused the login (the message is Asterisk's, never the secret)."""


@dataclass(frozen=True, slots=True)
class AmiStatus:
    """A snapshot of the AMI link for the status endpoint and /metrics."""

    connected: bool
    last_event_at: float | None
    events: int
    malformed_frames: int
    reconnects: int
    failed_attempts: int
    last_error: str
    paused: bool = False
    pauses: int = 0
    paused_seconds: float = 0.0
    waiting: int = 0


def reconnect_delay(failures: int, low: float, high: float) -> float:
    """Seconds to wait before the next attempt after `failures` failed ones in a row (0: `low`)."""
    return float(min(high, low * 2 ** min(failures, 32)))


class AmiClient:
    """Keeps the AMI link up and puts `AmiEvent | ConnectionLost | ConnectionUp` into `queue`, in order, every
    one of them: a full (bounded) queue pauses reading instead of dropping anything."""

    def __init__(self, settings: AmiConfig, queue: asyncio.Queue[AmiMessage], clock: Callable[[], float], *,
                 skim: Skim | None = None) -> None:
        self._settings = settings
        self._skim = skim
        self._queue = queue
        self._clock = clock
        self._protocol: AmiProtocol | None = None
        self._closing = asyncio.Event()
        self._logins = 0
        self._events = 0
        self._malformed = 0
        self._failed_attempts = 0
        self._inlet = Inlet(queue, self._hold, self._release)
        self._pauses = 0
        self._paused_seconds = 0.0
        self._last_error = ""
        self.last_event_at: float | None = None
        self._connected = False

    @property
    def connected(self) -> bool:
        """Logged in right now."""
        return self._connected

    @property
    def events(self) -> int:
        return self._events

    @property
    def malformed_frames(self) -> int:
        current = self._protocol.decoder.stats.malformed if self._protocol else 0
        return self._malformed + current

    @property
    def reconnects(self) -> int:
        return max(0, self._logins - 1)

    @property
    def pauses(self) -> int:
        """Times reading was paused because the queue was full, over all connections."""
        return self._pauses + (self._protocol.pauses if self._protocol else 0)

    @property
    def paused_seconds(self) -> float:
        """Time reading spent paused because the queue was full, over all connections."""
        return self._paused_seconds + (self._protocol.paused_seconds() if self._protocol else 0.0)

    def status(self) -> AmiStatus:
        protocol = self._protocol
        return AmiStatus(
            connected=self.connected,
            last_event_at=self.last_event_at,
            events=self._events,
            malformed_frames=self.malformed_frames,
            reconnects=self.reconnects,
            failed_attempts=self._failed_attempts,
            last_error=self._last_error,
            paused=protocol is not None and protocol.paused,
            pauses=self.pauses,
            paused_seconds=self.paused_seconds,
            waiting=len(self._inlet),
        )

    async def run(self) -> None:
        """Connect, and reconnect, until `close()`; then return once every message read is in the queue."""
        failures = 0
        if warning := unverified_warning(self._settings):
            log.warning("%s", warning)
        try:
            while not self._closing.is_set():
                logged_in = await self._attempt()
                failures = 0 if logged_in else failures + 1
                delay = reconnect_delay(failures, self._settings.reconnect_min, self._settings.reconnect_max)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay)
            await self._inlet.flushed()
        finally:
            self._inlet.cancel()

    async def close(self) -> None:
        """Log off and stop; `run()` returns."""
        self._closing.set()
        protocol = self._protocol
        if protocol is not None and not protocol.lost.done():
            if protocol.paused:  # its answer would wait behind unread events: say goodbye without waiting
                protocol.action({"Action": "Logoff"})
            else:
                with contextlib.suppress(ActionFailed, TimeoutError):
                    await protocol.request({"Action": "Logoff"}, within=1.0)
            protocol.abort("closed by the agent")

    def _enqueue(self, message: AmiMessage) -> None:
        self._inlet.put((message,))

    def _on_events(self, events: list[AmiEvent]) -> None:
        self._events += len(events)
        self.last_event_at = events[-1].received_at
        self._inlet.put(events)

    def _hold(self) -> None:
        """The queue is full: stop reading until the inlet has handed over what waits."""
        if self._protocol is not None:
            self._protocol.pause()

    def _release(self) -> None:
        if self._protocol is not None:
            self._protocol.resume()

    async def _attempt(self) -> bool:
        """One connection, from connect to loss; True if it got as far as a completed resync."""
        try:
            protocol = await self._connect()
        except (OSError, TimeoutError) as exc:
            self._fail(f"cannot connect to {self._settings.host}:{self._settings.port}: {failure_reason(exc)}")
            return False
        if self._closing.is_set():
            protocol.abort("closed by the agent")
            return False
        self._protocol = protocol
        resynced = False
        try:
            resynced = await self._session(protocol)
        except (LoginFailed, TimeoutError) as exc:
            self._fail(str(exc) or type(exc).__name__)
        except ActionFailed as exc:
            if not self._connected:  # lost before the login was answered; once logged in, `_end` reports it
                self._fail(f"{self._settings.host}:{self._settings.port}: {exc}")
        finally:
            self._end(protocol)
        return resynced

    async def _connect(self) -> AmiProtocol:
        return await connect(self._settings, self._on_events, self._clock, self._skim)

    async def _session(self, protocol: AmiProtocol) -> bool:
        """Log in, resync, then wait for the link to go down; True if the resync completed."""
        await self._login(protocol)
        watchdog = asyncio.create_task(self._watch(protocol))
        try:
            if not await self._resync(protocol):
                return False
            await protocol.lost
            return True
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    async def _login(self, protocol: AmiProtocol) -> None:
        settings = self._settings
        accepted, message = await log_in(protocol, settings)
        if not accepted:
            raise LoginFailed(f"login as {settings.username!r} refused: {printable(message) or 'no reason'}")
        self._logins += 1
        self._connected = True
        log.info("AMI logged in to %s:%d as %s", settings.host, settings.port, settings.username)

    async def _resync(self, protocol: AmiProtocol) -> bool:
        """Ask CoreShowChannels and queue the snapshot; False (the link dropped) when it is not answered in time."""
        action = protocol.action({"Action": "CoreShowChannels"})
        protocol.hold_events_from(action)
        within = self._settings.resync_timeout
        try:
            answer: Any = await protocol.answer(action, within)
        except TimeoutError:
            protocol.drop(f"the CoreShowChannels answer did not complete within {within:g} s "
                          "(EVENT_AGENT_AMI__RESYNC_TIMEOUT)")
            return False
        channels = answer if isinstance(answer, tuple) else None
        if channels is None:
            log.warning("CoreShowChannels refused (%s): no snapshot to resync with", _message(answer))
        resync_at = protocol.resync_at if protocol.resync_at is not None else self._clock()
        self._enqueue(ConnectionUp(at=self._clock(), resync_at=resync_at, channels=channels,
                                   stamped=protocol.resync_stamped))
        protocol.release_held()
        return True

    async def _watch(self, protocol: AmiProtocol) -> None:
        interval = self._settings.ping_interval
        while not protocol.lost.done():
            await asyncio.sleep(interval)
            if protocol.paused:
                continue  # we read nothing while paused: the silence is ours, not the link's
            seen, pauses = protocol.bytes_received, protocol.pauses
            with contextlib.suppress(TimeoutError, ActionFailed):
                await protocol.request({"Action": "Ping"}, within=interval)
                continue
            if protocol.bytes_received == seen and protocol.pauses == pauses and not protocol.lost.done():
                log.warning("AMI silent for %.1f s after a Ping: reconnecting", interval)
                protocol.abort(f"no answer to Ping within {interval} s")

    def _end(self, protocol: AmiProtocol) -> None:
        if not protocol.lost.done():
            protocol.abort(self._last_error or "session ended")
        self._malformed += protocol.decoder.stats.malformed
        self._pauses += protocol.pauses
        self._paused_seconds += protocol.paused_seconds()
        self._protocol = None
        was_connected, self._connected = self._connected, False
        protocol.release_held()  # events read during an unfinished resync are still real events
        if was_connected and not self._closing.is_set():
            reason = protocol.lost.result()
            self._last_error = reason
            log.warning("AMI connection lost: %s", reason)
            self._enqueue(ConnectionLost(at=self._clock(), reason=reason))

    def _fail(self, error: str) -> None:
        self._failed_attempts += 1
        self._last_error = error
        log.warning("AMI: %s", error)


async def connect(settings: AmiConfig, sink: EventSink, clock: Callable[[], float],
                  skim: Skim | None = None) -> AmiProtocol:
    """A TCP (or TLS) connection to AMI, within `connect_timeout`, whose events go to `sink`; OSError (an
    ssl.SSLError for a certificate not accepted) or TimeoutError. Frames `skim` names are not parsed
    (agent/ami/wire.py)."""
    loop = asyncio.get_running_loop()
    limits = SnapshotLimits(settings.resync_max_channels)
    factory: Callable[[], AmiProtocol] = lambda: AmiProtocol(sink, clock, skim=skim, limits=limits)  # noqa: E731
    context = client_context(settings)
    connecting = loop.create_connection(factory, settings.host, settings.port, ssl=context,
                                        ssl_handshake_timeout=settings.connect_timeout if context else None)
    _, protocol = await asyncio.wait_for(connecting, settings.connect_timeout)
    return protocol


async def log_in(protocol: AmiProtocol, settings: AmiConfig) -> tuple[bool, str]:
    """Send Login (events on) and wait up to `connect_timeout`: (accepted, Asterisk's message). The secret goes
    to Asterisk only."""
    login = {"Action": "Login", "Username": settings.username, "Secret": settings.secret.get_secret_value(),
             "Events": "on"}
    answer: Any = await protocol.request(login, within=settings.connect_timeout)
    return answer.get("Response") == "Success", str(answer.get("Message") or "")


def _message(answer: Any) -> str:
    return printable(answer.get("Message", ""))
