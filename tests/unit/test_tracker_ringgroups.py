"""Generated ring groups against docs/call-model.md: members with one or two contacts, direct or through Local.

Each example scripts one call with the header sets Asterisk sends (tests/support/pbx_script.py): the caller (an
extension or a trunk) rings 1-3 extensions, directly or through `Local/NNN@from-internal/n` halves; each extension
has one or two contacts (a PJSIP endpoint with several registrations gets one channel each). Every contact rings,
stays silent, is busy (486) or declines (603); then one contact answers, or the caller cancels, or the Dial times
out. Where the AMI does not order events across channels, the order varies too: a callee's Hangup before its
DialEnd, the caller's Hangup before or after its legs' CANCELs. The expected system events are derived from the call
model's rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.mapping.catalog import SystemEvent
from tests.support.pbx_script import Chan, Pbx

EARLY = {"busy": ("BUSY", "17", "486"), "decline": ("NOANSWER", "21", "603")}
QUIRKS = {
    "caller_up": "the caller is answered (Answer(), an IVR or a queue) before the Dial",
    "cancels_first": "the losers' CANCELs come before the winner's ANSWER (ring groups)",
    "dialstate_only": "ringing shows only as DialState RINGING, no Newstate 5",
    "twice": "every CANCEL is sent twice (app_queue)",
    "callee_hangs_up": "the answering callee hangs up first",
}


@dataclass(frozen=True)
class Contact:
    member: str
    fate: str  # ring | silent | busy | decline
    hangup_first: bool  # its Hangup comes before its DialEnd


@dataclass(frozen=True)
class Plan:
    trunk_caller: bool
    via_local: bool
    members: tuple[str, ...]
    contacts: tuple[Contact, ...]
    winner: int | None  # index into contacts (never an early one)
    ending: str  # cancel | timeout, when nobody answers
    caller_early: bool  # on cancel, the caller's Hangup comes before its legs' CANCELs
    quirks: frozenset[str] = frozenset()  # see QUIRKS

    def of(self, member: str) -> list[Contact]:
        return [contact for contact in self.contacts if contact.member == member]

    def pending(self, member: str) -> list[Contact]:
        return [contact for contact in self.of(member) if contact.fate not in EARLY]


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    members = tuple(draw(st.lists(st.sampled_from(["202", "203", "204"]), min_size=1, max_size=3, unique=True)))
    fates = st.sampled_from(["ring", "silent", "busy", "decline"])
    contacts = tuple(
        Contact(member, draw(fates), draw(st.booleans())) for member in members for _ in range(draw(st.integers(1, 2)))
    )
    can_answer = [n for n, contact in enumerate(contacts) if contact.fate not in EARLY]
    winner = draw(st.none() | st.sampled_from(can_answer)) if can_answer else None
    quirks = frozenset(draw(st.sets(st.sampled_from(sorted(QUIRKS)))))
    return Plan(draw(st.booleans()), draw(st.booleans()), members, contacts, winner,
                draw(st.sampled_from(["cancel", "timeout"])), draw(st.booleans()), quirks)  # fmt: skip


class Script:
    """Plays a plan on a scripted PBX."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.pbx = Pbx()
        name, did = ("PJSIP/trunk-00000001", "+15557770600") if plan.trunk_caller else ("PJSIP/201-00000001", "600")
        self.caller = self.pbx.channel(name, state=4, exten=did)
        self.halves: list[Chan] = []
        self.dialer: dict[str, Chan] = {}
        self.chans: list[Chan] = []

    def play(self) -> list[SystemEvent]:
        self.offer()
        self.pbx.wait(2)
        for contact, chan in zip(self.plan.contacts, self.chans, strict=True):
            if contact.fate in EARLY:
                self.end(contact, chan, *EARLY[contact.fate])
        if self.plan.winner is not None:
            self.answered(self.plan.winner)
        elif self.plan.ending == "cancel":
            self.cancelled()
        else:
            self.timed_out()
        for half in self.halves:
            self.pbx.hangup(half)
        return self.pbx.run()

    def offer(self) -> None:
        pbx, caller = self.pbx, self.caller
        if "caller_up" in self.plan.quirks:
            pbx.app(caller, "Answer", "")
            pbx.state(caller, 6)
        for member in self.plan.members:
            self.dialer[member] = caller
            if self.plan.via_local:
                one, two = pbx.local(f"{member}@from-internal", caller)
                pbx.dial_begin(caller, one, f"{member}@from-internal/n")
                self.halves += [one, two]
                self.dialer[member] = two
        for n, contact in enumerate(self.plan.contacts):
            chan = pbx.channel(f"PJSIP/{contact.member}-{n + 16:08x}", caller)
            pbx.dial_begin(self.dialer[contact.member], chan, contact.member)
            self.chans.append(chan)
        for contact, chan in zip(self.plan.contacts, self.chans, strict=True):
            if contact.fate == "ring" and "dialstate_only" in self.plan.quirks:
                chan.state = 5
                pbx.dial("DialState", self.dialer[contact.member], chan, DialStatus="RINGING")
            elif contact.fate == "ring":
                pbx.ringing(self.dialer[contact.member], chan)

    def end(self, contact: Contact, chan: Chan, status: str, cause: str, sip: str = "") -> None:
        """One contact's DialEnd and Hangup, in the order the plan says; a reject asks to hang up first."""
        if sip:
            self.pbx.request(chan, cause, sip)
        if contact.hangup_first:
            self.pbx.hangup(chan, cause)
        for _ in range(2 if status == "CANCEL" and "twice" in self.plan.quirks else 1):
            self.pbx.dial("DialEnd", self.dialer[contact.member], chan, DialStatus=status)
        if not contact.hangup_first:
            self.pbx.hangup(chan, cause)

    def still_dialed(self) -> list[tuple[Contact, Chan]]:
        return [(c, chan) for n, (c, chan) in enumerate(zip(self.plan.contacts, self.chans, strict=True))
                if c.fate not in EARLY and n != self.plan.winner]  # fmt: skip

    def answered(self, winner: int) -> None:
        pbx, contact, chan = self.pbx, self.plan.contacts[winner], self.chans[winner]
        first = "cancels_first" in self.plan.quirks
        for loser, loser_chan in self.still_dialed() if first else []:
            self.end(loser, loser_chan, "CANCEL", "26")
        pbx.answer(self.dialer[contact.member], chan)
        if self.plan.via_local:
            pbx.answer(self.caller, self.dialer[contact.member])
        for loser, loser_chan in [] if first else self.still_dialed():
            self.end(loser, loser_chan, "CANCEL", "26")
        pbx.wait(7)
        ends = [chan, self.caller] if "callee_hangs_up" in self.plan.quirks else [self.caller, chan]
        for party in ends:
            pbx.hangup(party)

    def cancelled(self) -> None:
        self.pbx.request(self.caller, "127")
        if self.plan.caller_early:
            self.caller_gone("CANCEL", "127")
        for contact, chan in self.still_dialed():
            self.end(contact, chan, "CANCEL", "127")
        if not self.plan.caller_early:
            self.caller_gone("CANCEL", "127")

    def timed_out(self) -> None:
        self.pbx.wait(20)
        for contact, chan in self.still_dialed():
            self.end(contact, chan, "NOANSWER", "0")
        self.caller_gone("NOANSWER", "16")

    def caller_gone(self, dialstatus: str, cause: str) -> None:
        self.pbx.var(self.caller, "DIALSTATUS", dialstatus)
        self.pbx.hangup(self.caller, cause)


