"""The per-call state of the tracker: legs, trunk legs and what the completion event needs."""

from __future__ import annotations

from dataclasses import dataclass, field

HANGUP_STATUSES = frozenset({"BUSY", "NOANSWER", "CONGESTION", "CHANUNAVAIL"})
CALLEE_CAUSES = frozenset({"17", "21"})
ANSWERED_ELSEWHERE = "26"  # the cause Dial and Queue give the losing legs when another leg answered


@dataclass(slots=True)
class Leg:
    """One (call, destination extension) pair (docs/call-model.md).

    `dialing` holds the channels of this extension still being dialed: an endpoint with several contacts
    (desk phone and softphone) gets one channel each, and the leg ends only when the last of them ends.
    """

    extension: str
    channel: str
    offered_at: float
    answers_before: int = 0  # how many answers the call had when this leg was offered
    dialing: dict[str, None] = field(default_factory=dict)  # an ordered set, in DialBegin order
    ringing: bool = False
    answered_at: float | None = None
    ended_at: float | None = None
    dial_status: str = ""
    hangup_by: str = ""
    hangup_cause: str = ""
    hangup_sent: bool = False
    forwarded: bool = False

    @property
    def live_channel(self) -> str:
        """The channel the leg stands for now: the first contact still dialed, else the last one that ended."""
        return next(iter(self.dialing), self.channel)


@dataclass(slots=True)
class TrunkLeg:
    """A DialBegin to a trunk endpoint: never emits per-leg events, but makes a call outbound."""

    endpoint: str
    channel: str
    number: str
    answered_at: float | None = None
    dial_status: str = ""
    hangup_by: str = ""


def ended_by(status: str, cause: str) -> str:
    """hangup_by of a leg that ended unanswered (DESIGN §4): BUSY or a 17/21 request is the callee's doing."""
    if status == "BUSY" or cause in CALLEE_CAUSES:
        return "callee"
    return "caller" if status == "CANCEL" else "system"


@dataclass(slots=True)
class Call:
    """Every channel sharing one Linkedid, and what happened to them so far."""

    call_id: str
    created: float
    last_time: float
    channels: set[str] = field(default_factory=set)
    alive: set[str] = field(default_factory=set)
    alive_internal: set[str] = field(default_factory=set)
    had_party: bool = False
    caller: str = ""
    started: float | None = None
    originated: bool = False
    dialed: bool = False
    chain: set[str] = field(default_factory=set)
    legs: dict[str, Leg] = field(default_factory=dict)
    leg_by_channel: dict[str, str] = field(default_factory=dict)
    trunk_legs: dict[str, TrunkLeg] = field(default_factory=dict)
    answered: list[str] = field(default_factory=list)
    first_answer: float | None = None
    held: list[str] = field(default_factory=list)
    called_number: str = ""
    caller_extension: str = ""
    caller_name: str = ""
    trunk: str = ""
    queue: str = ""
    dialstatus: str = ""
    tenant: str = ""
    adopted: bool = False
    reconciled: bool = False
    seq: int = 0
    generation: int = 0
    answers: int = 0  # DialEnd ANSWERs so far (first one of each leg and trunk leg)

    @property
    def key(self) -> str:
        """The call id, made unique when this Linkedid already completed a call before (`id#n`)."""
        return f"{self.call_id}#{self.generation}" if self.generation else self.call_id

    @property
    def start(self) -> float:
        return self.created if self.started is None else self.started

    @property
    def has_trunk_leg(self) -> bool:
        return bool(self.trunk_legs)

    def first_trunk_answer(self) -> float | None:
        times = [leg.answered_at for leg in self.trunk_legs.values() if leg.answered_at is not None]
        return min(times) if times else None

    def answered_since(self, leg: Leg) -> bool:
        """A leg answered after `leg` was offered: a CANCEL of `leg` now means "answered elsewhere" (DESIGN §4).

        A leg offered after the call was answered (a transfer target) was not cancelled by that answer.
        """
        return self.answers > leg.answers_before

    def first_trunk_leg(self) -> TrunkLeg | None:
        return next(iter(self.trunk_legs.values()), None)

    def billed_trunk_leg(self) -> TrunkLeg | None:
        """The first trunk leg that answered (after a failover, not the failed first try), else the first one."""
        answered = (leg for leg in self.trunk_legs.values() if leg.answered_at is not None)
        return next(answered, None) or self.first_trunk_leg()

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq
