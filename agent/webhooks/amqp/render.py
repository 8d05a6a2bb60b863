"""Building the AMQP message of an action from a system event (docs/fleets.md). Pure: no I/O, never raises.

Encoding rules (docs/fleets.md, "Routing keys"):
- URL (`amqp://user:password@host:port/vhost`): values substituted into the user, the password, the vhost and
  the query are percent-encoded (a password may hold `@`, `:` or `/`), values in the host and port are
  substituted as they are, minus whitespace and control characters. Text written in the template is kept as
  written, so a vhost written `%2F` stays `%2F`.
- Routing key (default `{{tenant}}.{{event}}`): an empty `tenant` is written `default`. Values come from the PBX,
  so they are data, never structure: in each value `%`, `.`, `*`, `#`, whitespace and control characters are
  percent-encoded (`acme.eu` -> `acme%2Eeu`, UTF-8 bytes, upper-case hex). A value can therefore neither add a
  word to the key (and land in another tenant's queue) nor look like a wildcard, and `%` decoding gives it back.
- Body: empty means a JSON object of every parameter of the system event (docs/events.md), keys sorted; custom
  parameters (secret ones among them) appear only where a body template names them. A body template is JSON:
  each value is JSON-string-escaped, so it goes between quotes (`{"from": "{{caller_id}}"}`).
- Properties: `message_id` = `event_id`, `timestamp` = `unix_time`, headers `event` and `call_id`,
  `content_type` `application/json`, persistent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import quote

from agent.webhooks.request import CONTROL_RE, SCHEME_RE, clean_text, json_escape, split_authority
from agent.webhooks.template import substitute

DEFAULT_ROUTING_KEY = "{{tenant}}.{{event}}"
DEFAULT_TENANT = "default"
CONTENT_TYPE = "application/json"
PERSISTENT = 2  # AMQP delivery mode: written to disk by the broker (on durable queues)
NAME_LIMIT = 255  # bytes: AMQP short strings (routing keys, exchange names)
EXCHANGE_RE = re.compile(r"[A-Za-z0-9_.:\-]+")  # the names RabbitMQ accepts
_ROUTING_SPECIAL_RE = re.compile(r"[%.*#\s\x00-\x1f\x7f-\x9f\u2028\u2029]")
_HOST_JUNK_RE = re.compile(r"\s+|" + CONTROL_RE.pattern)
NO_CUSTOM: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class AmqpTarget:
    """Where and what an AMQP action publishes, as saved (templates not substituted)."""

    url: str
    exchange: str
    routing_key: str = DEFAULT_ROUTING_KEY
    body: str = ""  # empty: a JSON object of every event parameter


@dataclass(frozen=True, slots=True)
class AmqpMessage:
    """One rendered message: where it goes (url, exchange, routing key), its body and its properties."""

    url: str
    exchange: str
    routing_key: str
    body: bytes
    message_id: str
    timestamp: int | None
    headers: tuple[tuple[str, str], ...]
    content_type: str = CONTENT_TYPE

    def properties(self) -> dict[str, object]:
        """The AMQP basic properties as sent (for a dry run, and the publisher's message)."""
        return {"content_type": self.content_type, "delivery_mode": PERSISTENT, "message_id": self.message_id,
                "timestamp": self.timestamp, "headers": dict(self.headers)}


def _percent(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode())


def routing_word(value: str) -> str:
    """`value` as part of one routing-key word: `%`, `.`, `*`, `#`, whitespace and controls percent-encoded."""
    return _ROUTING_SPECIAL_RE.sub(_percent, clean_text(value))


def render_routing_key(template: str, values: Mapping[str, str]) -> str:
    """The routing key: `template` with each value encoded as data, an empty tenant written `default`."""
    tenant = values.get("tenant", "") or DEFAULT_TENANT
    return substitute(clean_text(template or DEFAULT_ROUTING_KEY), {**values, "tenant": tenant}, routing_word)


def _quote_all(value: str) -> str:
    return quote(value, safe="")


def _host(value: str) -> str:
    return _HOST_JUNK_RE.sub("", value)


def render_url(template: str, values: Mapping[str, str]) -> str:
    """The broker URL: user, password, vhost and query values percent-encoded, host and port values cleaned."""
    head, tail = split_authority(clean_text(template))
    scheme = SCHEME_RE.match(head)
    start = scheme.end() if scheme else 0
    userinfo, at, hostport = head[start:].rpartition("@")
    return (head[:start] + substitute(userinfo, values, _quote_all) + at + substitute(hostport, values, _host)
            + substitute(tail, values, _quote_all))


def render_body(template: str, params: Mapping[str, str], values: Mapping[str, str]) -> bytes:
    """The body: the event's parameters as a JSON object, or `template` with JSON-escaped values."""
    if not template:
        return json.dumps({key: clean_text(value) for key, value in params.items()}, ensure_ascii=False,
                          sort_keys=True).encode()
    return substitute(clean_text(template), values, json_escape).encode()


def _timestamp(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def render_message(target: AmqpTarget, params: Mapping[str, str],
                   custom: Mapping[str, str] = NO_CUSTOM) -> AmqpMessage:
    """The message of `target` for a system event with parameters `params` (docs/events.md) and the custom
    parameter values `custom` (a custom parameter never overrides an event parameter)."""
    values = {**custom, **params}
    return AmqpMessage(
        url=render_url(target.url, values),
        exchange=target.exchange,
        routing_key=render_routing_key(target.routing_key, values),
        body=render_body(target.body, params, values),
        message_id=clean_text(params.get("event_id", "")),
        timestamp=_timestamp(params.get("unix_time", "")),
        headers=(("event", clean_text(params.get("event", ""))), ("call_id", clean_text(params.get("call_id", "")))),
    )


def exchange_problem(name: str) -> str | None:
    """Why `name` cannot be an action's exchange, or None: RabbitMQ's name characters, at most 255 bytes, not
    the default exchange (empty) and not a reserved `amq.` name (those cannot be declared)."""
    if not name:
        return "an exchange name is required (the default exchange routes by queue name, not by topic)"
    if len(name) > NAME_LIMIT or not EXCHANGE_RE.fullmatch(name):
        return "an exchange name has 1 to 255 of the characters A-Z a-z 0-9 _ . : -"
    if name.startswith("amq."):
        return "names starting with 'amq.' are reserved by the broker"
    return None
