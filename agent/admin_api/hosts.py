"""The `Host` check: the admin API answers only to names it was told about (docs/security.md).

A DNS-rebinding page (`evil.example` first resolving to the attacker, then to 127.0.0.1) makes the browser send
requests to the agent with `Host: evil.example`. Accepted are: loopback names (`localhost`, ...), any IP address
written as such (a page at `http://192.0.2.7:8088` is the agent's own origin, not someone else's), the bind
address EVENT_AGENT_ADMIN__HOST, and the names in EVENT_AGENT_ADMIN__ALLOWED_HOSTS (a reverse proxy's public
name, the PBX's host name). A request without `Host` (HTTP/1.0, no browser sends one) is let through.
Anything else is a 421 in the error shape, before authentication.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from agent.admin_api.auth import is_loopback
from agent.admin_api.config import AdminConfig
from agent.admin_api.errors import ApiError
from agent.admin_api.routing import Handler, deps


def host_name(header: str) -> str:
    """The name of a `Host` header value: without the port, brackets or a trailing dot, in lower case."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    name, colon, port = value.rpartition(":")
    host = name if colon and port.isdigit() else value
    return host.rstrip(".")


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def allowed(header: str, admin: AdminConfig) -> bool:
    """True when a request with this `Host` may be answered (see the module docstring)."""
    name = host_name(header)
    if is_loopback(name) or _is_address(name) or name == admin.host.lower():
        return True
    return name in {configured.lower().rstrip(".") for configured in admin.allowed_hosts}


@web.middleware
async def host_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    header = request.headers.get("Host")
    if header is not None and not allowed(header, deps(request).settings.admin):
        raise ApiError(421, "this agent does not answer to that host name", [{
            "message": "use localhost or an IP address, or add the name to EVENT_AGENT_ADMIN__ALLOWED_HOSTS"}])
    return await handler(request)
