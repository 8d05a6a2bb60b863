"""The loop test's parts: the daemon against a looping simulator, checked against offline replay.

A run: `event-agent simulate TRACES --loop` as a process; a raw AMI client (`Recorder`) logs in to it first and
keeps every byte it is sent; then `event-agent run` as a process, with one action bound to all five events that
posts every parameter as JSON to the suite's receiver (tests/support/receiver.py). After the run the daemon is
stopped (it drains its deliveries), then the recorder: the recording holds at least everything the daemon was sent,
the same bytes (the simulator sends every client the same stream, retimed or not). `compare` then checks, call by
call, that what the receiver got is what `agent.devtools.replay` gives for the recording.

How far the daemon got is read from what it delivered: the replayed event that comes last in replay's emission
order among those delivered (matched by `event_id`) is the cut; every replayed event up to the cut must have been
delivered with every parameter equal, and nothing else delivered. Replay emits in AMI order, so a correct daemon
that delivered the event at the cut had processed every AMI event causing those before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.app import DATABASE_FILE, rate_table
from agent.devtools.demo import demo_traces
from agent.devtools.replay import feed, replay
from agent.devtools.trace import read_messages
from agent.mapping.catalog import ALL_PARAMETERS, EVENT_KEYS, SystemEvent
from agent.mapping.config import MappingConfig, compile_mapping
from agent.mapping.tracker import CallTracker
from agent.settings import MappingSettings
from agent.store.facade import Store
from agent.store.model import Action, Body
from agent.store.records import RateRow
from tests.support.agent_runner import Daemon
from tests.support.paths import ROOT
from tests.support.polling import WAIT, eventually
from tests.support.receiver import receiver

HOUSEKEEPING = "housekeeping_interval"
HOUSEKEEPING_ENV = "EVENT_AGENT_MAPPING__HOUSEKEEPING_INTERVAL"
COMPLETIONS = frozenset({"call_answered", "call_unanswered"})

Delivered = Mapping[str, str]


def housekeeping_known() -> bool:
    """Whether this version of the agent has the housekeeping (stuck-call expiry) interval setting."""
    return HOUSEKEEPING in MappingSettings.model_fields


# -- the receiver's action ------------------------------------------------------------------------------------


def every_parameter_action(url: str) -> Action:
    """POST {url}/{{event}} with every parameter of every event as a JSON object."""
    fields = ", ".join(f'"{tag}": "{{{{{tag}}}}}"' for tag in ALL_PARAMETERS)
    return Action(name="Loop receiver", description="every parameter, for the loop test", method="POST",
                  url=f"{url}/{{{{event}}}}", body=Body(type="raw", content_type="application/json",
                                                        raw="{" + fields + "}"))


async def seed(state_dir: Path, url: str) -> None:
    """The daemon's configuration: the action above bound to all five events, the global switch on."""
    await asyncio.to_thread(state_dir.mkdir, parents=True, exist_ok=True)
    store = await Store.open(state_dir / DATABASE_FILE)
    try:
        action = await store.create_action(every_parameter_action(url))
        for key in sorted(EVENT_KEYS):
            await store.update_event(key, active=True, action_ids=[action.id or 0])
        await store.set_actions_enabled(True)
    finally:
        await store.close()


# -- the raw recorder -------------------------------------------------------------------------------------------


class Recorder:
    """A raw AMI client: logs in and keeps every byte it is sent (banner first), as a trace file holds them."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.data = bytearray()
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def login(cls, port: int) -> Recorder:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"Action: Login\r\nActionID: rec-login-1\r\nUsername: recorder\r\nSecret: recorder\r\n\r\n")
        recorder = cls(reader, writer)
        await eventually(lambda: b"Authentication accepted" in recorder.data, what="the recorder's login")
        return recorder

    async def _read(self) -> None:
        while chunk := await self._reader.read(65536):
            self.data += chunk

    async def stop(self) -> bytes:
        """Close the connection; everything received."""
        self._writer.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return bytes(self.data)


# -- processes --------------------------------------------------------------------------------------------------


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without any EVENT_AGENT_ variable, plus `settings`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("EVENT_AGENT_")}
    return {**env, **settings}


@contextlib.asynccontextmanager
async def process(args: Sequence[str], log: Path, env: Mapping[str, str],
                  stdout: bool = False) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m agent ARGS` (stderr, and stdout unless piped, to `log`); SIGTERM (then SIGKILL) on leaving."""
    with log.open("ab") as out:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", *args, cwd=ROOT, env=dict(env),
            stdout=asyncio.subprocess.PIPE if stdout else out, stderr=out,
        )
    try:
        yield child
    finally:
        await terminate(child)


async def terminate(child: asyncio.subprocess.Process) -> int:
    """SIGTERM and wait for the exit status; SIGKILL when it does not stop."""
    if child.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(child.wait(), WAIT)
    except TimeoutError:
        child.kill()
        return await child.wait()


async def listening_port(child: asyncio.subprocess.Process) -> int:
    """The port in `simulate`'s first line."""
    assert child.stdout is not None
    line = (await asyncio.wait_for(child.stdout.readline(), WAIT)).decode()
    found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    assert found, f"simulate printed {line!r}"
    return int(found[1])


# -- one run ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoopRun:
    """One run of the daemon against `simulate --loop`."""

    seconds: float
    speed: float
    keep_timestamps: bool
    housekeeping: float = 0.5
    traces: tuple[Path, ...] = tuple(demo_traces())


@dataclass(frozen=True, slots=True)
class LoopResult:
    delivered: list[dict[str, str]]
    recording: Path
    daemon_exit: int
    daemon_log: str


