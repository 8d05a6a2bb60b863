"""1,000 calls in progress at once (125 fresh copies of the 8 lab calls, interleaved frame by frame): the
ingest rate and the delivery latency must stay within the benchmark targets of docs/performance.md:

- ingest >= 0.5x raw parse: events/s from the socket into the daemon while the 1,000 calls start, beside a
  plain `split` + dict client reading the same bytes from the same simulator (best of 3 rounds, as bench/);
- delivery p99 <= 2x the minimal pipeline: with the 1,000 calls up, probe calls are injected; latency is
  from the probe's last Hangup written to the AMI socket to its call_answered request arriving at the
  receiver, for the daemon (`event-agent run`) and for the minimal pipeline (tests/soak/minimal.py: AMI
  client -> tracker -> render -> aiohttp, no storage).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from agent.devtools.trace import trace_events
from tests.reliability.harness import SimProcess, Tally, configure, sink
from tests.reliability.report import Row, record
from tests.reliability.synth import (
    LAB_TRACES,
    SEP,
    call_frames,
    concurrent_stream,
    fresh_copy,
    golden_copies,
    renumber_id,
    trace_path,
)
from tests.support.agent_runner import Daemon
from tests.support.paths import ROOT
from tests.support.polling import WAIT, eventually

TRACES = [trace_path(name) for name in LAB_TRACES]
COPIES = 125  # x 8 calls = 1,000 calls in progress at once
PROBES = 200
PROBE = trace_path("01_internal_answered_caller_hangup")
PROBE_CALL = "1795871929.34"


def pause_point() -> int:
    """Events streamed before the first Hangup of any copy: every call has started, none has ended."""
    frames = [call_frames(path.read_bytes()) for path in TRACES]
    first_hangup = min(next(i for i, f in enumerate(fs) if f.startswith(b"Event: Hangup")) for fs in frames)
    return COPIES * sum(min(len(fs), first_hangup) for fs in frames)


async def raw_rate(stream: Path, events: int) -> float:
    """A plain split + dict client: events/s reading the first `events` events from the simulator."""
    sim = await SimProcess([stream]).start(pause_at=0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
        writer.write(b"Action: Login\r\nUsername: x\r\nSecret: y\r\n\r\n")
        await reader.readuntil(b"Authentication accepted\r\n\r\n")
        began = await sim.command(f"pause {events}")
        seen, rest = 0, b""
        while seen < events:
            rest += await reader.read(1 << 20)
            *frames, rest = rest.split(SEP)
            parsed = [dict(line.split(": ", 1) for line in frame.decode().split("\r\n") if ": " in line)
                      for frame in frames]
            seen += sum(1 for headers in parsed if "Event" in headers)
        ended = time.time()
        writer.close()
    finally:
        await sim.stop()
    return events / (ended - began)


async def ingest_rate(daemon: Daemon, sim: SimProcess, events: int) -> float:
    """Events/s from the socket into the daemon: from the release of the burst to the receive time of its last
    event (the status' `last_event_at`), polled every 200 ms so the polling does not slow it."""
    began = await sim.command(f"pause {events}")
    ami: dict[str, Any] = {}

    async def read_all() -> bool:
        ami.update((await daemon.status())["ami"])
        return int(ami["events"]) >= events

    await eventually(read_all, within=2000, every=0.2, what="the daemon reading the burst")
    return events / (datetime.fromisoformat(ami["last_event_at"]).timestamp() - began)


def probe_files(tmp_path: Path, number: int) -> tuple[Path, Path, str]:
    """A fresh copy of a one-call trace split before its last Hangup: (head, tail, call id)."""
    copy = 10_000 + number
    frames = call_frames(fresh_copy(PROBE.read_bytes(), copy))
    last = max(i for i, frame in enumerate(frames) if frame.startswith(b"Event: Hangup"))
    head, tail = tmp_path / f"probe{number}.head", tmp_path / f"probe{number}.tail"
    head.write_bytes(b"".join(frame + SEP for frame in frames[:last]))
    tail.write_bytes(b"".join(frame + SEP for frame in frames[last:]))
    return head, tail, renumber_id(PROBE_CALL, copy)


async def probe(tmp_path: Path, sim: SimProcess, rx: Tally, number: int) -> float:
    """Milliseconds from a probe call's last Hangup written to its call_answered arriving."""
    head, tail, call_id = probe_files(tmp_path, number)
    await sim.command(f"inject {head}")
    await rx.wait_for("ringing", call_id)
    written = await sim.command(f"inject {tail}")
    return (await rx.wait_for("call_answered", call_id) - written) * 1000.0


async def quiet(rx: Tally) -> None:
    """Wait until the receiver got nothing new for a second (the deliveries of the calls' start are done)."""
    seen = -1
    while seen != rx.total:
        seen = rx.total
        await asyncio.sleep(1.0)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


@dataclass
class Run:
    rate: float = 0.0
    ours: list[float] = field(default_factory=list)
    minimal: list[float] = field(default_factory=list)
    made: int = 0
    duplicates: int = 0
    in_progress: int = 0


async def start_minimal(sim: SimProcess, rx: Tally) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.soak.minimal", str(sim.port), str(rx.port), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    assert (await asyncio.wait_for(process.stdout.readline(), WAIT)).strip() == b"READY"
    return process


async def daemon_ingest(tmp_path: Path, stream: Path, paused: int) -> float:
    """One ramp of the 1,000 calls into a fresh daemon: its events/s."""
    sim = await SimProcess([stream]).start(pause_at=0)
    async with sink(keep=False) as rx:
        await configure(tmp_path, rx.port, actions=5, per_event=True)
        daemon = await Daemon(tmp_path, sim.port, LOG_LEVEL="WARNING").start()
        try:
            return await ingest_rate(daemon, sim, paused)
        finally:
            await daemon.stop()
            await sim.stop()


async def ingest_ratio(tmp_path: Path, stream: Path, paused: int) -> tuple[float, float, float]:
    """Best of 3 rounds (as bench/ingest.py): each round a raw client then a fresh daemon, back to back.
    Returns (ratio, daemon events/s, raw events/s) of the best round."""
    rounds = []
    for number in range(3):
        raw = await raw_rate(stream, paused)
        ours = await daemon_ingest(tmp_path / f"ingest{number}", stream, paused)
        rounds.append((ours / raw, ours, raw))
    return max(rounds)


async def both(tmp_path: Path, stream: Path, paused: int, expected: int) -> Run:
    """The daemon and the minimal pipeline side by side, each holding the 1,000 calls; probes alternate
    between them so that the machine's noise falls on both alike."""
    run = Run()
    state = tmp_path / "daemon"
    sim = await SimProcess([stream]).start(pause_at=0)
    other = await SimProcess([stream]).start(pause_at=paused)
    async with sink(keep=False) as rx, sink(keep=False) as rx_minimal:
        await configure(state, rx.port, actions=5, per_event=True)
        daemon = await Daemon(state, sim.port, LOG_LEVEL="WARNING").start()
        minimal: asyncio.subprocess.Process | None = None
        try:
            run.rate = await ingest_rate(daemon, sim, paused)
            await quiet(rx)
            minimal = await start_minimal(other, rx_minimal)
            await quiet(rx_minimal)
            run.in_progress = (await daemon.status())["calls_in_progress"]
            for number in range(PROBES):
                run.ours.append(await probe(tmp_path, sim, rx, number))
                run.minimal.append(await probe(tmp_path, other, rx_minimal, PROBES + number))
            await sim.command("pause none")
            await eventually(lambda: rx.total >= expected + PROBES * 3, within=600, what="every delivery")
        finally:
            if minimal is not None:
                minimal.terminate()
                await minimal.wait()
            await daemon.stop()
            await sim.stop()
            await other.stop()
    run.made, run.duplicates = len(rx.counts), rx.duplicates
    return run


@pytest.mark.slow
@pytest.mark.timeout(1800)
class TestThousandConcurrent:
    async def test_rates_within_targets(self, tmp_path: Path) -> None:
        """Given 1,000 calls in progress at once, when they are ingested and probe calls delivered, then ingest
        is at least 0.5x the raw parse rate and the p99 delivery latency at most 2x the minimal pipeline's."""
        stream = tmp_path / "thousand.ami"
        stream.write_bytes(concurrent_stream(TRACES, COPIES))
        paused = pause_point()
        expected = len(golden_copies(TRACES, range(COPIES)))
        assert len(trace_events(stream.read_bytes())) > paused
        ratio, rate, raw = await ingest_ratio(tmp_path, stream, paused)
        run = await both(tmp_path, stream, paused, expected)
        slower = p99(run.ours) / p99(run.minimal)
        record(Row(
            "soak: 1,000 concurrent calls", 1, run.in_progress, expected + PROBES * 3, run.made, run.duplicates,
            figures=(f"ingest {rate:,.0f} ev/s = {ratio:.2f}x raw ({raw:,.0f}); delivery p50/p99 "
                     f"{statistics.median(run.ours):.1f}/{p99(run.ours):.1f} ms vs minimal "
                     f"{statistics.median(run.minimal):.1f}/{p99(run.minimal):.1f} ms = {slower:.2f}x"),
            note=f"{PROBES} probe calls each, alternated, while {run.in_progress} calls were in progress",
        ))
        assert run.in_progress >= COPIES * 8
        assert run.made == expected + PROBES * 3
        assert ratio >= 0.5
        assert slower <= 2.0
