"""Composition root: builds every part from the settings, runs them, and stops them in order.

Start: store -> sender (resumes pending rows) -> rater -> tracker restored from its log -> pump -> AMI client ->
admin API -> activity purge.
The pump writes through a `Backlog`, which holds system events in memory while the database refuses writes;
`StoreHealth` (what `status` shows under "store") is fed by the backlog and the sender.
Stop (SIGTERM/SIGINT): stop intake (AMI logoff), let the pump drain the queue, the backlog write what it holds
and the sender finish what is due, all within `delivery.drain_grace_period`, then close the admin API, the HTTP
session and the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from agent.admin_api.app import create_app
from agent.admin_api.auth import load_or_create_token
from agent.admin_api.deps import ApiDeps, TestResult
from agent.ami.client import AmiClient
from agent.ami.events import AmiMessage
from agent.ingest.backlog import Backlog
from agent.ingest.pump import Pump
from agent.ingest.trackerlog import TrackerLog, restore
from agent.mapping.rating import Rate, RateTable
from agent.mapping.tracker import CallTracker, skim
from agent.metrics import Metrics
from agent.settings import EX_CONFIG, Settings, SettingsError
from agent.store.facade import Store
from agent.store.files import private_dir
from agent.store.health import StoreHealth, transient
from agent.store.model import Action
from agent.store.records import RateRow
from agent.webhooks.dispatcher import Dispatcher
from agent.webhooks.request import render
from agent.webhooks.retry import RetryPolicy
from agent.webhooks.sender import Sender

log = logging.getLogger("agent")

DATABASE_FILE = "event-agent.db"
# AMI messages waiting for the pump (~1.1 kB each on a real mix where most VarSets are skimmed, 3 kB at most):
# a burst of this many is read at parse speed; when full, the AMI client pauses reading (agent/ami/inlet.py).
QUEUE_SIZE = 8_192
INTAKE_BACKED_UP = 64  # AMI messages waiting for the pump: a burst, during which deliveries give way
PURGE_EVERY = 3600.0
FINISHED_OUTBOX_KEEP = 3600.0


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def rate_table(rows: Iterable[RateRow]) -> RateTable | None:
    """The tracker's rater from stored rates (decimal strings); None when there are none or they are invalid."""
    try:
        rates = [Rate(r.prefix, Decimal(r.price_per_minute), Decimal(r.connection_fee), r.minimum_s, r.increment_s,
                      r.description) for r in rows]
        return RateTable(rates) if rates else None
    except (ValueError, InvalidOperation) as exc:
        log.warning("rate table not loaded: %s", exc)
        return None