Expected = list[tuple[str, str, str, str]]  # (event, extension, dial_status, hangup_by)


def expected(plan: Plan) -> Expected:
    """The system events the call model requires for the plan, in emission order."""
    want: Expected = [("call_incoming", member, "", "") for member in plan.members]
    want += [("ringing", m, "", "") for m in plan.members if any(c.fate == "ring" for c in plan.of(m))]
    winner = None if plan.winner is None else plan.contacts[plan.winner].member
    losers = [member for member in plan.members if member != winner]
    for member in losers:
        if not plan.pending(member):
            want.append(("call_hangup", member, EARLY[plan.of(member)[-1].fate][0], "callee"))
    for member in losers if winner is None else []:
        if plan.pending(member):
            status, by = ("CANCEL", "caller") if plan.ending == "cancel" else ("NOANSWER", "system")
            want.append(("call_hangup", member, status, by))
    want.append(("call_answered", winner, "", "") if winner else ("call_unanswered", plan.members[0], "", ""))
    return want


def observed(emitted: list[SystemEvent]) -> Expected:
    return [
        (item.name, item.params["extension"], *(
            (item.params["dial_status"], item.params["hangup_by"]) if item.name == "call_hangup" else ("", "")))
        for item in emitted
    ]  # fmt: skip


class TestGeneratedRingGroups:
    @settings(max_examples=300, deadline=None)
    @given(plans())
    def test_design_rules_hold(self, plan: Plan) -> None:
        """Given any generated ring group, when played, then exactly the events the call model gives, in order."""
        emitted = Script(plan).play()
        assert observed(emitted) == expected(plan)
        direction = "inbound" if plan.trunk_caller else "internal"
        assert {item.params["direction"] for item in emitted} == {direction}
        assert len({item.event_id for item in emitted}) == len(emitted)
        final = emitted[-1].params
        assert final["offered_extensions"] == ",".join(plan.members)
        if plan.winner is not None:
            who = "callee" if "callee_hangs_up" in plan.quirks else "caller"
            winner = plan.contacts[plan.winner].member
            assert (final["answered_extensions"], final["talk_duration"], final["hangup_by"]) == (winner, "7", who)
