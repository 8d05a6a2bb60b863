"""Review of the tracker against real-world flows (docs/call-model.md): how legs end.

Unregistered extensions (CHANUNAVAIL without a channel), 603 declines, cause 26 "answered elsewhere", FreePBX
queues with Local members retried, 302 forwards. Scripted with tests/support/pbx_script.py.
"""

from __future__ import annotations

import re

from agent.mapping.config import MappingConfig
from tests.support.pbx_script import Pbx, last, names

UNANSWERED = "call_unanswered"
ANSWERED = "call_answered"


class TestUnavailable:
    def test_unregistered_extension_then_voicemail(self) -> None:
        """Given Dial(PJSIP/209) to an unregistered 209 (no DialBegin), then call_incoming + call_hangup CHANUNAVAIL.

        §3: a Dial that failed before a channel existed (Newexten Dial + VarSet DIALSTATUS=CHANUNAVAIL) offers
        the leg; §4: CHANUNAVAIL is a call_hangup, hangup_by system. The call then completes unanswered.
        """
        pbx = Pbx()
        a = pbx.channel("PJSIP/201-00000001", state=4, exten="209")
        pbx.app(a, "Dial", "PJSIP/209,20")
        pbx.var(a, "DIALSTATUS", "CHANUNAVAIL")
        pbx.app(a, "VoiceMail", "209@default,u")
        pbx.state(a, 6)
        pbx.wait(5)
        pbx.hangup(a)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "209"), ("call_hangup", "209"), (UNANSWERED, "209")]
        hangup = last(emitted, "call_hangup")
        assert (hangup["dial_status"], hangup["hangup_by"]) == ("CHANUNAVAIL", "system")

    def test_unregistered_member_of_a_local_ring_group(self) -> None:
        """Given a ring group via Local channels where 209 is unregistered and 202 answers, then 209 fails, 202 wins.

        The failed Dial runs on the `;2` half (macro-dial-one); the extension it names had no DialBegin in this
        call, so it is offered and fails (§3), even though the call is answered by another member later.
        """
        pbx = Pbx()
        a = pbx.channel("PJSIP/201-00000001", state=4, exten="600")
        one_x, two_x = pbx.local("209@from-internal", a)
        one_b, two_b = pbx.local("202@from-internal", a)
        pbx.dial_begin(a, one_x, "209@from-internal/n")
        pbx.dial_begin(a, one_b, "202@from-internal/n")
        pbx.app(two_x, "Dial", "PJSIP/209,20")
        pbx.var(two_x, "DIALSTATUS", "CHANUNAVAIL")
        pbx.hangup(two_x, "3")
        pbx.dial("DialEnd", a, one_x, DialStatus="CHANUNAVAIL")
        pbx.hangup(one_x, "3")
        b = pbx.channel("PJSIP/202-00000006", a)
        pbx.dial_begin(two_b, b, "202")
        pbx.ringing(two_b, b)
        pbx.wait(2)
        pbx.answer(two_b, b)
        pbx.answer(a, one_b)
        pbx.wait(5)
        for chan in (b, two_b, one_b, a):
            pbx.hangup(chan)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "209"), ("call_hangup", "209"), ("call_incoming", "202"),
                                  ("ringing", "202"), (ANSWERED, "202")]  # fmt: skip


class TestDecline:
    def script(self, request_first: bool) -> Pbx:
        pbx = Pbx()
        a, (b,) = pbx.offer()
        pbx.wait(3)
        if request_first:
            pbx.request(b, "21", "603")
        pbx.dial("DialEnd", a, b, DialStatus="NOANSWER")
        pbx.hangup(b, "21")
        pbx.hangup(a)
        return pbx

    def test_603_is_a_callee_hangup(self) -> None:
        """Given 202 declines with 603 (HangupRequest cause 21, then DialEnd NOANSWER), then hangup_by callee.

        §4: dial_status is Asterisk's (NOANSWER for 603); hangup_by is callee when the destination's
        HangupRequest cause, before the DialEnd, is 17 or 21.
        """
        emitted = self.script(request_first=True).run()
        hangup = last(emitted, "call_hangup")
        assert (hangup["dial_status"], hangup["hangup_cause"], hangup["hangup_by"]) == ("NOANSWER", "21", "callee")

    def test_cause_after_the_dialend_is_not_awaited(self) -> None:
        """Given DialEnd NOANSWER before any cause of 202 (Hangup 21 only after), then hangup_by system.

        §4: "a Hangup cause arriving after the DialEnd is not awaited": the event is emitted at the DialEnd.
        """
        emitted = self.script(request_first=False).run()
        hangup = last(emitted, "call_hangup")
        assert (hangup["dial_status"], hangup["hangup_by"]) == ("NOANSWER", "system")


