"""Sends outbox rows: one shared aiohttp session, bounded concurrency, per-lane order, every attempt recorded.

Each attempt runs in its own task under a semaphore, so a slow or dead endpoint only holds its own slots and
never blocks the event loop. The outcome (delivered, retry later, failed, expired) and the activity row are
committed together; pending rows are paged in again on start, so a restart resumes them.

Bounded working set: the rows in memory are every pending row numbered (`seq`) up to a watermark; the rest
stay in the database only, and a pager task loads the next ones in emission order whenever the work at hand
(`Lanes.ready`: heads never tried plus heads in flight) falls below a window of WINDOW_PER_SLOT x concurrency.
New rows are taken straight into memory only while nothing is left behind in the database. Since memory always
holds a prefix of each (call, action) lane, lane order holds across pages. So when intake outruns delivery (a
burst, a slow receiver) the backlog grows in SQLite, not in memory; retries waiting for their time stay in
memory (one row each), which a dead endpoint's backlog still costs.

A slot bounds the requests in flight: it is freed as soon as the response is read, so the next request starts
while the outcome is committed (group commit: agent/store/deliveries.py). While the database refuses writes
(locked, disk full), an attempt keeps its outcome and the store writer (agent/store/writer.py) retries committing
it with a capped backoff, holding its lane (and its slot, once the store is known to fail): later deliveries of
that call and action wait, and the row stays pending in the database until the outcome is committed, so a stop or
crash meanwhile sends it again after the next start (at least once). Its activity row is written late, with the
attempt's own date. Which row is due next is decided in memory (`Lanes`), so no database read can stop the loop;
the pager's reads go through a store writer of their own.

AMI intake goes first: while its queue is backed up (`intake_busy`, a burst of events), each new attempt waits
up to GIVE_WAY_MAX before it starts, so the CPU goes to reading and tracking; rows are committed all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from agent import __version__
from agent.ami.events import printable
from agent.metrics import Metrics
from agent.store.facade import Store
from agent.store.health import WRITE_RETRY, Backoff, StoreHealth
from agent.store.model import RenderedRequest
from agent.store.records import Delivery, NewActivity
from agent.store.writer import StoreWriter
from agent.webhooks.config import DeliveryConfig
from agent.webhooks.failure import describe
from agent.webhooks.outbox import Lanes
from agent.webhooks.redaction import redact_text
from agent.webhooks.retry import AttemptResult, RetryPolicy
from agent.webhooks.target import target

log = logging.getLogger("agent.delivery")

MESSAGE_LIMIT = 500
READ_LIMIT = 4096
WRITER = "delivery outcomes"
PAGER = "pending deliveries"
PAGE_RETRY = 5.0  # s before reading pending rows again after an error that is not an outage (a bug, damage)
WINDOW_PER_SLOT = 8
GIVE_WAY_STEP = 0.005  # s between looks at the AMI intake while it is backed up
GIVE_WAY_MAX = 0.25  # s an attempt waits at most for the intake: deliveries slow down in a burst, never stop


def truncate(text: str, limit: int = MESSAGE_LIMIT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _read_some(response: aiohttp.ClientResponse) -> str:
    data = b""
    while len(data) < READ_LIMIT:
        chunk = await response.content.read(READ_LIMIT - len(data))
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", errors="replace")


def _message(status: int, body: str, location: str | None) -> str:
    """What the activity log says about an answer (redacted, then cut to MESSAGE_LIMIT, by `send`)."""
    if 300 <= status <= 399:
        return f"redirect {status} to {location or '(no Location)'} not followed"
    if body.strip() or 200 <= status <= 299:
        return body
    return f"HTTP {status} from the receiver"


class Slot:
    """One of the sender's concurrency slots, released once whoever is first to call `release`."""

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots: asyncio.Semaphore | None = slots

    def release(self) -> None:
        if self._slots is not None:
            self._slots.release()
            self._slots = None


