"""`event-agent status`: ask the running agent's admin API for GET /api/v1/status and print it.

The address is EVENT_AGENT_ADMIN__HOST/PORT (a wildcard bind address is reached on loopback); the token is
EVENT_AGENT_ADMIN__TOKEN, else the file STATE_DIR/admin-token the agent wrote on first start (this command
never creates it). Exit status 0 when the agent answered, 1 with one plain line on stderr otherwise.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from agent.admin_api.auth import TOKEN_FILE, configured_token, stored_token
from agent.settings import Settings

STATUS_PATH = "/api/v1/status"
TIMEOUT_S = 5.0
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104 (mapped to loopback)


class StatusError(Exception):
    """The status could not be had; the message is one plain line for the administrator."""


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    token: str

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{STATUS_PATH}"


def status_main(settings: Settings, *, as_json: bool = False, out: TextIO | None = None) -> int:
    """Print the running agent's status (human-readable, or pretty JSON); 1 when it cannot be had."""
    stream = out or sys.stdout
    try:
        status = fetch_status(target_of(settings))
    except StatusError as exc:
        print(f"event-agent status: {exc}", file=sys.stderr)
        return 1
    plain = whole_numbers(status)
    stream.write(json.dumps(plain, indent=2, sort_keys=True) + "\n" if as_json else render(plain))
    return 0


def whole_numbers(value: Any) -> Any:
    """`value` with every float that is a whole number (a counter: 2787.0) as an int, at any depth."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {key: whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [whole_numbers(item) for item in value]
    return value


def target_of(settings: Settings) -> Target:
    """Where the agent listens and the token to show it."""
    host = _WILDCARDS.get(settings.admin.host, settings.admin.host)
    if settings.admin.port == 0:
        raise StatusError("EVENT_AGENT_ADMIN__PORT is 0 (a random port): set the port the agent listens on")
    return Target(host, settings.admin.port, _token(settings))


def _token(settings: Settings) -> str:
    configured = configured_token(settings.admin)
    if configured:
        return configured
    path = Path(settings.state_dir) / TOKEN_FILE
    try:
        token = stored_token(path)
    except OSError as exc:
        reason = f"cannot read the admin token {path}: {exc.strerror}"
        raise StatusError(f"{reason} (run as root or as the agent's user)") from None
    if not token:
        raise StatusError(f"no admin token: {path} is missing (has the agent ever started?); "
                          "set EVENT_AGENT_ADMIN__TOKEN or EVENT_AGENT_STATE_DIR")
    return token


def fetch_status(target: Target) -> dict[str, object]:
    """GET the status; StatusError with a plain reason for every way it can fail."""
    connection = http.client.HTTPConnection(target.host, target.port, timeout=TIMEOUT_S)
    try:
        connection.request("GET", STATUS_PATH, headers={"Authorization": f"Bearer {target.token}"})
        response = connection.getresponse()
        body = response.read()
    except (ConnectionRefusedError, socket.gaierror) as exc:
        raise StatusError(f"the agent is not running (nothing answers at {target.url}: {exc})") from None
    except (OSError, http.client.HTTPException) as exc:
        raise StatusError(f"no answer from {target.url}: {exc}") from None
    finally:
        connection.close()
    return _decode(target, response.status, body)


def _decode(target: Target, status: int, body: bytes) -> dict[str, object]:
    if status == 401:
        raise StatusError(f"the agent at {target.url} refused the admin token")
    try:
        data = json.loads(body)
    except ValueError:
        raise StatusError(f"{target.url} answered HTTP {status} with something other than JSON") from None
    if status != 200 or not isinstance(data, dict):
        message = data.get("error", "") if isinstance(data, dict) else ""
        raise StatusError(f"{target.url} answered HTTP {status} {message}".rstrip())
    return data


def render(status: Mapping[str, object], indent: int = 0) -> str:
    """Nested status as indented `Label: value` lines; lists are comma-separated."""
    lines: list[str] = []
    for key, value in status.items():
        label = " " * indent + key.replace("_", " ").capitalize()
        if isinstance(value, Mapping):
            lines.append(f"{label}:" + ("" if value else " -"))
            lines.append(render(value, indent + 2).rstrip("\n"))
        else:
            lines.append(f"{label}: {_scalar(value)}")
    return "\n".join(line for line in lines if line) + "\n"


def _scalar(value: object) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_scalar(item) for item in value) or "-"
    return str(value)
