"""The admin token: where it comes from, and the bearer check on /api/v1 (docs/security.md).

The token is `EVENT_AGENT_ADMIN__TOKEN` when set (at least 32 characters, checked with the settings), else the
content of `STATE_DIR/admin-token`, created on first start with a random value (43 characters) and mode 0600 in
a state directory of mode 0700. Binding the admin API to a non-loopback address without a configured token is
refused (`TokenUnavailable`, which the daemon reports as a settings problem, exit status 78): a token sitting in a
file is fine for a local page, not for a network service.

The check accepts the `Bearer` scheme in any case; a 401 says `WWW-Authenticate: Bearer`. A client address that
sent FAILURE_BUDGET wrong tokens within FAILURE_WINDOW_S gets 429 with `Retry-After` for each further wrong
one, until the oldest of them leaves the window (`Throttle`); the right token is never held up or counted.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import os
import secrets
from collections import deque
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from agent.admin_api.config import AdminConfig, ApiSettings
from agent.admin_api.errors import ApiError
from agent.admin_api.routing import API_PREFIX, Handler, deps
from agent.store.files import private_dir

TOKEN_FILE = "admin-token"  # noqa: S105 (a file name, not a secret)
BEARER = "bearer"
FAILURE_BUDGET = 10  # wrong tokens a client address may send within the window before it gets 429
FAILURE_WINDOW_S = 60.0
MAX_CLIENTS = 4096  # client addresses remembered; the least recently failed one is forgotten first
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class TokenUnavailable(Exception):
    """The admin token cannot be had safely; the message is one line naming the setting to change."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the usual names of the local host."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def configured_token(admin: AdminConfig) -> str:
    """EVENT_AGENT_ADMIN__TOKEN, "" when unset."""
    return admin.token.get_secret_value() if admin.token else ""


def stored_token(path: Path) -> str:
    """The token saved in `path`, "" when there is no such file; OSError when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def load_or_create_token(settings: ApiSettings) -> str:
    """The admin token (see the module docstring); raises TokenUnavailable when it cannot be had safely."""
    configured = configured_token(settings.admin)
    if configured:
        return configured
    if not is_loopback(settings.admin.host):
        raise TokenUnavailable(f"EVENT_AGENT_ADMIN__HOST: {settings.admin.host} is not a loopback address; "
                               "set EVENT_AGENT_ADMIN__TOKEN to expose the admin API")
    return _token_file(Path(settings.state_dir) / TOKEN_FILE)


def _token_file(path: Path) -> str:
    try:
        existing = stored_token(path)
    except OSError as exc:
        raise TokenUnavailable(f"EVENT_AGENT_STATE_DIR: cannot read {path}: {exc.strerror}") from None
    if existing:
        return existing
    token = secrets.token_urlsafe(32)
    try:
        private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
        path.chmod(0o600)
    except OSError as exc:
        raise TokenUnavailable(f"EVENT_AGENT_STATE_DIR: cannot write {path}: {exc.strerror}") from None
    return token


def authorized(header: str | None, token: str) -> bool:
    """True when `header` is `Bearer <token>` (the scheme in any case); the comparison takes the same time
    whatever the header."""
    if not header or not token:
        return False
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != BEARER:
        return False
    return hmac.compare_digest(credentials.strip(" \t").encode("utf-8", "surrogateescape"), token.encode("utf-8"))


class Throttle:
    """Wrong tokens per client address within a sliding window (see the module docstring). Time is injected."""

    def __init__(self, clock: Callable[[], float], budget: int = FAILURE_BUDGET,
                 window: float = FAILURE_WINDOW_S) -> None:
        self._clock = clock
        self._budget = budget
        self._window = window
        self._failures: dict[str, deque[float]] = {}

    def _wait(self, recent: deque[float] | None, now: float) -> float:
        if recent is None or len(recent) < self._budget:
            return 0.0
        return max(0.0, recent[0] + self._window - now)

    def failed(self, client: str) -> float:
        """Count one wrong token from `client`; the seconds it must wait (0.0 while within its budget)."""
        now = self._clock()
        recent = self._failures.pop(client, None)
        over = self._wait(recent, now) > 0
        recent = recent if recent is not None else deque(maxlen=self._budget)
        recent.append(now)
        self._failures[client] = recent
        if len(self._failures) > MAX_CLIENTS:
            del self._failures[next(iter(self._failures))]
        return self._wait(recent, now) if over else 0.0


THROTTLE = web.AppKey("throttle", Throttle)


def _refused(request: web.Request) -> ApiError:
    """401 for a wrong or missing token; 429 once the client address has sent too many wrong ones."""
    # no token at all (a page that has not asked for it yet) is not a guess
    guessed = request.headers.get("Authorization") is not None
    wait = request.app[THROTTLE].failed(request.remote or "") if guessed else 0.0
    if wait > 0:
        return ApiError(429, "too many wrong tokens from this address",
                        [{"message": f"try again in {math.ceil(wait)} s with the right token"}],
                        headers={"Retry-After": str(math.ceil(wait))})
    return ApiError(401, "missing or wrong bearer token",
                    [{"message": "send the header 'Authorization: Bearer <token>'"}],
                    headers={"WWW-Authenticate": 'Bearer realm="event-agent"'})


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every path under /api/v1 (known or not) needs the bearer token; the rest is public."""
    path = request.path
    if (path == API_PREFIX or path.startswith(API_PREFIX + "/")) and not authorized(
        request.headers.get("Authorization"), deps(request).token
    ):
        raise _refused(request)
    return await handler(request)
