"""Support for tests/security: the hostile AMI server (tests/security/hostile_ami.py) as a process, the agent's
memory from /proc, and a wait that watches that memory meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.support.agent_runner import Daemon
from tests.support.paths import ROOT
from tests.support.polling import WAIT, eventually

GROWTH_LIMIT_MB = 50.0  # what a hostile peer may add to the agent's resident memory


def memory_mb(pid: int, field: str) -> float:
    """`VmRSS` (resident now) or `VmHWM` (the peak so far) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024.0
    raise AssertionError(f"no {field} for process {pid}")


class HostilePeer:
    """`python -m tests.security.hostile_ami MODE` on loopback; its stdout lines say what happened."""

    def __init__(self, mode: str, *args: str) -> None:
        self.mode = mode
        self.args = args
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0
        self.lines: list[str] = []

    async def start(self) -> HostilePeer:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.security.hostile_ami", self.mode, *self.args, cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        self.port = int((await self.line_starting("READY")).split()[1])
        return self

    async def line_starting(self, prefix: str, watch: Callable[[], None] = lambda: None) -> str:
        """Read the peer's lines until one starts with `prefix`; call `watch` every 50 ms meanwhile."""
        assert self.process is not None
        assert self.process.stdout is not None
        deadline = time.monotonic() + WAIT
        while True:
            reading = asyncio.ensure_future(self.process.stdout.readline())
            while not reading.done():
                watch()
                if time.monotonic() > deadline:
                    reading.cancel()
                    raise AssertionError(f"the peer never said {prefix!r}; it said {self.lines}")
                await asyncio.wait({reading}, timeout=0.05)
            line = reading.result().decode().strip()
            if not line:
                raise AssertionError(f"the peer ended before saying {prefix!r}; it said {self.lines}")
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    async def go(self) -> None:
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        await self.process.stdin.drain()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


@asynccontextmanager
async def agent_against(mode: str, state_dir: Path, *peer_args: str, **env: str) -> AsyncIterator[
        tuple[HostilePeer, Daemon]]:
    """A hostile peer in `mode`, and `event-agent run` connected to it (its admin API answering)."""
    peer = await HostilePeer(mode, *peer_args).start()
    daemon = Daemon(state_dir, peer.port, **env)
    try:
        await daemon.start()
        yield peer, daemon
    finally:
        await daemon.kill()
        await peer.stop()


class MemoryWatch:
    """The agent's resident memory from a baseline on; fails (and kills the agent) once it grew past the limit."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.baseline = memory_mb(daemon.pid, "VmRSS")

    def growth(self) -> float:
        """Growth of the peak (VmHWM) over the baseline, in MB: a spike between two looks counts too."""
        return memory_mb(self.daemon.pid, "VmHWM") - self.baseline

    def __call__(self) -> None:
        grown = memory_mb(self.daemon.pid, "VmRSS") - self.baseline
        if grown > GROWTH_LIMIT_MB:
            with contextlib.suppress(ProcessLookupError):
                assert self.daemon.process is not None
                self.daemon.process.kill()
            raise AssertionError(f"the agent's memory grew by {grown:.0f} MB (limit {GROWTH_LIMIT_MB:g} MB)")


async def settled(daemon: Daemon, check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    """The status document once `check` holds on its `ami` part (`what` it waits for, in the failure)."""
    status: dict[str, Any] = {}

    async def holds() -> bool:
        status.update(await daemon.status())
        return check(status["ami"])

    try:
        await eventually(holds, every=0.05, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {status}") from None
    return status

