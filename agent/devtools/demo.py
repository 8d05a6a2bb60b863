"""`event-agent demo` (`make demo`): the whole agent on loopback, with nothing to install or configure.

It starts, in this process: the AMI simulator looping the bundled Asterisk 22 traces at real speed, a local
sink (an aiohttp receiver on 127.0.0.1 that answers 200 and logs what it gets), and the agent itself with its
state in a temporary directory, pre-configured with the global switch on, all five events active and one demo
action bound to them that posts the call's parameters as JSON to the sink. It prints two lines,
`Admin: http://127.0.0.1:PORT/` and `Token: TOKEN`, then logs. Ctrl-C (SIGINT) or SIGTERM stops it cleanly
(exit status 0). Only loopback addresses are used, whatever the environment says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from pydantic import SecretStr

from agent.app import DATABASE_FILE, Agent, configure_logging, stop_on_signals
from agent.devtools.simulator import AmiSimulator
from agent.mapping.catalog import EVENT_KEYS
from agent.settings import AdminSettings, AmiSettings, Settings, SettingsError
from agent.store.facade import Store
from agent.store.model import Action, Body, KeyValue, Parameter

LOOPBACK = "127.0.0.1"
TRACES_DIR = Path(__file__).parent / "demo_traces"
DEMO_PARAMETERS = ("event", "event_id", "call_id", "caller_id", "calling_name", "called_number", "extension",
                   "direction", "duration", "talk_duration", "dial_status", "hangup_by", "date", "time", "unix_time")
log = logging.getLogger("agent.devtools.demo")


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
        await store.set_actions_enabled(True)
    finally:
        await store.close()


async def _receive(request: web.Request) -> web.Response:
    body = await request.read()
    log.info("sink received %s %s %s", request.method, request.path, body.decode("utf-8", "replace")[:300])
    return web.json_response({"ok": True})


@contextlib.asynccontextmanager
async def sink() -> AsyncIterator[str]:
    """A receiver on a free loopback port that answers 200 to anything; yields its base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _receive)
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


async def demo(base: Settings, state_dir: Path) -> int:
    """Run until SIGINT/SIGTERM; 0 on a clean stop."""
    with stop_on_signals() as stop:
        return await _demo(base, state_dir, stop)


async def _demo(base: Settings, state_dir: Path, stop: asyncio.Event) -> int:
    simulator = AmiSimulator(sorted(TRACES_DIR.glob("*.ami")), host=LOOPBACK, speed=1.0, loop=True)
    token = secrets.token_urlsafe(24)
    async with sink() as sink_url:
        try:
            settings = demo_settings(base, state_dir, await simulator.start(), token)
            await seed(state_dir / DATABASE_FILE, sink_url)
            agent = await Agent.open(settings)
            try:
                print(f"Admin: http://{LOOPBACK}:{agent.api_port}/\nToken: {token}", flush=True)
                configure_logging(settings.log_level)
                log.info("demo running: AMI simulator on port %d, sink on %s; Ctrl-C to stop", simulator.port,
                         sink_url)
                await stop.wait()
                log.info("demo stopping")
            finally:
                await agent.stop()
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
