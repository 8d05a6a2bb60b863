"""The per-call state of the tracker: legs and trunk legs as the AMI events left them (docs/call-model.md).

Only what the events said is kept here; what it adds up to (answered or not, by whom, the durations) is
computed in one place, agent/mapping/outcome.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The DialStatus values that end a leg unanswered with a call_hangup (docs/call-model.md, DIALSTATUS outcomes).
HANGUP_STATUSES = frozenset({"BUSY", "NOANSWER", "CONGESTION", "CHANUNAVAIL", "DONTCALL", "TORTURE"})
# The statuses a callee refuses the call with: privacy screening (DONTCALL, TORTURE) and BUSY.
CALLEE_STATUSES = frozenset({"BUSY", "DONTCALL", "TORTURE"})
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
    answer_inferred: bool = False  # answered_at is only the resync moment that found the channel Up
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

    @property
    def unresolved(self) -> bool:
        """Offered, and so far neither answered, ended nor forwarded."""
        return self.answered_at is None and self.ended_at is None and not self.forwarded and not self.hangup_sent


@dataclass(slots=True)
class TrunkLeg:
    """A DialBegin to a trunk endpoint: never emits per-leg events, but makes a call outbound."""

    endpoint: str
    channel: str
    number: str
    answered_at: float | None = None
    answer_inferred: bool = False  # answered_at is only the resync moment that found the channel Up
    dial_status: str = ""
    hangup_by: str = ""


def ended_by(status: str, cause: str) -> str:
    """hangup_by of a leg that ended unanswered: the callee refused (BUSY, privacy) or asked with cause 17/21."""
    if status in CALLEE_STATUSES or cause in CALLEE_CAUSES:
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
    start: float = 0.0  # the caller's first event (book.call_for sets the first sight, set_caller the caller's)
    originated: bool = False
    dialed: bool = False
    chain: set[str] = field(default_factory=set)
    legs: dict[str, Leg] = field(default_factory=dict)
    leg_by_channel: dict[str, str] = field(default_factory=dict)
    trunk_legs: dict[str, TrunkLeg] = field(default_factory=dict)
    held: list[str] = field(default_factory=list)
    called_number: str = ""
    trunk: str = ""
    queue: str = ""
    dialstatus: str = ""
    tenant: str = ""
    adopted: bool = False
    reconciled: bool = False
    gap: bool = False  # lived through a resync: events of it may be missing (docs/call-model.md, Reconnects)
    caller_cdr: bool = False  # a Cdr of the caller's arrived (Asterisk posts them in one burst)
    ended_at: float | None = None  # complete, waiting for its Cdr since this moment
    seq: int = 0
    generation: int = 0
    answers: int = 0  # DialEnd ANSWERs so far (first one of each leg and trunk leg)

    @property
    def key(self) -> str:
        """The call id, made unique when this Linkedid already completed a call before (`id#n`)."""
        return f"{self.call_id}#{self.generation}" if self.generation else self.call_id

    def answered_since(self, leg: Leg) -> bool:
        """A leg answered after `leg` was offered: a CANCEL of `leg` now means "answered elsewhere".

        A leg offered after the call was answered (a transfer target) was not cancelled by that answer.
        """
        return self.answers > leg.answers_before

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq
