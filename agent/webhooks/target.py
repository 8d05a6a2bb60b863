"""Where a request goes: its URL checked when an action is saved or imported, and again before each attempt.

The same rules both times (docs/security.md, "Hostile input"): `http` or `https`, a host that is an IP address
or a DNS name (labels of letters, digits, `-` and `_`, at most 63 characters each; international names are
IDNA-encoded first), IPv6 addresses in brackets, a port from 1 to 65535. At save time the `{{tags}}` of the
scheme and host part stand for any valid value; at send time the rendered URL must pass as it is, or the
delivery fails for good with a message that does not show the URL (it may hold a secret).
"""

from __future__ import annotations

import ipaddress
import re

from yarl import URL

INVALID_URL = "the URL cannot be used: {reason} (the URL is not shown: it may hold a secret)"
_LABEL_RE = re.compile(r"(?!-)[A-Za-z0-9_\-]{1,63}(?<!-)")
MAX_HOST = 253
BAD_HOST = "the host is not a valid name or address"


def valid_host(host: str) -> bool:
    """True for an IP address or a DNS name (international names allowed)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    try:
        name = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = name.removesuffix(".").split(".")
    return len(name) <= MAX_HOST and all(_LABEL_RE.fullmatch(label) for label in labels)


def _problem(exc: ValueError | TypeError) -> str:
    """The reason, in our words: a library's message may quote the URL."""
    lowered = str(exc).lower()
    if isinstance(exc, UnicodeError):
        return BAD_HOST
    if "ipv6" in lowered:
        return "an IPv6 address must be written whole in brackets, e.g. [2001:db8::1]"
    if "port" in lowered:
        return "the port must be a number from 1 to 65535"
    return "it is malformed"


def _ascii_host(url: URL) -> URL:
    """`url` with an international host name IDNA-encoded (UnicodeError when it cannot be)."""
    raw = url.raw_host or ""
    return url if raw.isascii() else url.with_host(raw.encode("idna").decode("ascii"))


def parse_target(text: str) -> URL:
    """The URL of `text` (its path and query as they are: never re-encoded or normalised); ValueError with the
    reason in plain words, never the URL, when it cannot be used."""
    try:
        url = _ascii_host(URL(text, encoded=True))
        port, host = url.explicit_port, url.host
    except (ValueError, TypeError) as exc:
        raise ValueError(_problem(exc)) from None
    if url.scheme not in ("http", "https") or not host:
        raise ValueError("it needs http:// or https:// and a host")
    if port == 0:
        raise ValueError("the port must be a number from 1 to 65535")
    if not valid_host(host):
        raise ValueError(BAD_HOST)
    return url


def target(text: str) -> URL | str:
    """The URL to send a rendered request to, or the message of a final failure when it cannot be used."""
    try:
        return parse_target(text)
    except ValueError as exc:
        return INVALID_URL.format(reason=exc)