class Sender:
    """Delivers outbox rows; `start()`, `submit(rows)`, `drain(grace)`, `close()`."""

    def __init__(self, store: Store, settings: DeliveryConfig, policy: RetryPolicy, metrics: Metrics,
                 clock: Callable[[], float] = time.time, *, health: StoreHealth | None = None,
                 backoff: Backoff = WRITE_RETRY, intake_busy: Callable[[], bool] | None = None) -> None:
        self._store = store
        self._intake_busy = intake_busy
        self._health = health or StoreHealth(clock)
        self._outcomes = StoreWriter(WRITER, self._health, late=lambda n: f"recorded {n} delivery outcomes late",
                                     backoff=backoff)
        self._reader = StoreWriter(PAGER, self._health, late=lambda _: "pending deliveries read again",
                                   backoff=backoff)
        self._settings = settings
        self._policy = policy
        self._metrics = metrics
        self._clock = clock
        self._lanes = Lanes()
        self._window = WINDOW_PER_SLOT * settings.concurrency
        self._loaded_seq = 0  # every pending row numbered up to this is in `_lanes`
        self._behind = 0  # pending rows numbered after it: in the database only, paged in by `_page_forever`
        self._pager: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._pulse = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def depth(self) -> int:
        """Deliveries not yet finished (waiting or in flight), in memory or not."""
        return len(self._lanes) + self._behind

    @property
    def loaded(self) -> int:
        """Deliveries held in memory (the rest of `depth` is paged in from the database)."""
        return len(self._lanes)

    @property
    def outcomes_waiting(self) -> int:
        """Attempts made whose outcome the database has not accepted yet."""
        return self._outcomes.waiting

    async def start(self) -> None:
        """Open the session, count the pending rows (the pager loads them) and start sending."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._settings.concurrency, limit_per_host=0),
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": f"event-agent/{__version__}"},
        )
        self._behind = await self._store.pending_count()
        if self._behind:
            log.info("resuming %d pending deliveries", self._behind)
        self._loop_task = asyncio.create_task(self._run(), name="sender")
        self._pager = asyncio.create_task(self._page_forever(), name="sender-pager")

    def submit(self, rows: Sequence[Delivery]) -> None:
        """Hand over committed rows (in emission order): into memory, or left to the pager when it is behind."""
        if self._behind or self._lanes.ready >= self._window:
            self._behind += len(rows)
        elif rows:
            self._lanes.add(rows)
            self._loaded_seq = max(self._loaded_seq, rows[-1].seq)
        self._notify()

    async def _page_forever(self) -> None:
        """Keep the work at hand up to the window from the rows left in the database, in emission order."""
        while True:
            pulse = self._pulse
            if not self._behind or self._lanes.ready >= self._window:
                await pulse.wait()
                continue
            try:
                await self._reader.hold(self._load_page)
            except Exception:  # supervision point: what is in memory keeps going; the page is read again
                log.exception("could not read pending deliveries; trying again in %g s", PAGE_RETRY)
                await asyncio.sleep(PAGE_RETRY)

    async def _load_page(self) -> None:
        limit = max(self._window - self._lanes.ready, self._settings.concurrency)
        rows = await self._store.pending_after(self._loaded_seq, limit)
        if rows:
            self._lanes.add(rows)
            self._loaded_seq = rows[-1].seq
        self._behind = max(0, self._behind - len(rows)) if rows else 0
        self._notify()

    def _notify(self) -> None:
        self._pulse.set()
        self._pulse = asyncio.Event()

    async def wait_idle(self) -> None:
        """Return once every known delivery is finished (tests: run until idle)."""
        while self.depth:
            await self._pulse.wait()

    async def wait_quiet(self) -> None:
        """Return once nothing is in flight and nothing is due now (later retries may remain)."""
        while self._lanes.in_flight or self._due_now():
            await self._pulse.wait()

    def _due_now(self) -> bool:
        if self._behind:
            return True
        due = self._lanes.next_due_at()
        return due is not None and due <= self._clock()

    async def drain(self, grace: float) -> None:
        """Keep sending what is due for up to `grace` seconds, then stop; unsent rows stay pending."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self.wait_quiet()
        await self.close()

    async def close(self) -> None:
        """Stop sending (in-flight attempts are cancelled; their rows stay pending) and close the session."""
        tasks = [*self._tasks, *(task for task in (self._loop_task, self._pager) if task is not None)]
        if self._outcomes.waiting:
            log.warning("stopping with %d delivery outcomes not recorded (%s): those deliveries stay pending and "
                        "are sent again after the next start", self._outcomes.waiting, self._health.error)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = self._pager = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                await self._give_way()
                row = await self._next_due()
            except BaseException:
                self._slots.release()
                raise
            task = asyncio.create_task(self._deliver(row))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _give_way(self) -> None:
        """While AMI intake is backed up (a burst), hold the next attempt back for up to GIVE_WAY_MAX s: the read
        loop goes first, so Asterisk never finds us a slow reader because we were busy sending."""
        busy = self._intake_busy
        waited = 0.0
        while busy is not None and busy() and waited < GIVE_WAY_MAX:
            await asyncio.sleep(GIVE_WAY_STEP)
            waited += GIVE_WAY_STEP

    async def _next_due(self) -> Delivery:
        while True:
            pulse = self._pulse
            row = self._lanes.take_due(self._clock())
            if row is not None:
                return row
            due = self._lanes.next_due_at()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(None if due is None else max(0.0, due - self._clock())):
                    await pulse.wait()

    async def _deliver(self, row: Delivery) -> None:
        """Supervision point: one attempt; an unexpected error is logged and the row retried later."""
        slot = Slot(self._slots)
        try:
            await self._attempt(row, slot)
        except Exception:
            log.exception("delivery %d (action %r, call %s) failed internally; retrying later",
                          row.id, row.action_name, printable(row.call_id))
            self._lanes.retry(replace(row, next_attempt_at=self._clock() + self._policy.initial_delay))
        finally:
            slot.release()
            self._notify()

    async def _attempt(self, row: Delivery, slot: Slot) -> None:
        started = self._clock()
        if started > row.expires_at:
            await self._outcomes.hold(lambda: self._store.settle(row.id, state="expired", attempts=row.attempts,
                                                                 next_attempt_at=started, now=started))
            self._finished(row, "expired", f"expired before attempt {row.attempts + 1} could be made")
            return
        result = await self.send(row.request)
        if self._health.ok:  # the request is done: the next may start while this outcome is committed
            slot.release()
        attempts, now = row.attempts + 1, self._clock()
        decision = self._policy.decide(result, attempts, row.expires_at, now)
        activity = NewActivity(row.action_name, row.action_id, row.event, row.call_id, attempts, result.status,
                               result.message, result.duration_ms, started)
        await self._outcomes.hold(lambda: self._store.settle(row.id, state=decision.state, attempts=attempts,
                                                             next_attempt_at=decision.next_attempt_at, now=now,
                                                             activity=activity))
        self._metrics.attempts.inc("ok" if result.ok else "error")
        log.info("delivery action=%r event=%s call=%s attempt=%d status=%d %.0fms: %s", row.action_name,
                 row.event, printable(row.call_id), attempts, result.status, result.duration_ms, decision.reason)
        if decision.state == "pending":
            self._lanes.retry(replace(row, attempts=attempts, next_attempt_at=decision.next_attempt_at))
        else:
            self._finished(row, decision.state, "")

    def _finished(self, row: Delivery, state: str, note: str) -> None:
        self._metrics.deliveries.inc(state)
        if note:
            log.warning("delivery action=%r event=%s call=%s: %s", row.action_name, row.event, printable(row.call_id),
                        note)
        self._lanes.finish(row)

    async def send_once(self, request: RenderedRequest, *, action: str, event_name: str) -> AttemptResult:
        """One attempt now, outside the outbox (Save & Test); nothing is recorded here."""
        result = await self.send(request)
        log.info("test action=%r event=%s status=%d %.0fms", action, event_name, result.status, result.duration_ms)
        return result

    async def send(self, request: RenderedRequest) -> AttemptResult:
        """One HTTP attempt; never raises for delivery problems (status 0 and the error in plain words instead;
        a URL that cannot be used is a final failure). The message never holds one of the request's secrets."""
        if self._session is None:
            raise RuntimeError("sender is not started")
        timeout = aiohttp.ClientTimeout(total=request.timeout_s or self._settings.total_timeout,
                                        connect=self._settings.connect_timeout)
        begin = time.perf_counter()
        url = target(request.url)
        if isinstance(url, str):
            result = AttemptResult(0, url, 0.0, permanent=True)
        else:
            try:
                result = await self._request(self._session, request, url, timeout)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                result = AttemptResult(0, describe(exc, url, timeout), 0.0, permanent=isinstance(exc, ValueError))
        duration_ms = (time.perf_counter() - begin) * 1000.0
        self._metrics.latency.observe(duration_ms / 1000.0)
        message = truncate(redact_text(result.message, request.secrets))  # redacted whole, so no piece of one is left
        return replace(result, message=message, duration_ms=round(duration_ms, 3))

    @staticmethod
    async def _request(session: aiohttp.ClientSession, request: RenderedRequest, url: URL,
                       limits: aiohttp.ClientTimeout) -> AttemptResult:
        async with session.request(
            request.method, url, headers=CIMultiDict(request.headers), data=request.body or None,
            allow_redirects=False, timeout=limits, skip_auto_headers=("Content-Type",),
        ) as response:
            body = await _read_some(response)
            location = response.headers.get("Location")
            return AttemptResult(response.status, _message(response.status, body, location), 0.0,
                                 response.headers.get("Retry-After"))
