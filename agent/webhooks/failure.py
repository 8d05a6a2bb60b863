"""What went wrong with an HTTP attempt, in words an administrator understands (docs/delivery.md). Pure.

aiohttp's exception texts carry the whole URL (query string included, so secret parameters and api keys) and
Python reprs (`ClientConnectorError ... ssl:default [...]`). An attempt's message is built here from the kind of
failure, the receiver's host and port and the timeouts instead, never from the exception's text; the only
words taken from it are the reason an HTTP parser gives (`bad status line`), and the sender still redacts every
message.
"""

from __future__ import annotations

import errno
import ssl
from collections.abc import Callable
from typing import Any

import aiohttp
from yarl import URL

from agent.webhooks.target import INVALID_URL

REASON_LIMIT = 80


def where(url: URL) -> str:
    """`host:port` of the receiver, `[v6]:port` for an IPv6 address."""
    host = url.host or "?"
    return f"[{host}]:{url.port}" if ":" in host else f"{host}:{url.port}"


def _reason(text: str) -> str:
    """The first line of a parser's message, without its trailing colon, lower case first, cut short."""
    line = (text.strip().splitlines() or [""])[0].strip().rstrip(":").strip()
    line = line[:1].lower() + line[1:]
    return line if len(line) <= REASON_LIMIT else line[: REASON_LIMIT - 1] + "…"


def _os_reason(error: OSError | None) -> str:
    if error is None:
        return "no reason given"
    if error.errno is not None and error.errno in errno.errorcode:
        return (error.strerror or errno.errorcode[error.errno]).lower()
    return type(error).__name__


def _connect_failure(exc: aiohttp.ClientConnectorError, at: str) -> str:
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot find the receiver's host {exc.host!r} (DNS: {_os_reason(exc.os_error)})"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        error = exc.certificate_error
        detail = error.verify_message if isinstance(error, ssl.SSLCertVerificationError) else "not trusted"
        return f"the TLS certificate of {at} was refused ({detail})"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"the TLS handshake with {at} failed"
    if isinstance(exc.os_error, ConnectionRefusedError):
        return f"connection refused by {at}"
    return f"cannot connect to {at} ({_os_reason(exc.os_error)})"


Words = Callable[[Any, str, aiohttp.ClientTimeout], str]

# the first kind an exception is an instance of gives its words (subclasses before their bases)
_WORDS: tuple[tuple[type[BaseException], Words], ...] = (
    (aiohttp.ConnectionTimeoutError, lambda _, at, limits: f"no connection to {at} within {limits.connect:g} s"),
    (TimeoutError, lambda _, at, limits: f"timed out after {limits.total:g} s"),
    (aiohttp.ClientConnectorError, lambda exc, at, _: _connect_failure(exc, at)),
    (aiohttp.ServerDisconnectedError, lambda _, at, __: f"{at} closed the connection without answering"),
    (aiohttp.ClientResponseError,
     lambda exc, _, __: f"the receiver answered something that is not HTTP ({_reason(exc.message)})"),
    (aiohttp.ClientPayloadError, lambda exc, _, __: f"the receiver's answer broke off ({_reason(str(exc))})"),
    (ValueError, lambda _, __, ___: INVALID_URL.format(reason="it is malformed")),  # InvalidURL, IDNA refusal
    (OSError, lambda exc, at, _: f"the connection to {at} failed ({_os_reason(exc)})"),
)


def describe(exc: BaseException, url: URL, timeout: aiohttp.ClientTimeout) -> str:
    """One line for a failed attempt to `url` (no answer, or an answer that is not HTTP)."""
    at = where(url)
    for kind, words in _WORDS:
        if isinstance(exc, kind):
            return words(exc, at, timeout)
    return f"the request failed ({type(exc).__name__})"
