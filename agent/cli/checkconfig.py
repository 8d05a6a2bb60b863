"""`event-agent check-config`: the settings are valid (else the CLI already exited 78); now try them on the PBX.

It logs in to AMI as the agent would (agent.ami.probe), watches the event stream for a few seconds and says in
plain words what is wrong: AMI unreachable, login refused, the required `call` read class missing, optional
classes not seen, events without a `Timestamp` header (timestampevents off), CoreShowChannels refused. Exit
status 0 when nothing is wrong, 1 when something is. AMI has no action that lists a user's read classes, so
they are judged from the events that arrive: on an idle PBX the check can only warn (make a call while it runs).
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import Literal, TextIO

from agent.admin_api.auth import is_loopback
from agent.ami.probe import ProbeResult, ami_login_probe
from agent.ami.tls import unverified_warning
from agent.settings import AmiSettings, Settings

OBSERVE_S = 5.0
REQUIRED_CLASS = "call"
OPTIONAL_CLASSES = {
    "dialplan": "failed Dial detection (CHANUNAVAIL: an unregistered phone) from Newexten and VarSet DIALSTATUS",
    "agent": "queue events (QueueCallerJoin, AgentConnect...) that fill the queue parameter",
}
# Events that come whatever the calls do, so seeing only these says nothing about the call class.
_UNRELATED_CLASSES = frozenset({"system", "security", "log", "verbose", "command", "config", "user", "originate"})
Level = Literal["ok", "info", "warning", "problem"]


@dataclass(frozen=True, slots=True)
class Finding:
    level: Level
    text: str


def settings_findings(settings: Settings) -> list[Finding]:
    """What the settings alone tell (they are already valid)."""
    ami, admin = settings.ami, settings.admin
    tls = " over TLS" if ami.tls else ""
    findings = [Finding("ok", f"settings valid: AMI {ami.host}:{ami.port}{tls} as '{ami.username}', "
                              f"admin API {admin.host}:{admin.port}, state {settings.state_dir}")]
    if not ami.secret.get_secret_value():
        findings.append(Finding("warning", "EVENT_AGENT_AMI__SECRET is empty: Asterisk will refuse the login"))
    if warning := unverified_warning(ami):
        findings.append(Finding("warning", warning))
    token = admin.token.get_secret_value() if admin.token else ""
    if not token and not is_loopback(admin.host):
        findings.append(Finding("problem", f"EVENT_AGENT_ADMIN__HOST is {admin.host} (not loopback) and "
                                           "EVENT_AGENT_ADMIN__TOKEN is empty: the agent will refuse to start"))
    return findings


def probe_findings(result: ProbeResult, ami: AmiSettings, observe_s: float) -> list[Finding]:
    """Plain-words verdicts on one AMI session."""
    if not result.ok:
        hint = ("check EVENT_AGENT_AMI__USERNAME/__SECRET against the [user] section of manager.conf, and its "
                "permit/deny lines" if result.reachable else _unreachable_hint(result))
        return [Finding("problem", f"{_login_problem(result, ami)} ({hint})")]
    banner = result.banner or "no banner"
    findings = [Finding("ok", f"logged in to {ami.host}:{ami.port} as '{ami.username}' ({banner})")]
    if result.trouble:
        findings.append(Finding("warning", f"after the login: {result.trouble}"))
    findings += _class_findings(result, observe_s)
    findings += _timestamp_findings(result)
    findings += _resync_findings(result)
    return findings


def _unreachable_hint(result: ProbeResult) -> str:
    if result.reason.startswith("TLS"):
        return ("check EVENT_AGENT_AMI__TLS_CA_FILE, and that the certificate names EVENT_AGENT_AMI__HOST and "
                "manager.conf has tlsenable = yes on this port")
    return "is Asterisk running, with enabled = yes in manager.conf?"


def _login_problem(result: ProbeResult, ami: AmiSettings) -> str:
    if not result.reachable:
        return f"cannot reach AMI at {ami.host}:{ami.port}: {result.reason}"
    if result.refused:
        return f"AMI refused the login: {result.message}"
    return f"the AMI login did not complete: {result.reason or result.message}"


def _class_findings(result: ProbeResult, observe_s: float) -> list[Finding]:
    classes = set(result.classes_seen)
    seen = ", ".join(result.classes_seen) or "none"
    if REQUIRED_CLASS in classes:
        findings = [Finding("ok", f"read class 'call' (required): events seen (classes seen: {seen})")]
    elif classes - _UNRELATED_CLASSES:
        findings = [Finding("problem", f"read class 'call' is missing: {result.events} events of classes {seen} "
                                       "arrived but none of class call; add call to read= in manager.conf")]
    else:
        return [Finding("warning", f"no call events in {observe_s:g} s (classes seen: {seen}): the PBX may be "
                                   "idle; make a call while check-config runs to check read classes and timestamps")]
    for name, adds in OPTIONAL_CLASSES.items():
        if name not in classes:
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
    if result.resync:
        return [Finding("ok", "CoreShowChannels allowed: calls are resynchronised after a reconnect")]
    if result.resync_refused:
        return [Finding("problem", f"CoreShowChannels refused ({result.resync_refused}): add write = reporting to "
                                   "the user in manager.conf; without it there is no resync after a reconnect: calls "
                                   "that ended meanwhile complete only at the stuck-call timeout, calls already up "
                                   "when the agent connects are not seen")]
    return [Finding("warning", "no answer to CoreShowChannels: the resync after a reconnect could not be checked")]


async def check_config(settings: Settings, out: TextIO, observe_s: float = OBSERVE_S) -> int:
    """Print the findings, one per line; 1 when any is a problem."""
    findings = settings_findings(settings)
    result = await ami_login_probe(settings.ami, listen=observe_s)
    findings += probe_findings(result, settings.ami, observe_s)
    for finding in findings:
        out.write(f"{finding.level + ':':9}{finding.text}\n")
    return 1 if any(finding.level == "problem" for finding in findings) else 0


def check_config_main(settings: Settings) -> int:
    """`event-agent check-config` (the CLI has validated the settings already)."""
    return asyncio.run(check_config(settings, sys.stdout))
