"""Delivery benchmarks (docs/delivery.md), all on 127.0.0.1; figures printed as a markdown table and written to
test-output/bench-delivery.md (paste it into docs/performance.md).

1. Throughput: the durable path (outbox rows committed in transactions of BURST events, as the pump batches
   a burst, then the sender with one activity row per attempt) vs a raw aiohttp client posting the same requests
   at the same concurrency, all requests ready at the start for both. Target >= 0.5x.
2. Latency from the call's last Hangup written to the AMI socket to the request arriving at the receiver,
   p50/p99 over N sequential calls, for the whole daemon (Agent) vs a minimal pipeline without storage
   (AMI client -> tracker -> render -> aiohttp). Target: p99 <= 2x the minimal one, and under 5 ms.
3. Longest event-loop stall while 10,000 calls are delivered to an endpoint that never answers. Target < 50 ms.

A peer process (`--peer`) plays the PBX (the AMI simulator, injecting calls) and the receiver, so the clocks of
"Hangup written" and "request arrived" are the same process's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from agent.ami.client import AmiClient
from agent.ami.events import AmiEvent, AmiMessage
from agent.app import DATABASE_FILE, Agent
from agent.devtools.simulator import AmiSimulator
from agent.devtools.trace import renumbered
from agent.mapping.catalog import SystemEvent
from agent.mapping.config import compile_mapping
from agent.mapping.tracker import CallTracker, skim
from agent.metrics import Metrics
from agent.settings import AdminSettings, AmiSettings, DeliverySettings, Settings
from agent.store.facade import Store
from agent.store.model import Action
from agent.webhooks.dispatcher import Dispatcher
from agent.webhooks.request import render
from agent.webhooks.retry import RetryPolicy
from agent.webhooks.sender import Sender

ROOT = Path(__file__).resolve().parent.parent
CALL_TRACE = ROOT / "tests/fixtures/ami_traces/01_internal_answered_caller_hangup.ami"
REPORT = ROOT / "test-output" / "bench-delivery.md"
CONCURRENCY = 20
ROUNDS = 3
BLOCKS = 4
BURST = 100  # system events per outbox transaction, as the pump batches a burst of AMI events

# ---------------------------------------------------------------- peer: PBX + receiver


def call_frames(index: int) -> tuple[bytes, bytes]:
    """One answered internal call as AMI bytes, split just before its last Hangup (ids unique per index)."""
    data = renumbered(CALL_TRACE.read_bytes(), index + 1, (index + 1) * 20.0)
    frames = [f for f in data.split(b"\r\n\r\n") if f.startswith(b"Event:")]
    last = max(i for i, f in enumerate(frames) if f.startswith(b"Event: Hangup\r\n"))
    return b"".join(f + b"\r\n\r\n" for f in frames[:last]), b"".join(f + b"\r\n\r\n" for f in frames[last:])


class Peer:
    def __init__(self, simulator: AmiSimulator) -> None:
        self.simulator = simulator
        self.count = 0
        self.waiting: dict[str, asyncio.Future[float]] = {}

    async def receive(self, request: web.Request) -> web.StreamResponse:
        arrived = time.time()
        self.count += 1
        future = self.waiting.pop(request.match_info["call"], None)
        if future is not None and not future.done():
            future.set_result(arrived)
        return web.Response(text="ok")

    async def hang(self, request: web.Request) -> web.StreamResponse:
        await asyncio.Event().wait()
        return web.Response()

    async def counter(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"count": self.count, "logins": self.simulator.logins})

    async def calls(self, request: web.Request) -> web.StreamResponse:
        """Inject N calls one after the other; per call: Hangup written -> request arrived, in ms."""
        count = int(request.query["n"])
        latencies: list[float] = []
        for index in range(count):
            head, tail = call_frames(index)
            call_id = f"1795871929.{34 + (index + 1) * 1_000_000}"
            future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            self.waiting[call_id] = future
            self.simulator.inject(head)
            await asyncio.sleep(0.004)
            written = time.time()
            self.simulator.inject(tail)
            with contextlib.suppress(TimeoutError):
                latencies.append((await asyncio.wait_for(future, 2.0) - written) * 1000.0)
        return web.json_response({"latencies_ms": latencies})


async def peer_main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        banner = Path(tmp) / "banner.ami"
        banner.write_bytes(b"Asterisk Call Manager/11.0.0\r\n")
        simulator = AmiSimulator([banner], speed=0)
        ami_port = await simulator.start()
        peer = Peer(simulator)
        app = web.Application()
        app.router.add_post("/call/{call}", peer.receive)
        app.router.add_post("/hang/{call}", peer.hang)
        app.router.add_get("/count", peer.counter)
        app.router.add_post("/calls", peer.calls)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        print(json.dumps({"ami": ami_port, "http": runner.addresses[0][1]}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


# ---------------------------------------------------------------- bench side


def action(base: str, path: str = "call") -> Action:
    return Action(name="bench", method="POST", url=f"{base}/{path}/{{{{call_id}}}}")


def event(index: int) -> SystemEvent:
    call_id = f"bench.{index}"
    return SystemEvent("call_answered", call_id, {"call_id": call_id, "event_id": f"{call_id}:a", "extension": "201"})


async def durable_engine(path: Path, base: str, route: str, delivery: DeliverySettings,
                         ) -> tuple[Store, Sender, Dispatcher]:
    store = await Store.open(path)
    created = await store.create_action(action(base, route))
    await store.update_event("call_answered", active=True, action_ids=[created.id or 0])
    await store.set_actions_enabled(True)
    policy = RetryPolicy.from_settings(delivery)
    metrics = Metrics()
    sender = Sender(store, delivery, policy, metrics)
    dispatcher = Dispatcher(store, policy, sender.submit, metrics, time.time)
    await sender.start()
    return store, sender, dispatcher


async def throughput_durable(base: str, count: int, path: Path) -> float:
    store, sender, dispatcher = await durable_engine(path, base, "call",
                                                     DeliverySettings(concurrency=CONCURRENCY))
    began = time.perf_counter()
    for start in range(0, count, BURST):
        await dispatcher.dispatch([event(index) for index in range(start, min(count, start + BURST))])
    await sender.wait_idle()
    elapsed = time.perf_counter() - began
    await sender.close()
    await store.close()
    return count / elapsed


async def throughput_raw(base: str, count: int) -> float:
    slots = asyncio.Semaphore(CONCURRENCY)
    requests = [render(action(base), {"call_id": f"raw.{i}"}) for i in range(count)]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:

        async def post(index: int) -> None:
            async with slots, session.post(requests[index].url, data=requests[index].body) as response:
                await response.read()

        began = time.perf_counter()
        await asyncio.gather(*(post(i) for i in range(count)))
        return count / (time.perf_counter() - began)


async def run_calls(base: str, count: int) -> list[float]:
    async with aiohttp.ClientSession() as http, http.post(f"{base}/calls?n={count}",
                                                          timeout=aiohttp.ClientTimeout(total=None)) as response:
        return list((await response.json())["latencies_ms"])


async def wait_login(base: str, logins: int) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(500):
            async with http.get(f"{base}/count") as response:
                if (await response.json())["logins"] >= logins:
                    return
            await asyncio.sleep(0.01)
    raise RuntimeError("the agent did not log in to the peer")


async def latency_agent(base: str, ami_port: int, count: int, state: Path, logins: int) -> list[float]:
    await asyncio.to_thread(state.mkdir)
    store = await Store.open(state / DATABASE_FILE)
    created = await store.create_action(action(base))
    await store.update_event("call_answered", active=True, action_ids=[created.id or 0])
    await store.set_actions_enabled(True)
    await store.close()
    agent = await Agent.open(Settings(state_dir=state, log_level="WARNING", ami=AmiSettings(port=ami_port),
                                      admin=AdminSettings(port=0)))
    try:
        await wait_login(base, logins)
        return await run_calls(base, count)
    finally:
        await agent.stop()


async def latency_minimal(base: str, ami_port: int, count: int, logins: int) -> list[float]:
    """AMI client -> tracker -> render -> aiohttp, no storage, no retry."""
    queue: asyncio.Queue[AmiMessage] = asyncio.Queue()
    client = AmiClient(AmiSettings(port=ami_port), queue, time.time, skim=skim)
    tracker = CallTracker(compile_mapping(Settings().mapping))
    hook = action(base)
    tasks: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession() as session:

        async def send(system: SystemEvent) -> None:
            request = render(hook, system.params)
            async with session.post(request.url, data=request.body) as response:
                await response.read()

        async def pump() -> None:
            while True:
                message = await queue.get()
                for system in tracker.feed(message) if isinstance(message, AmiEvent) else []:
                    if system.name == "call_answered":
                        task = asyncio.create_task(send(system))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)

        runners = [asyncio.create_task(client.run()), asyncio.create_task(pump())]
        try:
            await wait_login(base, logins)
            return await run_calls(base, count)
        finally:
            await client.close()
            for runner in runners:
                runner.cancel()
            await asyncio.gather(*runners, *tasks, return_exceptions=True)


async def longest_stall(work: Callable[[], Awaitable[None]], tick: float = 0.005) -> float:
    """The longest delay (ms) of a `tick` sleep beyond its due time while `work` runs."""
    worst = 0.0
    done = asyncio.Event()

    async def probe() -> None:
        nonlocal worst
        while not done.is_set():
            due = time.perf_counter() + tick
            await asyncio.sleep(tick)
            worst = max(worst, time.perf_counter() - due)

    prober = asyncio.create_task(probe())
    try:
        await work()
    finally:
        done.set()
        await prober
    return worst * 1000.0


async def stall_dead_endpoint(base: str, count: int, path: Path, hold: float) -> tuple[float, int]:
    delivery = DeliverySettings(concurrency=CONCURRENCY, total_timeout=1.0, retry_initial_delay=0.5,
                                retry_max_delay=2.0, drain_grace_period=0.1)
    store, sender, dispatcher = await durable_engine(path, base, "hang", delivery)

    async def work() -> None:
        for start in range(0, count, BURST):
            await dispatcher.dispatch([event(index) for index in range(start, min(count, start + BURST))])
        await asyncio.sleep(hold)

    worst = await longest_stall(work)
    pending = await store.pending_count()
    await sender.close()
    await store.close()
    return worst, pending


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def bench(args: argparse.Namespace, ports: dict[str, int]) -> list[tuple[str, str, str, str]]:
    base = f"http://127.0.0.1:{ports['http']}"
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        raws, durables = [], []
        for round_ in range(ROUNDS):  # alternate, and keep the median: the machine is shared and noisy
            raws.append(await throughput_raw(base, args.throughput))
            durables.append(await throughput_durable(base, args.throughput, tmp / f"tp{round_}.db"))
        raw, durable = statistics.median(raws), statistics.median(durables)
        rows.append((f"throughput, {args.throughput} deliveries, concurrency {CONCURRENCY}",
                     f"{durable:,.0f}/s durable", f"{raw:,.0f}/s raw aiohttp",
                     f"{durable / raw:.2f}x (target >= 0.5x)"))
        minimal, full, logins = [], [], 0
        for block in range(BLOCKS):  # alternate blocks so that the machine's noise hits both alike
            minimal += await latency_minimal(base, ports["ami"], args.calls // BLOCKS, logins := logins + 1)
            full += await latency_agent(base, ports["ami"], args.calls // BLOCKS, tmp / f"agent{block}",
                                        logins := logins + 1)
        for label, fraction in (("p50", 0.5), ("p99", 0.99)):
            ours, theirs = percentile(full, fraction), percentile(minimal, fraction)
            target = " (target <= 2x and < 5 ms)" if label == "p99" else ""
            rows.append((f"Hangup -> request latency {label}, {len(full)} calls",
                         f"{ours:.2f} ms agent", f"{theirs:.2f} ms minimal", f"{ours / theirs:.2f}x{target}"))
        floors, stalls = [], []
        for round_ in range(ROUNDS):
            floors.append(await longest_stall(lambda: asyncio.sleep(args.hold + 2.0)))
            worst, pending = await stall_dead_endpoint(base, args.stall, tmp / f"stall{round_}.db", args.hold)
            stalls.append(worst)
        rows.append((f"longest stall of an idle event loop over {args.hold + 2.0:g} s (noise floor)",
                     f"median {statistics.median(floors):.1f} ms, max {max(floors):.1f} ms", "",
                     "the machine's own noise"))
        rows.append((f"longest event-loop stall, {args.stall} calls to a dead endpoint",
                     f"median {statistics.median(stalls):.1f} ms, max {max(stalls):.1f} ms",
                     f"{pending} still pending", "target < 50 ms"))
    return rows


def report(text: str, load_before: tuple[float, float, float]) -> str:
    load = os.getloadavg()
    return (
        "### Delivery performance\n\n"
        f"Measured with `python bench/delivery.py` on 127.0.0.1 ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}; load average {load_before[0]:.1f} before, {load[0]:.1f} after):\n\n"
        f"{text}\n\n"
        "- Throughput: the same POSTs to the same receiver at concurrency 20, median of 3 alternated rounds; the "
        "durable side commits each burst of 100 system events to the outbox, then sends, and writes one activity "
        "row per attempt.\n"
        "- Latency: one answered call at a time is written to the AMI socket by the peer process; the clock starts "
        "when the call's last Hangup is written and stops when the request reaches the peer's receiver. "
        "\"minimal\" is AMI client -> tracker -> render -> aiohttp with no storage.\n"
        "- Stall: 10,000 calls (committed in bursts of 100) to an endpoint that never answers (1 s timeout, "
        "retries), probed with a 5 ms sleep, 3 rounds; the idle row is the same probe on an idle loop in the same "
        "process, alternated with the rounds: the noise the shared machine itself adds.\n"
    )


def table(rows: list[tuple[str, str, str, str]]) -> str:
    lines = ["| measure | event-agent | baseline | ratio / target |", "| --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--throughput", type=int, default=5000)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--stall", type=int, default=10_000)
    parser.add_argument("--hold", type=float, default=3.0, help="seconds to keep sending after the last call")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write the docs file")
    args = parser.parse_args()
    if args.peer:
        asyncio.run(peer_main())
        return 0
    peer = subprocess.Popen([sys.executable, __file__, "--peer"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            cwd=ROOT)
    load = os.getloadavg()
    try:
        assert peer.stdout is not None
        ports = json.loads(peer.stdout.readline())
        rows = asyncio.run(bench(args, ports))
    finally:
        peer.kill()
        peer.wait()
    text = table(rows)
    print(text)
    if not args.no_write:
        REPORT.parent.mkdir(exist_ok=True)
        REPORT.write_text(report(text, load), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
