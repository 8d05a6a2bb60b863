"""`event-agent demo` (`make demo`): the whole agent on loopback, with nothing to install or configure.

It starts, in this process: the AMI simulator looping the bundled Asterisk 22 traces at real speed with their
timestamps moved to now (so the calls are today's), a local sink (an aiohttp receiver on 127.0.0.1 that answers
200 and logs what it gets), and the agent itself with its state in a temporary directory, pre-configured with the
global switch on, all five events active, one demo action bound to them that posts the call's parameters as JSON
to the sink, and a rate for the outbound call's destination (so `call_cost` is filled). The traces: an internal
call answered, one answered busy, an inbound call answered, an outbound call through the trunk, and an inbound
call to a ring group of three phones.

It prints `Admin: http://127.0.0.1:PORT/`, `Token: TOKEN` and a `Status:` line (an `event-agent status` command
that works while the demo runs: the state directory holds the admin token and an env file naming the address),
then logs. Ctrl-C (SIGINT) or SIGTERM stops it cleanly (exit status 0). Only loopback addresses are used,
whatever the environment says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shlex
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from pydantic import SecretStr

from agent.admin_api.auth import TOKEN_FILE
from agent.app import DATABASE_FILE, Agent, configure_logging, stop_on_signals
from agent.devtools.simulator import AmiSimulator
from agent.mapping.catalog import EVENT_KEYS
from agent.settings import AdminSettings, AmiSettings, Settings, SettingsError
from agent.store.facade import Store
from agent.store.model import Action, Body, KeyValue, Parameter
from agent.store.records import RateRow

LOOPBACK = "127.0.0.1"
TRACES_DIR = Path(__file__).parent / "demo_traces"
ENV_FILE = "demo.env"
DEMO_PARAMETERS = ("event", "event_id", "call_id", "caller_id", "calling_name", "called_number", "extension",
                   "direction", "duration", "talk_duration", "dial_status", "hangup_by", "trunk", "call_cost",
                   "call_rating_duration", "date", "time", "unix_time")
# The outbound demo call dials 15551239876: this rate prices it (docs/events.md, `call_cost`).
DEMO_RATES = (RateRow(prefix="1555", price_per_minute="0.05", connection_fee="0.10", minimum_s=30, increment_s=6,
                   description="Demo: US 555 numbers"),)
log = logging.getLogger("agent.devtools.demo")

Record = Callable[[str, bytes], None]


def demo_traces() -> list[Path]:
    """The bundled traces, in the order they play."""
    return sorted(TRACES_DIR.glob("*.ami"))


def demo_simulator() -> AmiSimulator:
    """The demo's AMI server: the bundled traces looped at real speed, each pass moved to the current time."""
    return AmiSimulator(demo_traces(), host=LOOPBACK, speed=1.0, loop=True, retime=True)


def demo_action(sink_url: str) -> Action:
    """POST {sink}/events/{{event}} with the main parameters as a JSON object and a secret parameter in a header."""
    fields = ", ".join(f'"{tag}": "{{{{{tag}}}}}"' for tag in DEMO_PARAMETERS)
    return Action(
        name="Demo sink",
        description="Posts every system event with its parameters to the demo's local sink",
        method="POST",
        url=f"{sink_url}/events/{{{{event}}}}",
        headers=(KeyValue("X-Api-Key", "{{Demo_API_Key}}"),),
        body=Body(type="raw", content_type="application/json", raw="{" + fields + "}"),
    )


