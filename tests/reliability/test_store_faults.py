"""The database unavailable for a while: locked by another process (`BEGIN EXCLUSIVE` held longer than the
agent's 5 s busy timeout), or the disk full (the state directory on a small tmpfs, filled by another file).

While it lasts, the agent must keep tracking calls and say so in its status and its log; once the database is
writable again it must write everything it had accepted: every delivery of the trace's golden file arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from agent.app import DATABASE_FILE, Agent
from agent.devtools.simulator import AmiSimulator
from tests.reliability.harness import Tally, configure, sink
from tests.reliability.report import Row, record
from tests.reliability.synth import golden, trace_path
from tests.support.agent_runner import running_agent
from tests.support.polling import eventually
from tests.support.settings import agent_settings

TRACE = trace_path("13_load_mixed_35_calls")
AFTER = 10.0  # once the database is writable again, the deliveries it had accepted arrive within this
LOCK_SECONDS = 8.0  # longer than the agent's busy_timeout (5 s): its writes fail instead of waiting
LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN EXCLUSIVE")
print("LOCKED", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


@asynccontextmanager
async def replay(state: Path, rx: Tally) -> AsyncIterator[tuple[Agent, AmiSimulator]]:
    """The 35-call trace paused before its first event, and an agent on `state` delivering to `rx`."""
    simulator = AmiSimulator([TRACE], speed=0)
    simulator.pause_at(0)
    await simulator.start()
    await configure(state, rx.port)
    try:
        async with running_agent(agent_settings(state, simulator.port)) as agent:
            yield agent, simulator
    finally:
        await simulator.stop()


def expected() -> Counter[tuple[str, str, str]]:
    return Counter(item.key for item in golden(TRACE))


def arrived(rx: Tally) -> Counter[tuple[str, str, str]]:
    return Counter({(a.event, a.call_id, a.extension): 1 for a in rx.arrivals})


def store_problem_shown(agent: Agent) -> bool:
    """Whether the status says anything about the database (any key naming the store or the database)."""
    text = repr(agent.status()).lower()
    return any(word in text for word in ("store", "database", "disk", "sqlite"))


class TestDatabaseLocked:
    async def test_locked_by_another_process(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """Given another process holding the database with BEGIN EXCLUSIVE for 8 s while the 35-call trace is
        replayed, when the lock is released, then the calls were tracked meanwhile, the status and the log
        named the problem, and every golden delivery arrives."""
        caplog.set_level(logging.WARNING)
        async with sink() as rx, replay(tmp_path, rx) as (agent, simulator):
            locker = await asyncio.create_subprocess_exec(
                sys.executable, "-c", LOCKER, str(tmp_path / DATABASE_FILE), str(LOCK_SECONDS),
                stdout=asyncio.subprocess.PIPE)
            assert locker.stdout is not None
            assert (await locker.stdout.readline()).strip() == b"LOCKED"
            simulator.pause_at(None)
            await eventually(lambda: agent.metrics.ami_events.value() >= simulator.event_count, what="tracked")
            shown = store_problem_shown(agent)
            await locker.wait()
            with contextlib.suppress(AssertionError):
                await eventually(lambda: arrived(rx) == expected(), within=AFTER, what="every delivery")
        record(Row("database locked 8 s", 1, len({k[1] for k in expected()}), len(expected()), len(arrived(rx)),
                   rx.duplicates))
        assert shown
        assert arrived(rx) == expected()
        assert any("database" in r.getMessage().lower() or "locked" in r.getMessage().lower()
                   for r in caplog.records)


@contextlib.contextmanager
def small_disk(path: Path, megabytes: int) -> Iterator[Path]:
    """A tmpfs of `megabytes` MB mounted at `path` (needs root; CI runs as root)."""
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill the disk with one file, leaving `leave` bytes free."""
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    filler = disk / "filler"
    with filler.open("wb") as out:
        out.truncate(0)
        out.write(b"\0" * max(0, free - leave))
    return filler


def can_mount() -> bool:
    return os.geteuid() == 0 and Path("/proc/filesystems").read_text().count("tmpfs") > 0


class TestDiskFull:
    async def test_disk_full(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """Given the state directory on a 4 MB tmpfs filled up to the last 8 kB by another file, when the
        35-call trace is replayed and the file is then removed, then the calls were tracked meanwhile, the
        status and the log named the problem, and every golden delivery arrives."""
        if not can_mount():
            pytest.skip("needs root to mount a small tmpfs")
        caplog.set_level(logging.WARNING)
        with small_disk(tmp_path / "state", 4) as state:
            async with sink() as rx, replay(state, rx) as (agent, simulator):
                filler = fill(state, 8192)
                simulator.pause_at(None)
                await eventually(lambda: agent.metrics.ami_events.value() >= simulator.event_count, what="tracked")
                await asyncio.sleep(1.0)
                shown = store_problem_shown(agent)
                failures = agent.metrics.pump_errors.value()
                filler.unlink()
                with contextlib.suppress(AssertionError):
                    await eventually(lambda: arrived(rx) == expected(), within=AFTER, what="every delivery")
                made = len(arrived(rx))
        record(Row("disk full", 1, len({k[1] for k in expected()}), len(expected()), made, rx.duplicates,
                   figures=f"{failures:g} pump batches failed"))
        assert shown
        assert made == len(expected())
