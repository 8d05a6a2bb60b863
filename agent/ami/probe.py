"""`ami_login_probe`: what `event-agent check-config` learns from one short AMI session.

It connects, logs in, asks `CoreShowChannels` (the resync action; it needs the `system` or `reporting`
write class), then listens up to `listen` seconds to the events Asterisk sends on its own:

- whether events carry a `Timestamp` header (manager.conf `timestampevents = yes`); FullyBooted, which
  Asterisk writes at login without one, does not count; None when no other event arrived to tell;
- which of the read classes the agent uses were seen in the events' `Privilege` headers: `call` (channels
  and dialing, required), `dialplan` (Newexten/VarSet: failed Dial and channel variables), `agent` (queues).
  AMI has no action that reports a user's read classes, so a class is only "seemingly missing": an idle
  PBX sends nothing in that window. The listening stops early once every class and the Timestamp answer
  have been seen, or when the link drops.

Trouble with the PBX is a result, never an exception. The secret is sent to Asterisk and never appears in
the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from agent.ami.client import connect, log_in
from agent.ami.config import AmiConfig
from agent.ami.events import AmiEvent, printable
from agent.ami.protocol import ActionFailed, AmiProtocol
from agent.ami.tls import failure_reason

WANTED_CLASSES = ("call", "dialplan", "agent")
_UNSTAMPED_EVENTS = frozenset({"FullyBooted"})  # sent at login, never stamped
_POLL = 0.05


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of one probe session.

    `ok`: logged in. `message`: Asterisk's login answer, or the connection error with the address. `reachable`:
    the TCP connection was made; `refused`: Asterisk answered the Login with an error (`message` says why);
    `reason`: why connecting or logging in failed otherwise, in plain words without the address.
    After the login: `resync` (CoreShowChannels answered with a list) or `resync_refused` (Asterisk's reason
    for refusing it), `trouble` (the link dropped, CoreShowChannels unanswered), and what the `events` showed:
    how many carried a Timestamp (`stamped`) or not (`unstamped`, FullyBooted aside) and their classes.
    """

    ok: bool
    message: str
    banner: str = ""
    resync: bool = False
    timestamps: bool | None = None
    classes_seen: tuple[str, ...] = ()
    missing_classes: tuple[str, ...] = ()
    reachable: bool = False
    refused: bool = False
    reason: str = ""
    resync_refused: str = ""
    trouble: str = ""
    events: int = 0
    stamped: int = 0
    unstamped: int = 0


async def ami_login_probe(
    settings: AmiConfig, *, listen: float = 3.0, clock: Callable[[], float] = time.time
) -> ProbeResult:
    """Log in once and report what the agent needs to know about this AMI user (see the module docstring)."""
    events: list[AmiEvent] = []
    target = f"{settings.host}:{settings.port}"
    try:
        protocol = await connect(settings, events.extend, clock)
    except (OSError, TimeoutError) as exc:
        reason = failure_reason(exc)
        return ProbeResult(ok=False, message=f"cannot connect to {target}: {reason}", reason=reason)
    try:
        result = await _session(protocol, settings, events, listen)
    except (ActionFailed, TimeoutError) as exc:
        banner = printable(protocol.decoder.banner or "")
        return ProbeResult(ok=False, message=f"{target}: {exc}", banner=banner, reachable=True, reason=str(exc))
    finally:
        protocol.transport.close()  # a clean close after Logoff, as Asterisk expects; idempotent when lost
    return result


async def _session(protocol: AmiProtocol, settings: AmiConfig, events: list[AmiEvent], listen: float) -> ProbeResult:
    banner = printable(protocol.decoder.banner or "")
    accepted, message = await log_in(protocol, settings)
    message = printable(message)
    if not accepted:
        return ProbeResult(ok=False, message=message or "login refused", banner=banner, reachable=True, refused=True)
    resync, resync_refused, trouble = await _core_show_channels(protocol, settings.connect_timeout)
    await _listen(protocol, events, listen)
    if protocol.lost.done():
        trouble = trouble or "AMI closed the connection"
    else:
        with contextlib.suppress(ActionFailed, TimeoutError):
            await protocol.request({"Action": "Logoff"}, within=1.0)
    result = _observed(events, message, printable(protocol.decoder.banner or "") or banner)
    return replace(result, resync=resync, resync_refused=resync_refused, trouble=trouble)


async def _core_show_channels(protocol: AmiProtocol, within: float) -> tuple[bool, str, str]:
    """(answered with the channel list, Asterisk's reason for refusing it, trouble getting an answer)."""
    action = protocol.action({"Action": "CoreShowChannels"})
    protocol.hold_events_from(action)  # so the answer is collected within the limits, as the client's is
    try:
        answer: Any = await protocol.answer(action, within=within)
    except (ActionFailed, TimeoutError) as exc:
        return False, "", str(exc)
    finally:
        protocol.release_held()
    if isinstance(answer, tuple):
        return True, "", ""
    return False, printable(answer.get("Message") or "no reason given"), ""


async def _listen(protocol: AmiProtocol, events: list[AmiEvent], listen: float) -> None:
    for _ in range(max(1, int(listen / _POLL))):
        if _settled(events) or protocol.lost.done():
            return
        await asyncio.sleep(_POLL)


def _observed(events: list[AmiEvent], message: str, banner: str) -> ProbeResult:
    """A logged-in result with what the events showed."""
    seen = _classes(events)
    telling = [event for event in events if event.name not in _UNSTAMPED_EVENTS]
    stamped = sum(1 for event in telling if "Timestamp" in event.headers)
    return ProbeResult(
        ok=True,
        message=message,
        banner=banner,
        timestamps=_timestamps(events),
        classes_seen=tuple(sorted(seen)),
        missing_classes=tuple(name for name in WANTED_CLASSES if name not in seen),
        reachable=True,
        events=len(events),
        stamped=stamped,
        unstamped=len(telling) - stamped,
    )


def _classes(events: list[AmiEvent]) -> set[str]:
    return {name.strip() for event in events for name in event.get("Privilege").split(",")} - {"", "all"}


def _timestamps(events: list[AmiEvent]) -> bool | None:
    telling = [event for event in events if event.name not in _UNSTAMPED_EVENTS]
    return any("Timestamp" in event.headers for event in telling) if telling else None


def _settled(events: list[AmiEvent]) -> bool:
    return _timestamps(events) is not None and all(name in _classes(events) for name in WANTED_CLASSES)