async def seed(path: Path, sink_url: str) -> None:
    """The demo configuration, written before the agent starts so the first call already fires."""
    store = await Store.open(path)
    try:
        await store.create_parameter(Parameter("Demo_API_Key", secrets.token_hex(8), secret=True))
        action = await store.create_action(demo_action(sink_url))
        for key in sorted(EVENT_KEYS):
            await store.update_event(key, active=True, action_ids=[action.id or 0])
        await store.replace_rates(DEMO_RATES)
        await store.set_actions_enabled(True)
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def sink(record: Record | None = None) -> AsyncIterator[str]:
    """A receiver on a free loopback port that answers 200 to anything and logs it (and hands each request's
    path and body to `record`, when given); yields its base URL."""

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        log.info("sink received %s %s %s", request.method, request.path, body.decode("utf-8", "replace")[:2000])
        if record is not None:
            record(request.path, body)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, 0)
    await site.start()
    try:
        yield f"http://{LOOPBACK}:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def admin_port(preferred: int) -> int:
    """`preferred` when it is free on loopback, else 0 (the system picks a free port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LOOPBACK, preferred))
        except OSError:
            return 0
    return preferred


def demo_settings(base: Settings, state_dir: Path, ami_port: int, token: str) -> Settings:
    """`base` with everything network-facing forced to loopback, a fresh token and the temporary state."""
    ami = AmiSettings(host=LOOPBACK, port=ami_port, username="demo", secret=SecretStr("demo"))
    admin = AdminSettings(host=LOOPBACK, port=admin_port(base.admin.port), token=SecretStr(token))
    delivery = base.delivery.model_copy(update={"drain_grace_period": 2.0})
    return base.model_copy(update={"state_dir": state_dir, "ami": ami, "admin": admin, "delivery": delivery})


@dataclass(frozen=True, slots=True)
class DemoRun:
    """A running demo agent: what it prints and what a test of its stream needs."""

    agent: Agent
    settings: Settings
    token: str
    status_command: str

    @property
    def admin_url(self) -> str:
        return f"http://{LOOPBACK}:{self.agent.api_port}/"


@contextlib.asynccontextmanager
async def running_agent(base: Settings, state_dir: Path, ami_port: int, sink_url: str) -> AsyncIterator[DemoRun]:
    """The demo's agent on the simulator at `ami_port`, delivering to `sink_url`; stopped (drained) on leaving."""
    token = secrets.token_urlsafe(24)
    settings = demo_settings(base, state_dir, ami_port, token)
    await seed(state_dir / DATABASE_FILE, sink_url)
    agent = await Agent.open(settings)
    try:
        env_file = write_status_files(state_dir, agent.api_port, token)
        yield DemoRun(agent, settings, token, status_command(env_file))
    finally:
        await agent.stop()


def write_status_files(state_dir: Path, port: int, token: str) -> Path:
    """What `event-agent status` reads: the admin token in the state directory (as the agent writes it when it
    makes one) and an env file with the demo's address and state directory. Returns the env file."""
    _private_file(state_dir / TOKEN_FILE, token + "\n")
    env = {"EVENT_AGENT_STATE_DIR": str(state_dir), "EVENT_AGENT_ADMIN__HOST": LOOPBACK,
           "EVENT_AGENT_ADMIN__PORT": str(port)}
    path = state_dir / ENV_FILE
    _private_file(path, "".join(f"{key}={value}\n" for key, value in env.items()))
    return path


def _private_file(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def status_command(env_file: Path) -> str:
    """The `event-agent status` command line for this demo, runnable from the current directory."""
    script = Path(sys.executable).parent / "event-agent"
    if script.is_file():
        program = [os.path.relpath(script) if script.is_relative_to(Path.cwd()) else str(script)]
    else:
        program = [sys.executable, "-m", "agent"]
    return shlex.join([*program, "--env-file", str(env_file), "status"])


async def demo(base: Settings, state_dir: Path) -> int:
    """Run until SIGINT/SIGTERM; 0 on a clean stop."""
    with stop_on_signals() as stop:
        return await _demo(base, state_dir, stop)


async def _demo(base: Settings, state_dir: Path, stop: asyncio.Event) -> int:
    simulator = demo_simulator()
    try:
        ami_port = await simulator.start()
        async with sink() as sink_url, running_agent(base, state_dir, ami_port, sink_url) as run:
            print(f"Admin: {run.admin_url}\nToken: {run.token}\nStatus: {run.status_command}", flush=True)
            configure_logging(run.settings.log_level)
            log.info("demo running: AMI simulator on port %d, sink on %s, state in %s; Ctrl-C to stop", ami_port,
                     sink_url, state_dir)
            await stop.wait()
            log.info("demo stopping")
    finally:
        await simulator.stop()
    return 0


def run_demo(settings: Settings) -> int:
    """`event-agent demo`: see the module docstring. Exit status 0 after Ctrl-C, 1 when it cannot start."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="event-agent-demo-") as state:
        try:
            return asyncio.run(demo(settings, Path(state)))
        except (OSError, SettingsError) as exc:
            print(f"event-agent demo: cannot start: {exc}", file=sys.stderr)
            return 1
