"""Real things to inject faults into: the AMI simulator and the agent as processes, a webhook receiver on
127.0.0.1 that counts what it gets, and the configuration that binds actions to the five events.

Every delivery carries its identity in the query string (`a` = action, `id` = event_id), so the receiver can
count each (event_id, action) pair: "arrived at least once" and "arrived twice" are exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from agent.app import DATABASE_FILE
from agent.settings import AdminSettings, AmiSettings, DeliverySettings, Settings
from agent.store.facade import Store
from agent.store.model import Action, KeyValue
from tests.delivery_support import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "reliability-token-0123456789abcdefghijk"
WAIT = 60.0  # an upper bound for "it happened" on a busy shared machine, never a measurement
EVENT_ORDER = ("call_incoming", "ringing", "call_hangup", "call_answered", "call_unanswered")

Key = tuple[str, str]  # (event_id, action name)


async def eventually(check: Callable[[], bool], within: float = WAIT, what: str = "condition") -> None:
    """Poll `check` every 20 ms until it holds; AssertionError after `within` seconds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {within:g} s")
        await asyncio.sleep(0.02)


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


def fast_delivery(**changes: Any) -> DeliverySettings:
    values: dict[str, Any] = {"retry_initial_delay": 0.05, "retry_max_delay": 0.3, "total_timeout": 5.0,
                              "connect_timeout": 1.0, "live_retry_window": 3600.0, "drain_grace_period": 2.0}
    return DeliverySettings(**{**values, **changes})


def agent_settings(state_dir: Path, ami_port: int, *, ping: float = 10.0, **delivery: Any) -> Settings:
    """Settings for an in-process Agent on loopback: quick reconnects and retries."""
    return Settings(
        state_dir=state_dir,
        ami=AmiSettings(host="127.0.0.1", port=ami_port, ping_interval=ping, connect_timeout=1.0,
                        reconnect_min=0.05, reconnect_max=0.3),
        admin=AdminSettings(host="127.0.0.1", port=0, token=SecretStr(TOKEN)),
        delivery=fast_delivery(**delivery),
    )


# the webhook receiver


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


@dataclass
class Sink:
    """A webhook receiver on 127.0.0.1: records each request's identity, answers `status` after `delay` s.

    `keep=False` keeps only the counts (for the soak: hundreds of thousands of requests); `watch=True` also
    notes when the first request of each (event, call) arrived, for latency measurements."""

    port: int = 0
    status: int = 200
    delay: float = 0.0
    keep: bool = True
    arrivals: list[Arrival] = field(default_factory=list)
    counts: Counter[Key] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    in_progress: int = 0
    watch: bool = False
    first: dict[tuple[str, str], float] = field(default_factory=dict)
    _pulse: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    async def wait_for(self, event: str, call_id: str, within: float = WAIT) -> float:
        """With `watch`: the wall-clock time the first `event` of `call_id` arrived (waits for it)."""
        async with asyncio.timeout(within):
            while (event, call_id) not in self.first:
                await self._pulse.wait()
        return self.first[(event, call_id)]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for count in self.counts.values() if count > 1)

    async def _handle(self, request: web.Request) -> web.Response:
        query = request.query
        arrival = Arrival(request.path.strip("/"), query.get("a", ""), query.get("id", ""), query.get("call", ""),
                          query.get("ext", ""), query.get("adopted", ""), query.get("rec", ""), time.time())
        self.counts[arrival.key] += 1
        self.events[arrival.event] += 1
        if self.watch:
            self.first.setdefault((arrival.event, arrival.call_id), arrival.at)
            self._pulse.set()
            self._pulse = asyncio.Event()
        if self.keep:
            self.arrivals.append(arrival)
        self.in_progress += 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            return web.Response(status=self.status, text="ok")
        finally:
            self.in_progress -= 1

    async def start(self) -> Sink:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@asynccontextmanager
async def sink(**options: Any) -> AsyncIterator[Sink]:
    started = await Sink(**options).start()
    try:
        yield started
    finally:
        await started.stop()


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


def daemon_env(state_dir: Path, ami_port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENT_AGENT_")}
    env.update({
        "EVENT_AGENT_STATE_DIR": str(state_dir),
        "EVENT_AGENT_LOG_LEVEL": "INFO",
        "EVENT_AGENT_AMI__PORT": str(ami_port),
        "EVENT_AGENT_AMI__CONNECT_TIMEOUT": "2",
        "EVENT_AGENT_AMI__RECONNECT_MIN": "0.05",
        "EVENT_AGENT_AMI__RECONNECT_MAX": "0.3",
        "EVENT_AGENT_ADMIN__PORT": "0",
        "EVENT_AGENT_ADMIN__TOKEN": TOKEN,
        "EVENT_AGENT_DELIVERY__RETRY_INITIAL_DELAY": "0.05",
        "EVENT_AGENT_DELIVERY__RETRY_MAX_DELAY": "0.3",
        "EVENT_AGENT_DELIVERY__CONNECT_TIMEOUT": "1",
        "EVENT_AGENT_DELIVERY__LIVE_RETRY_WINDOW": "3600",
        "EVENT_AGENT_DELIVERY__DRAIN_GRACE_PERIOD": "2",
        **{f"EVENT_AGENT_{key.upper()}": value for key, value in extra.items()},
    })
    return env


class Daemon:
    """`event-agent run` as a process; its admin API port is read from its log."""

    def __init__(self, state_dir: Path, ami_port: int, **extra: str) -> None:
        self.state_dir = state_dir
        self.log = state_dir / "agent.log"
        self.env = daemon_env(state_dir, ami_port, **extra)
        self.process: asyncio.subprocess.Process | None = None
        self.api_port = 0
        self.starts = 0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> Daemon:
        """Start the process on a fresh admin port; return once its admin API answers."""
        self.api_port = free_port()
        self.env["EVENT_AGENT_ADMIN__PORT"] = str(self.api_port)
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "agent", "run", cwd=ROOT, env=self.env, stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        self.starts += 1
        deadline = time.monotonic() + WAIT
        while not await self._answers():
            if self.process.returncode is not None or time.monotonic() > deadline:
                code = self.process.returncode
                await self.kill()  # never leave a half-started agent behind
                raise RuntimeError(f"agent did not start ({code}): {self.log_text()[-2000:]}")
            await asyncio.sleep(0.05)
        return self

    async def _answers(self) -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(
                f"http://127.0.0.1:{self.api_port}/healthz", timeout=aiohttp.ClientTimeout(total=2)
            ) as reply:
                return reply.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    async def status(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.api_port}/api/v1/status"
        async with aiohttp.ClientSession() as http, http.get(
            url, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as response:
            return dict(await response.json())

    def rss_mb(self) -> float:
        """Resident memory of the agent process, in MB (from /proc)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
        return 0.0

    async def kill(self) -> None:
        """SIGKILL at whatever point it has reached."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
            self.process = None

    async def stop(self) -> int:
        """SIGTERM and wait for the ordered shutdown; its exit status."""
        if self.process is None:
            return 0
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            await self.kill()
            return -9
        self.process = None
        return code
