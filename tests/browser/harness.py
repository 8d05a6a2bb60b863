"""What the browser tests drive: a real agent process, the AMI simulator, a loopback receiver, Chromium.

Everything listens on 127.0.0.1. The agent starts with its AMI port pointing at a port where nothing listens
yet; a test starts the simulator on that port when it wants calls to flow, and the agent's reconnect loop
picks it up. The tests are synchronous (Playwright's sync API): the agent process and the receiver are the
suite's own (tests/support/), run on a `BackgroundLoop`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.agent_runner import Daemon
from tests.support.background import BackgroundLoop
from tests.support.paths import ROOT, TRACES
from tests.support.receiver import free_port
from tests.support.settings import TOKEN

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@dataclass
class Agent:
    """The agent process as a synchronous test uses it: `api` to set up and check, `simulate` to play a trace."""

    daemon: Daemon
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.daemon.base_url

    @property
    def state_dir(self) -> Path:
        return self.daemon.state_dir

    @property
    def log(self) -> Path:
        return self.daemon.log

    def log_text(self) -> str:
        return self.daemon.log_text()

    def simulate(self, trace: str) -> None:
        """Start the AMI simulator on the agent's AMI port, playing `trace` (a file of tests/fixtures/ami_traces)."""
        with (self.daemon.state_dir / "simulator.log").open("ab") as log:
            self.children.append(subprocess.Popen(
                [sys.executable, "-m", "agent", "simulate", str(TRACES / trace), "--port", str(self.daemon.ami_port),
                 "--speed", "0"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the admin API directly (for setup and for checking what the page did)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base_url}api/v1{path}", data=data, method=method,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def stop_children(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait(timeout=5)


@contextmanager
def agent_process(loop: BackgroundLoop, state_dir: Path) -> Iterator[Agent]:
    """`event-agent run` on `state_dir`, its AMI port free until a test calls `simulate`."""
    daemon = loop.run(Daemon(state_dir, free_port(), DELIVERY__RETRY_INITIAL_DELAY="0.5").start())
    agent = Agent(daemon)
    try:
        yield agent
    finally:
        agent.stop_children()
        loop.run(daemon.stop())
