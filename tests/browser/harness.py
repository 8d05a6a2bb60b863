"""What the browser tests drive: a real agent subprocess, the AMI simulator, a loopback receiver, Chromium.

Everything listens on 127.0.0.1. The agent starts with its AMI port pointing at a port where nothing listens
yet; a test starts the simulator on that port when it wants calls to flow, and the agent's reconnect loop
picks it up.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "browser-test-token-5f1c2a-0123456789abcdef"
TRACES = REPO / "tests" / "fixtures" / "ami_traces"
SCREENSHOTS = REPO / "test-output" / "screenshots"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    method: str
    path_qs: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real aiohttp server on 127.0.0.1 in its own thread; answers `status` (per path prefix) and records."""

    statuses: dict[str, int] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Received(request.method, request.path_qs, dict(request.headers), body))
        status = next((code for prefix, code in self.statuses.items() if request.path.startswith(prefix)), 200)
        return web.json_response({"ok": status < 400, "path": request.path}, status=status)

    def matching(self, path_prefix: str) -> list[Received]:
        return [item for item in list(self.received) if item.path_qs.startswith(path_prefix)]


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="receiver", daemon=True)
    thread.start()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return int(runner.addresses[0][1])

    port = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    receiver.url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@dataclass
class Agent:
    """`event-agent run` as a subprocess with its own state dir; `simulate` starts the AMI simulator."""

    base_url: str
    ami_port: int
    state_dir: Path
    log: Path
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def simulate(self, trace: str) -> None:
        log = (self.state_dir / "simulator.log").open("ab")
        with log:
            child = subprocess.Popen(
                [sys.executable, "-m", "agent", "simulate", str(TRACES / trace), "--port", str(self.ami_port),
                 "--speed", "0"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        self.children.append(child)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the admin API directly (for setup and for checking what the page did)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base_url}api/v1{path}", data=data, method=method,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _environment(state_dir: Path, admin_port: int, ami_port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("EVENT_AGENT_")}
    env.update({
        "EVENT_AGENT_STATE_DIR": str(state_dir),
        "EVENT_AGENT_ADMIN__HOST": "127.0.0.1",
        "EVENT_AGENT_ADMIN__PORT": str(admin_port),
        "EVENT_AGENT_ADMIN__TOKEN": TOKEN,
        "EVENT_AGENT_AMI__HOST": "127.0.0.1",
        "EVENT_AGENT_AMI__PORT": str(ami_port),
        "EVENT_AGENT_AMI__SECRET": "browser-test",
        "EVENT_AGENT_AMI__RECONNECT_MIN": "0.2",
        "EVENT_AGENT_AMI__RECONNECT_MAX": "0.5",
        "EVENT_AGENT_DELIVERY__RETRY_INITIAL_DELAY": "0.5",
    })
    return env


def _wait_healthy(agent: Agent, process: subprocess.Popen[bytes], deadline_s: float = 60.0) -> None:
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        if process.poll() is not None:
            raise RuntimeError(f"the agent exited with {process.returncode}:\n{agent.log_text()}")
        try:
            with urllib.request.urlopen(f"{agent.base_url}healthz", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"the agent did not answer /healthz:\n{agent.log_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def running_agent(state_dir: Path) -> Iterator[Agent]:
    admin_port, ami_port = free_port(), free_port()
    state_dir.mkdir(parents=True, exist_ok=True)
    agent = Agent(f"http://127.0.0.1:{admin_port}/", ami_port, state_dir, state_dir / "agent.log")
    with agent.log.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "agent", "run"], cwd=REPO, env=_environment(state_dir, admin_port, ami_port),
            stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(agent, process)
        yield agent
    finally:
        for child in agent.children:
            _stop(child)
        _stop(process)
