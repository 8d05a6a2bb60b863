"""The admin token: where it comes from, and the bearer check on /api/v1.

The token is `EVENT_AGENT_ADMIN__TOKEN` when set, else the content of `STATE_DIR/admin-token`, created on first
start with a random value and mode 0600. Binding the admin API to a non-loopback address without a configured
token is refused (SettingsError, exit status 78): a token sitting in a file is fine for a local page, not for
a network service.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from aiohttp import web

from agent.admin_api.errors import ApiError
from agent.admin_api.routing import API_PREFIX, Handler, deps
from agent.settings import Settings, SettingsError

TOKEN_FILE = "admin-token"  # noqa: S105 (a file name, not a secret)
BEARER = "Bearer "
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the usual names of the local host."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def configured_token(settings: Settings) -> str:
    """EVENT_AGENT_ADMIN__TOKEN, "" when unset."""
    return settings.admin.token.get_secret_value() if settings.admin.token else ""


def stored_token(path: Path) -> str:
    """The token saved in `path`, "" when there is no such file; OSError when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def load_or_create_token(settings: Settings) -> str:
    """The admin token (see the module docstring); raises SettingsError when it cannot be had safely."""
    configured = configured_token(settings)
    if configured:
        return configured
    if not is_loopback(settings.admin.host):
        raise SettingsError(
            [f"EVENT_AGENT_ADMIN__HOST: {settings.admin.host} is not a loopback address; "
             "set EVENT_AGENT_ADMIN__TOKEN to expose the admin API"]
        )
    return _token_file(Path(settings.state_dir) / TOKEN_FILE)


def _token_file(path: Path) -> str:
    try:
        existing = stored_token(path)
    except OSError as exc:
        raise SettingsError([f"EVENT_AGENT_STATE_DIR: cannot read {path}: {exc.strerror}"]) from None
    if existing:
        return existing
    token = secrets.token_urlsafe(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
        path.chmod(0o600)
    except OSError as exc:
        raise SettingsError([f"EVENT_AGENT_STATE_DIR: cannot write {path}: {exc.strerror}"]) from None
    return token


def authorized(header: str | None, token: str) -> bool:
    """True when `header` is `Bearer <token>`; the comparison takes the same time whatever the header."""
    if not header or not header.startswith(BEARER) or not token:
        return False
    given = header[len(BEARER):].strip().encode("utf-8")
    return hmac.compare_digest(given, token.encode("utf-8"))


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every path under /api/v1 (known or not) needs the bearer token; the rest is public."""
    path = request.path
    if (path == API_PREFIX or path.startswith(API_PREFIX + "/")) and not authorized(
        request.headers.get("Authorization"), deps(request).token
    ):
        raise ApiError(401, "missing or wrong bearer token",
                       [{"message": "send the header 'Authorization: Bearer <token>'"}])
    return await handler(request)
