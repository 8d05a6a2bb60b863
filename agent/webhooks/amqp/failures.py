"""Plain words for what went wrong talking to a broker (docs/fleets.md). Pure.

Every text names the user, host, port and virtual host, never the password: `Address` does not keep it, and
text that comes from elsewhere (an exception) has the password masked before it is shown.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import quote

import aiormq.exceptions
from yarl import URL

DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671}
INVALID_URL = ("invalid broker URL: it needs amqp:// or amqps:// and a host (the URL is not shown: it may hold a "
               "secret)")
MASK = "***"


@dataclass(frozen=True, slots=True)
class Address:
    """A broker URL without its password: what messages and log lines may show."""

    user: str
    host: str
    port: int
    vhost: str

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.user}@{self.where} vhost '{self.vhost}'"


def parse_url(url: str) -> tuple[Address, str] | None:
    """The address and the password of a broker URL, or None when it is not an amqp(s) URL with a host.

    The virtual host is read as the client reads it: the path after the first `/`, with `%2F` meaning `/`, and
    `/` when the path is empty."""
    try:
        parsed = URL(url)
        port = parsed.port or DEFAULT_PORTS.get(parsed.scheme, 0)
    except (ValueError, TypeError):
        return None
    if parsed.scheme not in DEFAULT_PORTS or not parsed.host:
        return None
    vhost = "/" if parsed.path in ("", "/") else parsed.path[1:].replace("%2F", "/")
    return Address(parsed.user or "guest", parsed.host, port, vhost), parsed.password or ""


def mask(text: str, password: str) -> str:
    """`text` with the password (as written, or percent-encoded as in a URL) replaced by ***."""
    for form in {password, quote(password, safe="")}:
        if form:
            text = text.replace(form, MASK)
    return text


def _errno(exc: BaseException) -> int | None:
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, int) else None


def connect_failure(exc: BaseException, address: Address, password: str, timeout: float) -> str:
    """Why connecting to `address` failed, in plain words."""
    if isinstance(exc, aiormq.exceptions.ProbableAuthenticationError | aiormq.exceptions.AuthenticationError):
        return f"authentication failed for user '{address.user}' at {address.where}"
    if isinstance(exc, aiormq.exceptions.InvalidFrameError | aiormq.exceptions.ConnectionNotAllowed):
        return (f"user '{address.user}' may not open virtual host '{address.vhost}' at {address.where} (it does "
                "not exist, or the user has no permission there)")
    if isinstance(exc, TimeoutError):
        return f"no answer from {address.where} within {timeout:g} s"
    return _network_failure(exc, address, password)


def _network_failure(exc: BaseException, address: Address, password: str) -> str:
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host '{address.host}'"
    if isinstance(exc, ssl.SSLError):
        return mask(f"TLS with {address.where} failed: {exc.reason or exc}", password)
    code = _errno(exc)
    if code == errno.ECONNREFUSED:
        return f"connection refused by {address.where} (is the broker running and listening there?)"
    if code is not None:
        return f"cannot connect to {address.where}: {os.strerror(code)}"
    return mask(f"cannot connect to {address.where}: {exc or type(exc).__name__}", password)
