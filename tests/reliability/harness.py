"""Real things to inject faults into: the AMI simulator as a process, and what the webhook receiver got,
counted by identity; the configuration that binds actions to the five events. (The receiver, the agent runners,
`eventually` and the settings are the suite's own, in tests/support/.)

Every delivery carries its identity in the query string (`a` = action, `id` = event_id), so the receiver's
requests can be counted per (event_id, action) pair: "arrived at least once" and "arrived twice" are exact.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.app import DATABASE_FILE
from agent.store.facade import Store
from agent.store.model import Action, KeyValue
from tests.support.paths import ROOT
from tests.support.polling import WAIT
from tests.support.receiver import Received, Receiver, receiver

EVENT_ORDER = ("call_incoming", "ringing", "call_hangup", "call_answered", "call_unanswered")

Key = tuple[str, str]  # (event_id, action name)


# configuration


async def configure(state_dir: Path, port: int, *, actions: int = 1, per_event: bool = False) -> list[Action]:
    """Actions posting to the receiver on `port`, the switch on. `per_event`: action i is bound to event i
    only (5 actions, one per event); else every action is bound to all five events."""
    state_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (test setup, before anything runs)
    store = await Store.open(state_dir / DATABASE_FILE)
    try:
        made = [await store.create_action(_action(f"a{n}", port)) for n in range(actions)]
        for index, key in enumerate(EVENT_ORDER):
            bound = [made[index % len(made)]] if per_event else made
            await store.update_event(key, active=True, action_ids=[a.id or 0 for a in bound])
        await store.set_actions_enabled(True)
    finally:
        await store.close()
    return made


def _action(name: str, port: int) -> Action:
    query = (("a", name), ("id", "{{event_id}}"), ("call", "{{call_id}}"), ("ext", "{{extension}}"),
             ("adopted", "{{adopted}}"), ("rec", "{{reconciled}}"))
    return Action(name=name, method="POST", url=f"http://127.0.0.1:{port}/{{{{event}}}}",
                  query=tuple(KeyValue(k, v) for k, v in query))


# what the receiver got


@dataclass(frozen=True, slots=True)
class Arrival:
    event: str
    action: str
    event_id: str
    call_id: str
    extension: str
    adopted: str
    reconciled: str
    at: float

    @property
    def key(self) -> Key:
        return (self.event_id, self.action)

    @classmethod
    def of(cls, request: Received) -> Arrival:
        query = request.query
        return cls(request.path.strip("/"), query.get("a", ""), query.get("id", ""), query.get("call", ""),
                   query.get("ext", ""), query.get("adopted", ""), query.get("rec", ""), request.at)


@dataclass
class Tally:
    """What `receiver` got, by identity: how often each (event_id, action) arrived, each event's count, when the
    first request of each (event, call) arrived, and (with `keep`) every arrival. `keep=False` is for the soak:
    hundreds of thousands of requests, counted only."""

    receiver: Receiver
    keep: bool = True
    arrivals: list[Arrival] = field(default_factory=list)
    counts: Counter[Key] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    first: dict[tuple[str, str], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.receiver.listeners.append(self._add)

    @property
    def port(self) -> int:
        return self.receiver.port

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for count in self.counts.values() if count > 1)

    async def wait_for(self, event: str, call_id: str, within: float = WAIT) -> float:
        """The wall-clock time the first `event` of `call_id` arrived (waits for it)."""
        await self.receiver.until(lambda: (event, call_id) in self.first, within)
        return self.first[(event, call_id)]

    def _add(self, request: Received) -> None:
        arrival = Arrival.of(request)
        self.counts[arrival.key] += 1
        self.events[arrival.event] += 1
        self.first.setdefault((arrival.event, arrival.call_id), arrival.at)
        if self.keep:
            self.arrivals.append(arrival)


@asynccontextmanager
async def sink(*, keep: bool = True, **options: Any) -> AsyncIterator[Tally]:
    """A started receiver (`options` go to it, e.g. `answer=Reply(delay=0.05)`) and its tally."""
    async with receiver(keep=False, **options) as started:
        yield Tally(started, keep)


# processes


class SimProcess:
    """`python -m tests.reliability.simproc` on loopback: killable, stoppable, restartable on the same port."""

    def __init__(self, traces: Sequence[Path], port: int = 0) -> None:
        self.traces = list(traces)
        self.port = port
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, *, resume_at: int = 0, pause_at: int | None = None, loop: bool = False,
                    speed: float = 0.0) -> SimProcess:
        args = [sys.executable, "-m", "tests.reliability.simproc", "--port", str(self.port),
                "--resume-at", str(resume_at), "--speed", str(speed), *[str(t) for t in self.traces]]
        if pause_at is not None:
            args += ["--pause-at", str(pause_at)]
        if loop:
            args.append("--loop")
        self.process = await asyncio.create_subprocess_exec(*args, cwd=ROOT, stdin=asyncio.subprocess.PIPE,
                                                            stdout=asyncio.subprocess.PIPE)
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), WAIT)
        if not line.startswith(b"READY "):
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    async def command(self, line: str) -> float:
        """Send one stdin command (`pause M|none`, `drop [N]`, `inject FILE`); the wall-clock time it was done."""
        assert self.process is not None
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()
        answer = (await asyncio.wait_for(self.process.stdout.readline(), WAIT)).split()
        if not answer or answer[0] != b"OK":
            raise RuntimeError(f"simulator refused {line!r}: {answer!r}")
        return float(answer[1])

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signum)

    async def kill(self) -> None:
        """SIGKILL: Asterisk is gone, its sockets closed by the kernel."""
        if self.process is not None:
            self.signal(signal.SIGKILL)
            await self.process.wait()
            self.process = None

    async def stop(self) -> None:
        if self.process is not None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                await self.kill()
            self.process = None


@asynccontextmanager
async def sim_process(traces: Sequence[Path], **options: Any) -> AsyncIterator[SimProcess]:
    sim = await SimProcess(traces).start(**options)
    try:
        yield sim
    finally:
        await sim.stop()