class TestAnsweredElsewhere:
    def test_cause_26_cancel_when_a_non_party_answers(self) -> None:
        """Given a ring group 202 & reception (no party under TRUNK_PATTERN), when reception answers, no call_hangup.

        §4: no call_hangup for a CANCEL because another leg answered (cause 26). That holds even when the
        answering channel is no party of ours (an endpoint TRUNK_PATTERN leaves out): 202's channel ends with
        cause 26 "Answered elsewhere". No extension or trunk leg answered, so the call completes unanswered.
        """
        pbx = Pbx(MappingConfig(trunk_pattern=re.compile(r"^carrier")))
        a = pbx.channel("PJSIP/carrier-00000001", state=4, exten="+15557770100", context="from-trunk")
        b = pbx.channel("PJSIP/202-00000002", a)
        r = pbx.channel("PJSIP/reception-00000003", a)
        pbx.dial_begin(a, b, "202")
        pbx.dial_begin(a, r, "reception")
        pbx.ringing(a, b)
        pbx.ringing(a, r)
        pbx.wait(4)
        pbx.answer(a, r)
        pbx.dial("DialEnd", a, b, DialStatus="CANCEL")
        pbx.hangup(b, "26")
        pbx.wait(30)
        pbx.hangup(r)
        pbx.hangup(a)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "202"), ("ringing", "202"), (UNANSWERED, "202")]
        assert last(emitted, UNANSWERED)["direction"] == "inbound"

    def test_cause_26_hangup_before_a_missing_dialend(self) -> None:
        """Given 202's channel hung up with cause 26 and its DialEnd never seen, then no call_hangup at completion.

        A leg whose DialEnd never came ends unanswered at completion, unless its channel says another leg
        answered (cause 26): then it is not a call_hangup (§4), whoever answered.
        """
        pbx = Pbx(MappingConfig(trunk_pattern=re.compile(r"^carrier")))
        a = pbx.channel("PJSIP/carrier-00000001", state=4, exten="+15557770100", context="from-trunk")
        b = pbx.channel("PJSIP/202-00000002", a)
        pbx.dial_begin(a, b, "202")
        pbx.ringing(a, b)
        pbx.wait(4)
        pbx.hangup(b, "26")
        pbx.wait(30)
        pbx.hangup(a)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "202"), ("ringing", "202"), (UNANSWERED, "202")]


class TestQueueWithLocalMembers:
    def test_member_retried_then_answers(self) -> None:
        """Given a FreePBX queue (member Local/204@from-queue/n) whose first ring times out and the retry answers.

        The caller is Up (Answer before Queue) but not answered (§4). The first attempt's inner DialEnd CANCEL
        (app_queue hung up the Local half) is held and dropped when the retried leg answers (§4); the retry is
        the same (call, extension) leg, so call_incoming and ringing come once; `queue` names the queue.
        """
        pbx = Pbx()
        t = pbx.channel("PJSIP/trunk-00000001", state=4, exten="+15557770400", context="from-trunk")
        pbx.app(t, "Answer", "")
        pbx.state(t, 6)
        pbx.emit("QueueCallerJoin", **t.block(), Queue="400", Position="1", Count="1")
        members = []
        for attempt in range(2):
            one, two = pbx.local("204@from-queue", t)
            pbx.emit("AgentCalled", **t.block(), **one.block("Dest"), Queue="400", Interface="Local/204@from-queue/n")
            pbx.dial_begin(t, one, "204@from-queue/n")
            member = pbx.channel(f"PJSIP/204-0000001{attempt}", t)
            pbx.dial_begin(two, member, "204")
            pbx.ringing(two, member)
            members.append((one, two, member))
            if attempt == 0:
                pbx.wait(15)
                pbx.dial("DialEnd", t, one, DialStatus="NOANSWER")
                pbx.hangup(one, "16")
                pbx.dial("DialEnd", two, member, DialStatus="CANCEL")
                pbx.hangup(member, "0")
                pbx.hangup(two, "16")
                pbx.wait(5)
        one, two, member = members[1]
        pbx.wait(3)
        pbx.answer(two, member)
        pbx.answer(t, one)
        pbx.wait(60)
        for chan in (member, two, one, t):
            pbx.hangup(chan)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "204"), ("ringing", "204"), (ANSWERED, "204")]
        done = last(emitted, ANSWERED)
        assert (done["queue"], done["direction"], done["talk_duration"]) == ("400", "inbound", "60")


