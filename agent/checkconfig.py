"""`event-agent check-config`: the settings are valid (else the CLI already exited 78); now try them on the PBX.

It logs in to AMI as the agent would, watches the event stream for a few seconds and says in plain words
what is wrong: AMI unreachable, login refused, the required `call` read class missing, optional classes not
seen, events without a `Timestamp` header (timestampevents off). Exit status 0 when nothing is wrong, 1 when
something is. AMI has no action that lists a user's read classes, so they are judged from the events that
arrive: on an idle PBX the check can only warn (make a call while it runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, TextIO

from agent.admin_api.auth import is_loopback
from agent.ami.wire import FrameDecoder
from agent.settings import AmiSettings, Settings

OBSERVE_S = 5.0
REQUIRED_CLASS = "call"
OPTIONAL_CLASSES = {
    "dialplan": "failed Dial detection (CHANUNAVAIL: an unregistered phone) from Newexten and VarSet DIALSTATUS",
    "agent": "queue events (QueueCallerJoin, AgentConnect...) that fill the queue parameter",
}
# Events that come whatever the calls do, so seeing only these says nothing about the call class.
_UNRELATED_CLASSES = frozenset({"system", "security", "log", "verbose", "command", "config", "user", "originate"})
_NO_TIMESTAMP_EVENTS = frozenset({"FullyBooted"})  # sent at login, never stamped
_ACTION_ID = "check-config-"
LOGIN_ID = f"{_ACTION_ID}login"
CHANNELS_ID = f"{_ACTION_ID}channels"
Level = Literal["ok", "info", "warning", "problem"]


@dataclass(frozen=True, slots=True)
class Finding:
    level: Level
    text: str


@dataclass
class ProbeResult:
    """What one AMI session showed: reachability, login outcome and what the events carried."""

    reachable: bool = False
    logged_in: bool = False
    error: str = ""
    banner: str = ""
    events: int = 0
    classes: set[str] = field(default_factory=set)
    stamped: int = 0
    unstamped: int = 0
    resync: str = ""  # CoreShowChannels: "allowed", or why it was refused; "" while unanswered

    def add_event(self, headers: dict[str, str]) -> None:
        self.events += 1
        self.classes.update(name.strip() for name in headers.get("Privilege", "").split(",") if name.strip())
        self.classes.discard("all")
        if headers.get("Event") in _NO_TIMESTAMP_EVENTS:
            return
        if headers.get("Timestamp"):
            self.stamped += 1
        else:
            self.unstamped += 1

    @property
    def enough(self) -> bool:
        """Every class of interest seen and a verdict on Timestamps: watching longer would add nothing."""
        wanted = {REQUIRED_CLASS, *OPTIONAL_CLASSES}
        return wanted <= self.classes and self.stamped + self.unstamped > 0 and bool(self.resync)


async def ami_login_probe(settings: AmiSettings, observe_s: float = OBSERVE_S) -> ProbeResult:
    """Connect, log in, watch events for up to `observe_s` seconds, log off. Never raises for PBX trouble."""
    result = ProbeResult()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(settings.host, settings.port), settings.connect_timeout
        )
    except (OSError, TimeoutError) as exc:
        result.error = f"cannot reach AMI at {settings.host}:{settings.port}: {_reason(exc)}"
        return result
    result.reachable = True
    try:
        await _session(reader, writer, settings, result, observe_s)
    except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
        result.error = result.error or f"the AMI connection failed: {_reason(exc)}"
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return result


async def _session(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, settings: AmiSettings, result: ProbeResult,
    observe_s: float,
) -> None:
    decoder = FrameDecoder()
    secret = settings.secret.get_secret_value()
    writer.write(_action([("Action", "Login"), ("ActionID", LOGIN_ID), ("Username", settings.username),
                          ("Secret", secret), ("Events", "on")]))
    await writer.drain()
    try:
        async with asyncio.timeout(settings.connect_timeout):
            while not result.logged_in and not result.error:
                await _read_frames(reader, decoder, result)
    except TimeoutError:
        result.error = f"no answer to Login within {settings.connect_timeout:g} s"
    if result.error:
        return
    writer.write(_action([("Action", "CoreShowChannels"), ("ActionID", CHANNELS_ID)]))
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(observe_s):
            while not result.enough and not result.error:
                await _read_frames(reader, decoder, result)
    writer.write(_action([("Action", "Logoff"), ("ActionID", f"{_ACTION_ID}logoff")]))
    with contextlib.suppress(OSError):
        await writer.drain()


async def _read_frames(reader: asyncio.StreamReader, decoder: FrameDecoder, result: ProbeResult) -> None:
    data = await reader.read(65536)
    if not data:
        result.error = result.error or "AMI closed the connection"
        return
    for pairs in decoder.feed(data):
        _take(dict(pairs), result)
    result.banner = decoder.banner or ""


def _take(headers: dict[str, str], result: ProbeResult) -> None:
    action_id = headers.get("ActionID", "")
    if "Event" in headers:
        if result.logged_in and not action_id.startswith(_ACTION_ID):
            result.add_event(headers)
        return
    success = headers.get("Response", "").lower() == "success"
    message = headers.get("Message", "no reason given")
    if action_id == LOGIN_ID:
        result.logged_in = success
        result.error = "" if success else f"AMI refused the login: {message}"
    elif action_id == CHANNELS_ID and not result.resync:
        result.resync = "allowed" if success else message


def _action(lines: Iterable[tuple[str, str]]) -> bytes:
    return "".join(f"{key}: {value}\r\n" for key, value in lines).encode("utf-8") + b"\r\n"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def settings_findings(settings: Settings) -> list[Finding]:
    """What the settings alone tell (they are already valid)."""
    ami, admin = settings.ami, settings.admin
    findings = [Finding("ok", f"settings valid: AMI {ami.host}:{ami.port} as '{ami.username}', "
                              f"admin API {admin.host}:{admin.port}, state {settings.state_dir}")]
    if not ami.secret.get_secret_value():
        findings.append(Finding("warning", "EVENT_AGENT_AMI__SECRET is empty: Asterisk will refuse the login"))
    token = admin.token.get_secret_value() if admin.token else ""
    if not token and not is_loopback(admin.host):
        findings.append(Finding("problem", f"EVENT_AGENT_ADMIN__HOST is {admin.host} (not loopback) and "
                                           "EVENT_AGENT_ADMIN__TOKEN is empty: the agent will refuse to start"))
    return findings


def probe_findings(result: ProbeResult, ami: AmiSettings, observe_s: float) -> list[Finding]:
    """Plain-words verdicts on one AMI session."""
    if not result.reachable or not result.logged_in:
        hint = ("check EVENT_AGENT_AMI__USERNAME/__SECRET against the [user] section of manager.conf, and its "
                "permit/deny lines" if result.reachable else "is Asterisk running, with enabled = yes in manager.conf?")
        return [Finding("problem", f"{result.error or 'AMI login did not complete'} ({hint})")]
    banner = result.banner or "no banner"
    findings = [Finding("ok", f"logged in to {ami.host}:{ami.port} as '{ami.username}' ({banner})")]
    if result.error:
        findings.append(Finding("warning", f"after the login: {result.error}"))
    findings += _class_findings(result, observe_s)
    findings += _timestamp_findings(result)
    findings += _resync_findings(result)
    return findings


def _class_findings(result: ProbeResult, observe_s: float) -> list[Finding]:
    seen = ", ".join(sorted(result.classes)) or "none"
    if REQUIRED_CLASS in result.classes:
        findings = [Finding("ok", f"read class 'call' (required): events seen (classes seen: {seen})")]
    elif result.classes - _UNRELATED_CLASSES:
        findings = [Finding("problem", f"read class 'call' is missing: {result.events} events of classes {seen} "
                                       "arrived but none of class call; add call to read= in manager.conf")]
    else:
        return [Finding("warning", f"no call events in {observe_s:g} s (classes seen: {seen}): the PBX may be "
                                   "idle; make a call while check-config runs to check read classes and timestamps")]
    for name, adds in OPTIONAL_CLASSES.items():
        if name not in result.classes:
            findings.append(Finding("info", f"read class '{name}' (optional) not seen: without it, no {adds}"))
    return findings


def _timestamp_findings(result: ProbeResult) -> list[Finding]:
    if result.unstamped:
        return [Finding("problem", f"{result.unstamped} of {result.unstamped + result.stamped} events carry no "
                                   "Timestamp header: set timestampevents = yes in [general] of manager.conf "
                                   "(event times would be receive times)")]
    if result.stamped:
        return [Finding("ok", "events carry a Timestamp header (timestampevents = yes)")]
    return []


def _resync_findings(result: ProbeResult) -> list[Finding]:
    if result.resync == "allowed":
        return [Finding("ok", "CoreShowChannels allowed: calls are resynchronised after a reconnect")]
    if result.resync:
        return [Finding("problem", f"CoreShowChannels refused ({result.resync}): add write = reporting to the "
                                   "user in manager.conf, or calls in progress are lost after each reconnect")]
    return [Finding("warning", "no answer to CoreShowChannels: the resync after a reconnect could not be checked")]


async def check_config(settings: Settings, out: TextIO, observe_s: float = OBSERVE_S) -> int:
    """Print the findings, one per line; 1 when any is a problem."""
    findings = settings_findings(settings)
    result = await ami_login_probe(settings.ami, observe_s)
    findings += probe_findings(result, settings.ami, observe_s)
    for finding in findings:
        out.write(f"{finding.level + ':':9}{finding.text}\n")
    return 1 if any(finding.level == "problem" for finding in findings) else 0


def check_config_main(settings: Settings) -> int:
    """`event-agent check-config` (the CLI has validated the settings already)."""
    return asyncio.run(check_config(settings, sys.stdout))