class Agent:
    """The daemon as one object: `await start()`, `await stop()`; `run_until_idle()` for tests."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = Metrics()
        self.queue: asyncio.Queue[AmiMessage] = asyncio.Queue(QUEUE_SIZE)
        self.tracker = CallTracker(settings.mapping.compile())
        self.ami = AmiClient(settings.ami, self.queue, clock, skim=skim)
        self.policy = RetryPolicy.from_settings(settings.delivery)
        self.health = StoreHealth(clock)
        self._store: Store | None = None
        self._backlog: Backlog | None = None
        self._sender: Sender | None = None
        self._dispatcher: Dispatcher | None = None
        self._pump: Pump | None = None
        self._tracker_log: TrackerLog | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.api_port: int | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("agent not started")
        return self._store

    @property
    def sender(self) -> Sender:
        if self._sender is None:
            raise RuntimeError("agent not started")
        return self._sender

    @property
    def backlog(self) -> Backlog:
        if self._backlog is None:
            raise RuntimeError("agent not started")
        return self._backlog

    @property
    def pump(self) -> Pump:
        if self._pump is None:
            raise RuntimeError("agent not started")
        return self._pump

    async def start(self, *, serve_api: bool = True) -> None:
        """Open the store and start every part; raises SettingsError for a token that cannot be had safely."""
        token = load_or_create_token(self.settings) if serve_api else ""
        private_dir(self.settings.state_dir)
        self._store = await Store.open(self.settings.state_dir / DATABASE_FILE)
        self._sender = Sender(self._store, self.settings.delivery, self.policy, self.metrics, self.clock,
                              health=self.health, intake_busy=lambda: self.queue.qsize() >= INTAKE_BACKED_UP)
        self._dispatcher = Dispatcher(self._store, self.policy, self._sender.submit, self.clock)
        self._follow_gauges()
        await self._sender.start()
        await self.refresh_rater()
        await self._restore()
        self._backlog = Backlog(self._dispatch, self.health, self.metrics)
        self._pump = Pump(self.queue, self.tracker, self._backlog.put, self.metrics, self.clock,
                          tracker_log=self._tracker_log)
        self._spawn("pump", self._pump.run())
        self._spawn("ami", self.ami.run())
        if serve_api:
            await self._serve_api(token)
        self._spawn("purge", self._purge_forever())
        # Everything loaded so far (modules, settings, the app) lives as long as the daemon: keep it out of the
        # cyclic GC's full collections, which otherwise walk it each time and stall the event loop for that
        # long (profiled: 20-45 ms full collections while 10,000 deliveries were pending). `stop` undoes it.
        gc.freeze()

    async def _restore(self) -> None:
        """Rebuild the calls in progress from the tracker log (agent/ingest/trackerlog.py) before the AMI connects."""
        restored = await restore(self.store, self.tracker)
        if restored.frames:
            log.info("resumed %d calls in progress from the tracker log (%d AMI events; %d already complete)",
                     restored.calls, restored.frames, restored.dropped)
        self._tracker_log = TrackerLog(self.store, self.health)
        self._tracker_log.restored(self.tracker.open_calls())

    def _follow_gauges(self) -> None:
        self.metrics.outbox_depth.follow(lambda: self.sender.depth)
        self.metrics.ami_connected.follow(lambda: 1.0 if self.ami.connected else 0.0)
        self.metrics.calls_in_progress.follow(lambda: self.tracker.calls_in_progress)
        self.metrics.store_ok.follow(lambda: 1.0 if self.health.ok else 0.0)
        self.metrics.store_backlog.follow(lambda: len(self._backlog) if self._backlog else 0)
        self.metrics.tracker_log_pending.follow(lambda: self._tracker_log.pending if self._tracker_log else 0)

    def _spawn(self, name: str, coroutine: Coroutine[Any, Any, None]) -> None:
        self._tasks[name] = asyncio.create_task(coroutine, name=name)

    async def _dispatch(self, events: Any) -> None:
        if self._dispatcher is not None:
            for row in await self._dispatcher.dispatch(events):
                self.metrics.enqueued.inc(row.event)

    async def _serve_api(self, token: str) -> None:
        deps = ApiDeps(store=self.store, settings=self.settings, token=token, status=self.status,
                       send_test=self.send_test, metrics=self.metrics, on_config_change=self.on_config_change,
                       clock=lambda: datetime.fromtimestamp(self.clock(), UTC))
        self._runner = web.AppRunner(create_app(deps), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.admin.host, self.settings.admin.port)
        await site.start()
        self.api_port = int(self._runner.addresses[0][1])
        log.info("admin API on http://%s:%d/", self.settings.admin.host, self.api_port)

    def status(self) -> Mapping[str, object]:
        """Live state for /api/v1/status: the AMI link, the store, calls in progress, outbox depth, counters."""
        ami = self.ami.status()
        return {
            "ami": {"connected": ami.connected, "last_event_at": _iso(ami.last_event_at), "events": ami.events,
                    "reconnects": ami.reconnects, "malformed_frames": ami.malformed_frames,
                    "last_error": ami.last_error, "paused": ami.paused, "pauses": ami.pauses,
                    "paused_seconds": round(ami.paused_seconds, 3)},
            "store": self._store_status(),
            "calls_in_progress": self.tracker.calls_in_progress,
            "outbox_depth": self._sender.depth if self._sender else 0,
            "counters": self.metrics.counters(),
        }

    def _store_status(self) -> dict[str, object]:
        """Whether the database accepts writes; what is held in memory meanwhile and what was dropped."""
        return {"ok": self.health.ok, "error": self.health.error, "since": _iso(self.health.since),
                "backlog": len(self._backlog) if self._backlog else 0,
                "dropped": self._backlog.dropped if self._backlog else 0,
                "outcomes_waiting": self._sender.outcomes_waiting if self._sender else 0}

    async def send_test(self, action: Action, values: Mapping[str, str]) -> TestResult:
        """Save & Test: render and send once now; the admin API records the activity row."""
        result = await self.sender.send_once(render(action, values), action=action.name, event_name="test")
        return TestResult(result.status, result.message, round(result.duration_ms))

    def on_config_change(self) -> None:
        """Called by the admin API after each committed change: drop caches, reload the rates (in background)."""
        if self._dispatcher is not None:
            self._dispatcher.invalidate()
        task = asyncio.create_task(self.refresh_rater())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def refresh_rater(self) -> None:
        self.tracker.set_rater(rate_table(await self.store.list_rates()))

    async def purge(self) -> None:
        """Forget activity rows older than the retention period, and finished outbox rows after an hour
        (their outcome is in the activity log; the rendered requests need not sit on disk)."""
        now = self.clock()
        removed = await self.store.purge_activity(now - self.settings.delivery.activity_retention_days * 86400.0)
        await self.store.purge_outbox(now - FINISHED_OUTBOX_KEEP)
        if removed:
            log.info("purged %d activity rows older than %d days", removed,
                     self.settings.delivery.activity_retention_days)

    async def _purge_forever(self) -> None:
        while True:
            try:
                await self.purge()
            except Exception as exc:
                if transient(exc):
                    log.warning("activity purge skipped (%s); trying again later", exc)
                else:
                    log.exception("activity purge failed; trying again later")
            await asyncio.sleep(PURGE_EVERY)

    async def run_until_idle(self, ami_messages: int = 0) -> None:
        """Return once `ami_messages` queue messages were processed, the queue is empty and every delivery done."""
        await self.pump.wait_processed(ami_messages)
        while True:
            await self.queue.join()
            await self.backlog.wait_written()
            if self._tracker_log is not None:
                await self._tracker_log.wait_written()
            await self.sender.wait_idle()
            if self.queue.empty() and not len(self.backlog) and not self.sender.depth:
                return

    async def stop(self) -> None:
        """Ordered shutdown: intake, drain within the grace period, then API, session, store."""
        deadline = asyncio.get_running_loop().time() + self.settings.delivery.drain_grace_period
        await self.ami.close()
        await self._finish("ami", deadline)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await self.queue.join()
        await self._cancel("pump")
        if self._backlog is not None:
            await self._backlog.close(max(0.0, deadline - asyncio.get_running_loop().time()))
        if self._tracker_log is not None:
            await self._tracker_log.close_writer(max(0.0, deadline - asyncio.get_running_loop().time()))
        if self._sender is not None:
            await self._sender.drain(max(0.0, deadline - asyncio.get_running_loop().time()))
        if self._runner is not None:
            await self._runner.cleanup()
        await self._cancel("purge")
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._store is not None:
            await self._store.close()
        gc.unfreeze()
        log.info("stopped")

    async def _finish(self, name: str, deadline: float) -> None:
        task = self._tasks.pop(name, None)
        if task is None:
            return
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            async with asyncio.timeout_at(deadline):
                await asyncio.shield(task)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _cancel(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def configure_logging(level: str) -> None:
    """One line per record on stdout (journald adds the time when run by systemd). `level` is for the agent's own
    loggers (`agent.*`); other libraries log from WARNING up only, as their DEBUG lines hold what the agent never
    logs (aiosqlite writes each SQL statement with its values: parameters, rendered requests)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("agent").setLevel(level)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[asyncio.Event]:
    """An event that SIGTERM or SIGINT sets while inside; the handlers are removed on leaving."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        yield stop
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def serve(settings: Settings) -> int:
    """Run the agent until SIGTERM or SIGINT; 0 on a clean stop, 1 when it cannot start."""
    with stop_on_signals() as stop:
        return await _serve(Agent(settings), stop)


async def _serve(agent: Agent, stop: asyncio.Event) -> int:
    try:
        await agent.start()
    except (OSError, sqlite3.Error) as exc:
        log.error("cannot start: %s", exc)  # noqa: TRY400 (the reason is the message; no traceback wanted)
        await agent.stop()
        return 1
    log.info("event-agent running (state in %s)", agent.settings.state_dir)
    await stop.wait()
    log.info("stopping: draining for up to %g s", agent.settings.delivery.drain_grace_period)
    await agent.stop()
    return 0


def run_daemon(settings: Settings) -> int:
    """`event-agent run`: the exit status (0 clean stop, 78 bad settings, 1 cannot start)."""
    configure_logging(settings.log_level)
    try:
        return asyncio.run(serve(settings))
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"event-agent: {problem}", file=sys.stderr)
        return EX_CONFIG
