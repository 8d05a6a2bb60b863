"""`ami_login_probe`: what `event-agent check-config` learns from one short AMI session.

It connects, logs in, asks `CoreShowChannels` (the resync action; it needs the `system` or `reporting`
write class), then listens up to `listen` seconds to the events Asterisk sends on its own:

- whether events carry a `Timestamp` header (manager.conf `timestampevents = yes`); FullyBooted, which
  Asterisk writes at login without one, does not count; None when no other event arrived to tell;
- which of the read classes the agent uses were seen in the events' `Privilege` headers: `call` (channels
  and dialing, required), `dialplan` (Newexten/VarSet: failed Dial and channel variables), `agent` (queues).
  AMI has no action that reports a user's read classes, so a class is only "seemingly missing": an idle
  PBX sends nothing in that window. The listening stops early once every class and the Timestamp answer
  have been seen.

The secret is sent to Asterisk and never appears in the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.ami.events import AmiEvent
from agent.ami.protocol import ActionFailed, AmiProtocol
from agent.settings import AmiSettings

WANTED_CLASSES = ("call", "dialplan", "agent")
_POLL = 0.05


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of one probe session; `message` is Asterisk's login answer or the connection error."""

    ok: bool
    message: str
    banner: str = ""
    resync: bool = False
    timestamps: bool | None = None
    classes_seen: tuple[str, ...] = ()
    missing_classes: tuple[str, ...] = ()


async def ami_login_probe(
    settings: AmiSettings, *, listen: float = 3.0, clock: Callable[[], float] = time.time
) -> ProbeResult:
    """Log in once and report what the agent needs to know about this AMI user (see the module docstring)."""
    events: list[AmiEvent] = []
    loop = asyncio.get_running_loop()
    target = f"{settings.host}:{settings.port}"
    try:
        connecting = loop.create_connection(lambda: AmiProtocol(events.extend, clock), settings.host, settings.port)
        _, protocol = await asyncio.wait_for(connecting, settings.connect_timeout)
    except (OSError, TimeoutError) as exc:
        return ProbeResult(ok=False, message=f"cannot connect to {target}: {exc or 'timeout'}")
    try:
        return await _session(protocol, settings, events, listen)
    except (ActionFailed, TimeoutError) as exc:
        return ProbeResult(ok=False, message=f"{target}: {exc}", banner=protocol.decoder.banner or "")
    finally:
        protocol.abort("probe done")


async def _session(protocol: AmiProtocol, settings: AmiSettings, events: list[AmiEvent], listen: float) -> ProbeResult:
    banner = protocol.decoder.banner or ""
    secret = settings.secret.get_secret_value()
    login = {"Action": "Login", "Username": settings.username, "Secret": secret, "Events": "on"}
    answer: Any = await protocol.request(login, within=settings.connect_timeout)
    if answer.get("Response") != "Success":
        return ProbeResult(ok=False, message=str(answer.get("Message") or "login refused"), banner=banner)
    channels: Any = await protocol.request({"Action": "CoreShowChannels"}, within=settings.connect_timeout)
    for _ in range(max(1, int(listen / _POLL))):
        if _settled(events):
            break
        await asyncio.sleep(_POLL)
    with contextlib.suppress(ActionFailed, TimeoutError):
        await protocol.request({"Action": "Logoff"}, within=1.0)
    seen = _classes(events)
    return ProbeResult(
        ok=True,
        message=str(answer.get("Message", "")),
        banner=protocol.decoder.banner or banner,
        resync=isinstance(channels, list),
        timestamps=_timestamps(events),
        classes_seen=tuple(sorted(seen)),
        missing_classes=tuple(name for name in WANTED_CLASSES if name not in seen),
    )


def _classes(events: list[AmiEvent]) -> set[str]:
    return {name for event in events for name in event.get("Privilege").split(",") if name and name != "all"}


def _timestamps(events: list[AmiEvent]) -> bool | None:
    telling = [event for event in events if event.name != "FullyBooted"]
    return any("Timestamp" in event.headers for event in telling) if telling else None


def _settled(events: list[AmiEvent]) -> bool:
    return _timestamps(events) is not None and all(name in _classes(events) for name in WANTED_CLASSES)
