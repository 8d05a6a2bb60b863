"""The agent, run for real: `running_agent` starts the daemon's `Agent` in this process on a state directory of
the test's; `Daemon` runs `event-agent run` as a process (for SIGKILL, SIGTERM, memory and the browser tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from agent.app import Agent
from agent.settings import Settings
from tests.support.paths import ROOT
from tests.support.polling import eventually
from tests.support.receiver import free_port
from tests.support.settings import TOKEN, daemon_env


@asynccontextmanager
async def running_agent(settings: Settings, **options: Any) -> AsyncIterator[Agent]:
    """`Agent.open(settings)` (`options` go to it, e.g. `clock`); stopped at the end."""
    agent = await Agent.open(settings, **options)
    try:
        yield agent
    finally:
        await agent.stop()


class Daemon:
    """`event-agent run` as a process on the settings of `daemon_env`; its admin API on a fresh port each start,
    its output appended to `state_dir/agent.log`."""

    def __init__(self, state_dir: Path, ami_port: int, **extra: str) -> None:
        self.state_dir = state_dir
        self.ami_port = ami_port
        self.log = state_dir / "agent.log"
        self.env = daemon_env(state_dir, ami_port, 0, **extra)
        self.process: asyncio.subprocess.Process | None = None
        self.api_port = 0
        self.starts = 0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/"

    async def start(self) -> Daemon:
        """Start the process on a fresh admin port; return once its admin API answers /healthz."""
        self.api_port = free_port()
        self.env["EVENT_AGENT_ADMIN__PORT"] = str(self.api_port)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "agent", "run", cwd=ROOT, env=self.env, stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        self.starts += 1
        try:
            await eventually(self._up, what="the agent answering /healthz")
        except (AssertionError, RuntimeError) as exc:
            await self.kill()  # never leave a half-started agent behind
            raise RuntimeError(f"agent did not start ({exc}): {self.log_text()[-2000:]}") from exc
        return self

    async def _up(self) -> bool:
        assert self.process is not None
        if self.process.returncode is not None:
            raise RuntimeError(f"exited with {self.process.returncode}")
        return await self.answers()

    async def answers(self) -> bool:
        """Whether its admin API answers /healthz with 200 (within 2 s)."""
        try:
            async with aiohttp.ClientSession() as http, http.get(
                f"{self.base_url}healthz", timeout=aiohttp.ClientTimeout(total=2)
            ) as reply:
                return reply.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    async def status(self) -> dict[str, Any]:
        """GET /api/v1/status with the token."""
        async with aiohttp.ClientSession() as http, http.get(
            f"{self.base_url}api/v1/status", headers={"Authorization": f"Bearer {TOKEN}"}
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
        """SIGTERM and wait for the ordered shutdown; its exit status (-9 when it had to be killed after 30 s)."""
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


@asynccontextmanager
async def running_daemon(state_dir: Path, ami_port: int, **extra: str) -> AsyncIterator[Daemon]:
    """A started `Daemon`; stopped (SIGTERM) at the end."""
    daemon = await Daemon(state_dir, ami_port, **extra).start()
    try:
        yield daemon
    finally:
        await daemon.stop()