async def run_loop(run: LoopRun, workdir: Path) -> LoopResult:
    """Run the daemon for `run.seconds` (at least three housekeeping ticks) and record the simulator's stream."""
    assert run.seconds >= 3 * run.housekeeping
    state = workdir / "state"
    flags = ["--keep-timestamps"] if run.keep_timestamps else []
    sim_args = ["simulate", *map(str, run.traces), "--port", "0", "--speed", str(run.speed), "--loop", *flags]
    async with receiver() as rx, process(sim_args, workdir / "simulate.log", clean_env(), stdout=True) as sim:
        await seed(state, rx.url)
        port = await listening_port(sim)
        recorder = await Recorder.login(port)
        daemon = Daemon(state, port, DELIVERY__DRAIN_GRACE_PERIOD="10",
                        MAPPING__HOUSEKEEPING_INTERVAL=str(run.housekeeping))
        try:
            await daemon.start()
            await asyncio.sleep(run.seconds)
        finally:
            code = await daemon.stop()
        recording = workdir / "recording.ami"
        recording.write_bytes(await recorder.stop())
    return LoopResult([request.json() for request in rx.requests], recording, code, daemon.log_text())


async def check_loop(run: LoopRun, workdir: Path, loop_calls: int) -> Comparison:
    """Run, then: the daemon stopped cleanly, at least one whole loop (`loop_calls` calls) compared, no call differs;
    every delivered date is the recording's (timestamps kept) or a date of the run (moved to now; UTC, the default
    time zone)."""
    assert housekeeping_known(), f"this agent has no {HOUSEKEEPING_ENV} setting: the ticks cannot be made short"
    before = dt.datetime.now(dt.UTC).date()
    result = await run_loop(run, workdir)
    after = dt.datetime.now(dt.UTC).date()
    assert result.daemon_exit == 0, result.daemon_log[-3000:]
    replayed = daemon_replay(result.recording)
    comparison = compare(result.delivered, replayed)
    assert comparison.differing == {}
    assert comparison.whole >= loop_calls
    dates = {body["date"] for body in result.delivered}
    assert dates <= ({event.params["date"] for event in replayed} if run.keep_timestamps
                     else {before.isoformat(), after.isoformat()})
    return comparison


# -- the comparison ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    """Calls compared, whole calls among them (their completion was due), and each differing call, in words."""

    calls: int
    whole: int
    differing: Mapping[str, str]
    expected: int = 0  # replayed events up to the cut
    delivered: int = 0  # deliveries received (a duplicate counted each time)


def daemon_replay(recording: Path) -> list[SystemEvent]:
    """Offline replay of a recording with the daemon's mapping settings (defaults, as the runs above use)."""
    return replay(recording, compile_mapping(MappingSettings()))


def rated_replay(recording: Path, config: MappingConfig, rates: Iterable[RateRow]) -> list[SystemEvent]:
    """Offline replay as `agent.devtools.replay.replay` does it, with a rate table (as the daemon loads its rates)."""
    tracker = CallTracker(config)
    tracker.set_rater(rate_table(rates))
    emitted: list[SystemEvent] = []
    for message in read_messages(recording):
        emitted += feed(tracker, message)
    return emitted + tracker.drain()


def compare(delivered: Iterable[Delivered], replayed: Sequence[SystemEvent],
            keys: Collection[str] = ALL_PARAMETERS) -> Comparison:
    """Call by call, every event and every parameter in `keys` (which must include event_id and call_id)."""
    position = {event.event_id: n for n, event in enumerate(replayed)}
    got: dict[str, dict[str, dict[str, str]]] = {}
    twice: dict[str, str] = {}
    delivered = list(delivered)
    for body in delivered:
        values = {key: body.get(key, "<absent>") for key in keys}
        events = got.setdefault(values["call_id"], {})
        if events.setdefault(values["event_id"], values) != values:
            twice[values["call_id"]] = f"{values['event_id']} delivered twice, differently"
    cut = max((position[event_id] for events in got.values() for event_id in events if event_id in position),
              default=-1)
    want: dict[str, dict[str, dict[str, str]]] = {}
    for event in replayed[: cut + 1]:
        want.setdefault(event.call_id, {})[event.event_id] = {key: str(event.params[key]) for key in keys}
    differing = {call: why for call in sorted(want.keys() | got.keys())
                 if (why := twice.get(call) or difference(want.get(call, {}), got.get(call, {})))}
    whole = sum(1 for events in want.values() if any(_name(event_id) in COMPLETIONS for event_id in events))
    return Comparison(calls=len(want.keys() | got.keys()), whole=whole, differing=differing, expected=cut + 1,
                      delivered=len(delivered))


def _name(event_id: str) -> str:
    """The event key in an event_id (`call:event:extension:seq`)."""
    parts = event_id.split(":")
    return parts[-3] if len(parts) >= 3 else ""


def difference(want: Mapping[str, Mapping[str, str]], got: Mapping[str, Mapping[str, str]]) -> str:
    """The first differences between what replay gives for a call and what was delivered, in words ('' if none)."""
    problems = [f"not delivered: {event_id}" for event_id in want if event_id not in got]
    problems += [f"not in replay: {event_id} {dict(got[event_id])}" for event_id in got if event_id not in want]
    for event_id in want.keys() & got.keys():
        problems += [f"{event_id} {key}: replay {value!r}, delivered {got[event_id][key]!r}"
                     for key, value in want[event_id].items() if got[event_id][key] != value]
    return "; ".join(problems[:6])
