"""Composition root: builds every part from the settings, runs them, and stops them in order.

`agent = await Agent.open(settings, clock=...)` builds the daemon and starts it in one step: store -> sender
(resumes pending rows) -> rater -> tracker restored from its log -> pump -> AMI client -> admin API -> retention.
Every part exists from then on; nothing is optional. `await agent.stop()` ends it.

The event path runs one way (docs/architecture.md) and never back through this module: AMI client -> queue ->
`Pump` -> tracker -> its `Sink` (agent/ingest/sink.py), the `Backlog`, which holds system events in memory while
the database refuses writes -> delivery's `Dispatcher` (outbox rows, committed) -> `Sender`. Each part counts its
own metrics. The status document is a `LiveStatus` (agent/admin_api/livestatus.py) that asks each part; the
rate table comes from the rates code (agent/admin_api/rates.py). `StoreHealth` (the status's "store") is told by
each store writer (agent/store/writer.py).

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
from collections.abc import Callable, Coroutine, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from agent.admin_api.app import create_app
from agent.admin_api.auth import TokenUnavailable, load_or_create_token
from agent.admin_api.deps import ApiDeps, TestResult
from agent.admin_api.livestatus import LiveStatus
from agent.admin_api.rates import rate_table
from agent.ami.client import AmiClient
from agent.ami.events import AmiMessage
from agent.ingest.backlog import Backlog
from agent.ingest.pump import Pump
from agent.ingest.trackerlog import TrackerLog, restore
from agent.mapping.config import compile_mapping
from agent.mapping.tracker import CallTracker, skim
from agent.metrics import Metrics
from agent.settings import EX_CONFIG, Settings, SettingsError
from agent.store.facade import Store
from agent.store.files import private_dir
from agent.store.health import StoreHealth
from agent.store.model import Action
from agent.webhooks.dispatcher import Dispatcher
from agent.webhooks.request import render
from agent.webhooks.retention import Retention
from agent.webhooks.retry import RetryPolicy
from agent.webhooks.sender import Sender

log = logging.getLogger("agent")

DATABASE_FILE = "event-agent.db"
# AMI messages waiting for the pump (~1.1 kB each on a real mix where most VarSets are skimmed, 3 kB at most):
# a burst of this many is read at parse speed; when full, the AMI client pauses reading (agent/ami/inlet.py).
QUEUE_SIZE = 8_192
INTAKE_BACKED_UP = 64  # AMI messages waiting for the pump: a burst, during which deliveries give way


def admin_token(settings: Settings) -> str:
    """The admin token; SettingsError when it cannot be had safely (exit status 78)."""
    try:
        return load_or_create_token(settings)
    except TokenUnavailable as exc:
        raise SettingsError([str(exc)]) from None


class Agent:
    """The daemon as one object: `await Agent.open(settings)`, `await stop()`; `run_until_idle()` for tests."""

    def __init__(self, settings: Settings, store: Store, token: str, clock: Callable[[], float]) -> None:
        """Every part, wired on an open store; nothing runs yet (`Agent.open` starts them)."""
        self.settings = settings
        self.clock = clock
        self.store = store
        self.metrics = Metrics()
        self.health = StoreHealth(clock)
        self.queue: asyncio.Queue[AmiMessage] = asyncio.Queue(QUEUE_SIZE)
        self.tracker = CallTracker(compile_mapping(settings.mapping))
        self.ami = AmiClient(settings.ami, self.queue, clock, skim=skim)
        policy = RetryPolicy.from_settings(settings.delivery)
        self.sender = Sender(store, settings.delivery, policy, self.metrics, clock, health=self.health,
                             intake_busy=lambda: self.queue.qsize() >= INTAKE_BACKED_UP)
        self.dispatcher = Dispatcher(store, policy, self.sender.submit, self.metrics, clock)
        self.backlog = Backlog(self.dispatcher, self.health, self.metrics)
        self.tracker_log = TrackerLog(store, self.health)
        self.pump = Pump(self.queue, self.tracker, self.backlog, self.metrics, clock, tracker_log=self.tracker_log,
                         housekeeping_every=settings.mapping.housekeeping_interval)
        self.retention = Retention(store, self.health, clock, days=settings.delivery.activity_retention_days)
        self.status = LiveStatus(ami=self.ami, tracker=self.tracker, sender=self.sender, health=self.health,
                                 backlog=self.backlog, metrics=self.metrics)
        deps = ApiDeps(store=store, settings=settings, token=token, status=self.status, send_test=self.send_test,
                       metrics=self.metrics, on_config_change=self.on_config_change,
                       clock=lambda: datetime.fromtimestamp(clock(), UTC))
        self._runner = web.AppRunner(create_app(deps), access_log=None, shutdown_timeout=1.0)
        self.api_port = 0  # the admin API's port once it listens (settings.admin.port, or the one given for 0)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._follow_gauges()

    @classmethod
    async def open(cls, settings: Settings, *, clock: Callable[[], float] = time.time) -> Agent:
        """Build and start the daemon. Raises SettingsError (the admin token), OSError or sqlite3.Error when it
        cannot start; whatever was started by then is stopped again."""
        token = admin_token(settings)
        private_dir(settings.state_dir)
        store = await Store.open(settings.state_dir / DATABASE_FILE)
        try:
            agent = cls(settings, store, token, clock)
        except BaseException:
            await store.close()
            raise
        try:
            await agent._start()
        except BaseException:
            await agent.stop()
            raise
        return agent

    async def _start(self) -> None:
        await self.sender.start()
        await self.refresh_rater()
        await self._restore()
        self._spawn("pump", self.pump.run())
        self._spawn("ami", self.ami.run())
        await self._serve_api()
        self._spawn("retention", self.retention.run())
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
        self.tracker_log.restored(self.tracker.open_calls())

    def _follow_gauges(self) -> None:
        self.metrics.outbox_depth.follow(lambda: self.sender.depth)
        self.metrics.ami_connected.follow(lambda: 1.0 if self.ami.connected else 0.0)
        self.metrics.calls_in_progress.follow(lambda: self.tracker.calls_in_progress)
        self.metrics.store_ok.follow(lambda: 1.0 if self.health.ok else 0.0)
        self.metrics.store_backlog.follow(lambda: len(self.backlog))
        self.metrics.tracker_log_pending.follow(lambda: self.tracker_log.pending)

    def _spawn(self, name: str, coroutine: Coroutine[Any, Any, None]) -> None:
        self._tasks[name] = asyncio.create_task(coroutine, name=name)

    async def _serve_api(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.admin.host, self.settings.admin.port)
        await site.start()
        self.api_port = int(self._runner.addresses[0][1])
        log.info("admin API on http://%s:%d/", self.settings.admin.host, self.api_port)

    async def send_test(self, action: Action, values: Mapping[str, str]) -> TestResult:
        """Save & Test: render and send once now; the admin API records the activity row."""
        result = await self.sender.send_once(render(action, values), action=action.name, event_name="test")
        return TestResult(result.status, result.message, round(result.duration_ms))

    def on_config_change(self) -> None:
        """Called by the admin API after each committed change: drop caches, reload the rates (in background)."""
        self.dispatcher.invalidate()
        task = asyncio.create_task(self.refresh_rater())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def refresh_rater(self) -> None:
        self.tracker.set_rater(rate_table(await self.store.list_rates()))

    async def run_until_idle(self, ami_messages: int = 0) -> None:
        """Return once `ami_messages` queue messages were processed, the queue is empty and every delivery done."""
        await self.pump.wait_processed(ami_messages)
        while True:
            await self.queue.join()
            await self.backlog.wait_written()
            await self.tracker_log.wait_written()
            await self.sender.wait_idle()
            if self.queue.empty() and not len(self.backlog) and not self.sender.depth:
                return

    async def stop(self) -> None:
        """Ordered shutdown: intake, drain within the grace period, then API, session, store."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.delivery.drain_grace_period
        await self.ami.close()
        await self._finish("ami", deadline)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await self.queue.join()
        await self._cancel("pump")
        await self.backlog.close(max(0.0, deadline - loop.time()))
        await self.tracker_log.close_writer(max(0.0, deadline - loop.time()))
        await self.sender.drain(max(0.0, deadline - loop.time()))
        await self._runner.cleanup()
        await self._cancel("retention")
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.store.close()
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
        return await _serve(settings, stop)


async def _serve(settings: Settings, stop: asyncio.Event) -> int:
    try:
        agent = await Agent.open(settings)
    except (OSError, sqlite3.Error) as exc:
        log.error("cannot start: %s", exc)  # noqa: TRY400 (the reason is the message; no traceback wanted)
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
