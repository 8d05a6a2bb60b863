"""Channels as the tracker sees them: name parsing, party kind, and the per-channel state it keeps."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from agent.mapping.config import MappingConfig

UNKNOWN = "<unknown>"
# Technologies that are plumbing inside Asterisk, never a party of a call (Local is the common one);
# `Message/ast_msg_queue` runs the dialplan for SIP MESSAGE texts, which are no calls; UnicastRTP, AudioSocket
# and WebSocket carry a call's media to an ARI application (external media, transcription).
INTERNAL_TECHS = frozenset(
    {"local", "announcer", "cbann", "cbrec", "snoop", "recorder", "unicastrtp", "multicastrtp", "audiosocket",
     "websocket", "bridge", "message"}
)  # fmt: skip
STATE_RINGING = 5
STATE_UP = 6


class Kind(Enum):
    """What a channel is to the call model (docs/call-model.md, Endpoints)."""

    EXTENSION = "extension"
    TRUNK = "trunk"
    OTHER = "other"  # a real endpoint that TRUNK_PATTERN excludes: never a party
    INTERNAL = "internal"  # Local and other plumbing channels

    @property
    def is_party(self) -> bool:
        return self in (Kind.EXTENSION, Kind.TRUNK)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A channel name decoded: technology, endpoint, kind, and the extension number when it is one."""

    tech: str
    endpoint: str
    kind: Kind
    extension: str


@dataclass(slots=True)
class Channel:
    """One live channel (by Uniqueid) and what the tracker remembers about it."""

    uniqueid: str
    name: str
    linkedid: str
    where: Endpoint
    created: float
    exten: str
    context: str
    cid_num: str
    cid_name: str
    first_cid_name: str
    state: int
    hungup: bool = False
    hangup_cause: str = ""
    request_cause: str = ""
    hangup_order: int = 0
    partner: str = ""
    leg_call: str = ""
    dial_data: str = ""
    dialend_status: str = ""

    @property
    def kind(self) -> Kind:
        return self.where.kind

    @property
    def is_local_two(self) -> bool:
        return self.where.tech.lower() == "local" and self.name.endswith(";2")


def clean_callerid(value: str) -> str:
    """AMI prints unknown caller id values as `<unknown>`; we print them as ""."""
    return "" if value == UNKNOWN else value


def local_base(name: str) -> str:
    """`Local/204@ctx-00000000;1` -> `Local/204@ctx-00000000` (shared by both halves)."""
    return name.rsplit(";", 1)[0]


def classify(name: str, config: MappingConfig) -> Endpoint:
    """Decode `TECH/endpoint-suffix` and decide whether it is an extension, a trunk, or neither."""
    tech, _, rest = name.partition("/")
    if tech.lower() in INTERNAL_TECHS or not rest:
        return Endpoint(tech, local_base(rest), Kind.INTERNAL, "")
    endpoint = rest.rsplit("-", 1)[0] if "-" in rest else rest
    return endpoint_kind(tech, endpoint, config)


def endpoint_kind(tech: str, endpoint: str, config: MappingConfig) -> Endpoint:
    """Classify a bare endpoint name by EXTENSION_MAP / EXTENSION_PATTERN / TRUNK_PATTERN."""
    if endpoint in config.extension_map:
        return Endpoint(tech, endpoint, Kind.EXTENSION, config.extension_map[endpoint])
    if config.extension_pattern.search(endpoint):
        return Endpoint(tech, endpoint, Kind.EXTENSION, endpoint)
    if config.trunk_pattern is None or config.trunk_pattern.search(endpoint):
        return Endpoint(tech, endpoint, Kind.TRUNK, "")
    return Endpoint(tech, endpoint, Kind.OTHER, "")


def dial_targets(data: str) -> list[tuple[str, str]]:
    """The (tech, resource) pairs of a Dial application's data: `PJSIP/202&PJSIP/203,20` -> two pairs."""
    devices = data.split(",", 1)[0]
    pairs = []
    for device in devices.split("&"):
        tech, sep, resource = device.strip().partition("/")
        if sep and resource:
            pairs.append((tech, resource))
    return pairs


def target_endpoint(resource: str) -> str:
    """The endpoint a Dial resource reaches: `202` -> 202, `num@trunk` (PJSIP) -> trunk, `peer/num` -> peer.

    IAX2 may name the peer as `user[:secret]@peer[:port]/num`: the peer is after the `@`, without the port.
    """
    head, slash, _ = resource.partition("/")
    endpoint = head.rsplit("@", 1)[-1]
    return endpoint.split(":", 1)[0] if slash else endpoint


def dialed_number(dial_string: str) -> str:
    """The number sent to a trunk: `num@trunk` (PJSIP), else what follows the peer in `peer/num`.

    Forms: `15551239876@trunk`, `trunk/sip:num@host` (PJSIP), `peer/num` (SIP), `[user[:secret]@]peer/num[@ctx]`
    (IAX2: the credentials before the `/` are never part of the number), `sip:num@host`.
    """
    _, slash, rest = dial_string.partition("/")
    head = rest if slash else dial_string
    for scheme in ("sip:", "sips:", "tel:"):
        if head.startswith(scheme):
            head = head[len(scheme) :]
            break
    return re.split("[@/]", head, maxsplit=1)[0]


def trunk_number(dial_data: str, config: MappingConfig) -> str:
    """The number a Dial sends to a trunk, from its data (`PJSIP/15551239876@trunk,30` -> 15551239876), or ""."""
    for tech, resource in dial_targets(dial_data):
        if endpoint_kind(tech, target_endpoint(resource), config).kind is Kind.TRUNK:
            return dialed_number(resource)
    return ""