class TestForward:
    def test_302_to_an_extension_that_does_not_answer(self) -> None:
        """Given 202 forwards (302) to 205 and 205 times out, then no call_hangup for 202, one for 205.

        §3: a leg that ends CANCEL with a `Forward:` header emits nothing more; the target is offered by its own
        DialBegin. call_unanswered names the first offered extension (202).
        """
        pbx = Pbx()
        a, (b,) = pbx.offer()
        pbx.wait(2)
        pbx.dial("DialEnd", a, b, DialStatus="CANCEL", Forward="PJSIP/205")
        pbx.hangup(b)
        e = pbx.channel("PJSIP/205-00000003", a)
        pbx.dial_begin(a, e, "PJSIP/205")
        pbx.ringing(a, e)
        pbx.wait(18)
        pbx.dial("DialEnd", a, e, DialStatus="NOANSWER")
        pbx.hangup(e, "0")
        pbx.hangup(a)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "202"), ("ringing", "202"), ("call_incoming", "205"),
                                  ("ringing", "205"), ("call_hangup", "205"), (UNANSWERED, "202")]  # fmt: skip
        done = last(emitted, UNANSWERED)
        assert done["offered_extensions"] == "202,205"


class TestTransferTargetCancelled:
    def script(self, caller_first: bool) -> Pbx:
        """201 calls 202 (answered); 202 blind-transfers 201 to 203; 203 rings; 201 hangs up before 203 answers."""
        pbx = Pbx()
        a, (b,) = pbx.offer()
        pbx.answer(a, b)
        pbx.wait(30)
        pbx.emit("BlindTransfer", Result="Success", **b.block("Transferer"), **a.block("Transferee"),
                 IsExternal="No", Context="from-internal", Extension="203")  # fmt: skip
        pbx.hangup(b)
        a.exten = "203"
        c = pbx.channel("PJSIP/203-00000003", a)
        pbx.dial_begin(a, c, "203")
        pbx.ringing(a, c)
        pbx.wait(6)
        pbx.request(a, "16")
        if caller_first:
            pbx.hangup(a)
        pbx.dial("DialEnd", a, c, DialStatus="CANCEL")
        pbx.hangup(c, "16")
        if not caller_first:
            pbx.hangup(a)
        return pbx

    def test_caller_hangs_up_while_the_target_rings(self) -> None:
        """Given a blind-transfer target still ringing when the caller hangs up, then call_hangup for it.

        §4: call_hangup for a CANCEL because the caller hung up; not for one because another leg answered.
        202 answered before 203 was even offered, so 203's CANCEL is not "answered elsewhere" (its channel
        ends with cause 16, not 26): 203 gets its call_hangup (hangup_by caller), held until the caller's
        Hangup when that comes later. The call completes answered by 202.
        """
        for caller_first in (True, False):
            emitted = self.script(caller_first).run()
            assert names(emitted) == [("call_incoming", "202"), ("ringing", "202"), ("call_incoming", "203"),
                                      ("ringing", "203"), ("call_hangup", "203"), (ANSWERED, "202")]  # fmt: skip
            hangup = last(emitted, "call_hangup")
            assert (hangup["dial_status"], hangup["hangup_by"]) == ("CANCEL", "caller")
