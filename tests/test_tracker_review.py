"""Review of the tracker against real-world flows the golden traces do not contain (DESIGN.md §3-§4).

Each test scripts a short event sequence with the header sets Asterisk 22 sends (tests/pbx_script.py) and
asserts what DESIGN.md requires, with the reasoning in the docstring. Flows: multi-contact endpoints, FreePBX
Local ring groups (`/n`), voicemail after no answer, IVR, ConfBridge, parking, unregistered extensions, 603,
chan_sip/IAX2 names and dial strings, digit-named trunks, follow-me to a mobile, trunk failover, unanswered
outbound calls, cause 26, SIP MESSAGE and external-media channels, calls outliving their caller, a Linkedid
seen again, FreePBX queues, consults to a mobile, Originate, 302 forwards, and resync races.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType

import pytest

from agent.mapping.channels import dialed_number, target_endpoint
from agent.mapping.config import MappingConfig
from agent.mapping.tracker import CallTracker
from tests.pbx_script import T0, Chan, Pbx, last, names

UNANSWERED = "call_unanswered"
ANSWERED = "call_answered"


class TestMultiContactEndpoint:
    def test_one_contact_rejects_while_another_answers(self) -> None:
        """Given 202 registered twice, when one contact sends 486 and the other answers, then no call_hangup.

        A PJSIP endpoint with max_contacts > 1 (desk phone + softphone) makes Dial create one channel per
        contact, all of endpoint 202. A leg is the (call, extension) pair (§3), so it ends only when its last
        channel ends; while the other contact still rings, a 486 on one of them does not end the leg.
        """
        pbx = Pbx()
        a = pbx.channel("PJSIP/201-00000001", state=4, exten="202")
        desk = pbx.channel("PJSIP/202-00000002", a)
        soft = pbx.channel("PJSIP/202-00000003", a)
        pbx.dial_begin(a, desk, "202")
        pbx.dial_begin(a, soft, "202")
        pbx.ringing(a, desk)
        pbx.ringing(a, soft)
        pbx.wait(2)
        pbx.request(desk, "17", "486")
        pbx.dial("DialEnd", a, desk, DialStatus="BUSY")
        pbx.hangup(desk, "17")
        pbx.wait(1)
        pbx.answer(a, soft)
        pbx.wait(5)
        pbx.hangup(a)
        pbx.hangup(soft)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "202"), ("ringing", "202"), (ANSWERED, "202")]

    def test_all_contacts_time_out(self) -> None:
        """Given 202 registered twice, when both contacts time out, then one call_hangup after the last DialEnd.

        call_hangup is once per (call, extension) (§4) and fires when the leg ends: at its last channel's DialEnd.
        """
        pbx = Pbx()
        a = pbx.channel("PJSIP/201-00000001", state=4, exten="202")
        desk = pbx.channel("PJSIP/202-00000002", a)
        soft = pbx.channel("PJSIP/202-00000003", a)
        pbx.dial_begin(a, desk, "202")
        pbx.dial_begin(a, soft, "202")
        pbx.ringing(a, desk)
        pbx.ringing(a, soft)
        pbx.wait(20)
        pbx.dial("DialEnd", a, desk, DialStatus="NOANSWER")
        pbx.wait(3)
        ended = pbx.now
        pbx.dial("DialEnd", a, soft, DialStatus="NOANSWER")
        pbx.hangup(desk, "0")
        pbx.hangup(soft, "0")
        pbx.hangup(a)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "202"), ("ringing", "202"), ("call_hangup", "202"),
                                  (UNANSWERED, "202")]  # fmt: skip
        hangup = last(emitted, "call_hangup")
        assert (hangup["dial_status"], hangup["hangup_by"]) == ("NOANSWER", "system")
        assert int(hangup["unix_time"]) == int(ended)

    def test_answering_contact_is_the_reported_one(self) -> None:
        """Given 202 registered twice, when the desk answers and the softphone is cancelled, then ANSWER from the desk.

        The answered leg keeps its DialEnd ANSWER status and its answering channel: the cancelled contact
        (cause 26) neither emits call_hangup nor overwrites the leg, so hangup_by names who hung up the talk.
        """
        pbx = Pbx()
        a = pbx.channel("PJSIP/201-00000001", state=4, exten="202")
        desk = pbx.channel("PJSIP/202-00000002", a)
        soft = pbx.channel("PJSIP/202-00000003", a)
        pbx.dial_begin(a, desk, "202")
        pbx.dial_begin(a, soft, "202")
        pbx.ringing(a, desk)
        pbx.ringing(a, soft)
        pbx.answer(a, desk)
        pbx.dial("DialEnd", a, soft, DialStatus="CANCEL")
        pbx.hangup(soft, "26")
        pbx.wait(5)
        pbx.request(desk, "16")
        pbx.hangup(desk)
        pbx.hangup(a)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "202"), ("ringing", "202"), (ANSWERED, "202")]
        done = last(emitted, ANSWERED)
        assert (done["dial_status"], done["hangup_by"], done["hangup_cause"]) == ("ANSWER", "callee", "16")

    def test_late_copy_of_a_dialbegin(self) -> None:
        """Given the desk's DialBegin arriving again after its DialEnd, then the leg still ends with the softphone.

        Duplicate events change nothing (§3), even when the copy is not adjacent to the original.
        """
        pbx = Pbx()
        a = pbx.channel("PJSIP/201-00000001", state=4, exten="202")
        desk = pbx.channel("PJSIP/202-00000002", a)
        soft = pbx.channel("PJSIP/202-00000003", a)
        pbx.dial_begin(a, desk, "202")
        pbx.dial_begin(a, soft, "202")
        pbx.request(desk, "17", "486")
        pbx.dial("DialEnd", a, desk, DialStatus="BUSY")
        pbx.events.append(
            next(e for e in pbx.events if e.name == "DialBegin" and e.get("DestUniqueid") == desk.uniqueid)
        )
        pbx.hangup(desk, "17")
        pbx.wait(20)
        pbx.dial("DialEnd", a, soft, DialStatus="NOANSWER")
        pbx.hangup(soft, "0")
        pbx.hangup(a)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "202"), ("call_hangup", "202"), (UNANSWERED, "202")]
        assert last(emitted, "call_hangup")["dial_status"] == "NOANSWER"


class TestLocalRingGroup:
    def test_freepbx_ring_group_through_local_n(self) -> None:
        """Given a ring group dialing Local/202@from-internal/n and Local/203@.../n, when 203 answers, then 203 only.

        Local channels are never parties (§3): the legs are offered by the `;2` halves' DialBegins to the real
        PJSIP channels. The loser's inner DialEnd CANCEL comes after the winner's ANSWER (answered elsewhere,
        cause 26), so it emits nothing. The `/n` option is in the dial string only, never in channel names.
        """
        pbx = Pbx()
        a = pbx.channel("PJSIP/201-00000001", state=4, exten="600")
        pbx.app(a, "Dial", "Local/202@from-internal/n&Local/203@from-internal/n,20")
        one_b, two_b = pbx.local("202@from-internal", a)
        one_c, two_c = pbx.local("203@from-internal", a)
        pbx.dial_begin(a, one_b, "202@from-internal/n")
        pbx.dial_begin(a, one_c, "203@from-internal/n")
        b = pbx.channel("PJSIP/202-00000004", a)
        c = pbx.channel("PJSIP/203-00000005", a)
        pbx.app(two_b, "Dial", "PJSIP/202/sip:202@10.0.0.12:5060,20")
        pbx.dial_begin(two_b, b, "202/sip:202@10.0.0.12:5060")
        pbx.app(two_c, "Dial", "PJSIP/203/sip:203@10.0.0.13:5060,20")
        pbx.dial_begin(two_c, c, "203/sip:203@10.0.0.13:5060")
        pbx.ringing(two_b, b)
        pbx.ringing(a, one_b)
        pbx.ringing(two_c, c)
        pbx.ringing(a, one_c)
        pbx.wait(3)
        pbx.answer(two_c, c)
        pbx.answer(a, one_c)
        pbx.dial("DialEnd", a, one_b, DialStatus="CANCEL")
        pbx.hangup(one_b, "26")
        pbx.dial("DialEnd", two_b, b, DialStatus="CANCEL")
        pbx.hangup(b, "26")
        pbx.hangup(two_b, "26")
        pbx.bridge("br-1", c, two_c)
        pbx.bridge("br-2", a, one_c)
        pbx.wait(10)
        for chan in (a, one_c, two_c, c):
            pbx.hangup(chan)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "202"), ("call_incoming", "203"), ("ringing", "202"),
                                  ("ringing", "203"), (ANSWERED, "203")]  # fmt: skip
        done = last(emitted, ANSWERED)
        assert (done["offered_extensions"], done["answered_extensions"]) == ("202,203", "203")
        assert (done["called_number"], done["direction"], done["talk_duration"]) == ("600", "internal", "10")

    def test_caller_gives_up_before_the_members_dialends(self) -> None:
        """Given a Local ring group 202&203, when the caller hangs up and only then the inner CANCELs arrive.

        Order across channels is not guaranteed (ami-notes §1.5, quirk 9): the inner DialEnd CANCELs can come
        after the caller's Hangup. The caller has hung up, so each is call_hangup hangup_by caller at once
        (§4), and the call completes unanswered when the last member channel is gone.
        """
        pbx = Pbx()
        a = pbx.channel("PJSIP/201-00000001", state=4, exten="600")
        pairs = [pbx.local(f"{ext}@from-internal", a) for ext in ("202", "203")]
        members = []
        for (one, two), ext in zip(pairs, ("202", "203"), strict=True):
            pbx.dial_begin(a, one, f"{ext}@from-internal/n")
            member = pbx.channel(f"PJSIP/{ext}-0000000{ext[-1]}", a)
            pbx.dial_begin(two, member, ext)
            pbx.ringing(two, member)
            members.append(member)
        pbx.wait(6)
        pbx.request(a, "127")
        for one, _ in pairs:
            pbx.dial("DialEnd", a, one, DialStatus="CANCEL")
        pbx.var(a, "DIALSTATUS", "CANCEL")
        pbx.hangup(a, "127")
        for (one, two), member in zip(pairs, members, strict=True):
            pbx.hangup(one, "127")
            pbx.dial("DialEnd", two, member, DialStatus="CANCEL")
            pbx.hangup(member, "127")
            pbx.hangup(two, "127")
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "202"), ("ringing", "202"), ("call_incoming", "203"),
                                  ("ringing", "203"), ("call_hangup", "202"), ("call_hangup", "203"),
                                  (UNANSWERED, "202")]  # fmt: skip
        assert {(item.params["dial_status"], item.params["hangup_by"]) for item in emitted[4:6]} == {
            ("CANCEL", "caller")
        }


class TestVoicemailAfterNoAnswer:
    def test_caller_up_in_voicemail_is_not_an_answer(self) -> None:
        """Given 202 does not answer and the caller goes to voicemail (Up), then call_hangup and call_unanswered.

        A leg is answered only by DialEnd ANSWER (§3); the caller's own answer by VoiceMail()/Answer() does not
        count (§4 talk_duration), so the call completes unanswered, naming the first offered extension.
        """
        pbx = Pbx()
        a = pbx.channel("PJSIP/201-00000001", state=4, exten="202")
        b = pbx.channel("PJSIP/202-00000002", a)
        pbx.dial_begin(a, b, "202")
        pbx.ringing(a, b)
        pbx.wait(20)
        pbx.dial("DialEnd", a, b, DialStatus="NOANSWER")
        pbx.hangup(b, "0")
        pbx.app(a, "VoiceMail", "202@default,u")
        pbx.state(a, 6)
        pbx.wait(15)
        pbx.request(a, "16")
        pbx.hangup(a)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "202"), ("ringing", "202"), ("call_hangup", "202"),
                                  (UNANSWERED, "202")]  # fmt: skip
        hangup = last(emitted, "call_hangup")
        assert (hangup["dial_status"], hangup["hangup_by"], hangup["ring_duration"]) == ("NOANSWER", "system", "20")
        done = last(emitted, UNANSWERED)
        assert (done["talk_duration"], done["duration"], done["call_rating_duration"]) == ("0", "35", "0")


class TestIvr:
    def test_ivr_answers_then_dials(self) -> None:
        """Given an IVR that answers an inbound call and dials 202 after the menu, then 202's leg and call_answered.

        The caller Up (Answer) is not an answer (§4); called_number is the DID of the caller's first event even
        though later events carry the menu's exten (quirk 14); wait_duration runs to 202's DialEnd ANSWER.
        """
        pbx = Pbx()
        t = pbx.channel("PJSIP/trunk-00000001", state=4, exten="+15557770100", context="from-trunk",
                        cid_num="+15551234567")  # fmt: skip
        pbx.app(t, "Answer", "")
        pbx.state(t, 6)
        pbx.app(t, "Background", "custom/ivr-menu")
        pbx.wait(8)
        t.exten, t.context = "2", "ivr-1"
        pbx.app(t, "Dial", "PJSIP/202,20")
        b = pbx.channel("PJSIP/202-00000002", t)
        pbx.dial_begin(t, b, "202")
        pbx.ringing(t, b)
        pbx.wait(4)
        pbx.answer(t, b)
        pbx.wait(30)
        pbx.hangup(b)
        pbx.hangup(t)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "202"), ("ringing", "202"), (ANSWERED, "202")]
        done = last(emitted, ANSWERED)
        assert (done["direction"], done["called_number"], done["caller_id"]) == ("inbound", "+15557770100",
                                                                                  "+15551234567")  # fmt: skip
        assert (done["wait_duration"], done["talk_duration"]) == ("12", "30")

    def test_caller_leaves_in_the_menu(self) -> None:
        """Given an inbound call answered by an IVR, when the caller hangs up in the menu, then call_unanswered.

        Every inbound call produces exactly one completion event (§3); no leg was offered, so extension is "".
        """
        pbx = Pbx()
        t = pbx.channel("PJSIP/trunk-00000001", state=4, exten="+15557770100", context="from-trunk")
        pbx.app(t, "Answer", "")
        pbx.state(t, 6)
        pbx.wait(6)
        pbx.hangup(t)
        emitted = pbx.run()
        assert names(emitted) == [(UNANSWERED, "")]
        assert last(emitted, UNANSWERED)["direction"] == "inbound"


class TestConfBridge:
    def test_internal_join_emits_nothing(self) -> None:
        """Given 201 joins conference 800 (with its CBAnn announcer channels), then no system event.

        An internal call that never dials produces none (§3); CBAnn channels are plumbing, not parties.
        """
        pbx = Pbx()
        a = pbx.channel("PJSIP/201-00000001", state=4, exten="800")
        pbx.app(a, "ConfBridge", "800")
        pbx.state(a, 6)
        one = pbx.channel("CBAnn/800-00000001;1", state=6)
        two = pbx.channel("CBAnn/800-00000001;2", one, state=6)
        pbx.bridge("conf-800", two, a)
        pbx.wait(30)
        pbx.hangup(a)
        pbx.hangup(two)
        pbx.hangup(one)
        assert pbx.run() == []

    def test_inbound_join_completes_unanswered(self) -> None:
        """Given an inbound call that joins a conference, then one call_unanswered (no extension leg answered).

        Inbound calls always complete with an event (§3); no leg was offered, so it is unanswered, extension "".
        """
        pbx = Pbx()
        t = pbx.channel("PJSIP/trunk-00000001", state=4, exten="+15557770800", context="from-trunk")
        pbx.app(t, "ConfBridge", "800")
        pbx.state(t, 6)
        pbx.wait(60)
        pbx.hangup(t)
        emitted = pbx.run()
        assert names(emitted) == [(UNANSWERED, "")]
        assert last(emitted, UNANSWERED)["duration"] == "60"


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
        a = pbx.channel("PJSIP/201-00000001", state=4, exten="202")
        b = pbx.channel("PJSIP/202-00000002", a)
        pbx.dial_begin(a, b, "202")
        pbx.ringing(a, b)
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


class TestOtherTechnologies:
    def test_chan_sip_call_without_dialstate(self) -> None:
        """Given a chan_sip call (caller created Down then Ring, no DialState), then the same events as PJSIP.

        §3: SIP/ names parse like PJSIP/ ones; ringing comes from the callee's Newstate 5 (§4).
        """
        pbx = Pbx()
        a = pbx.channel("SIP/201-0000000a", exten="202")
        pbx.state(a, 4)
        b = pbx.channel("SIP/202-0000000b", a)
        pbx.dial_begin(a, b, "202")
        pbx.state(b, 5)
        pbx.wait(2)
        pbx.answer(a, b)
        pbx.wait(4)
        pbx.hangup(b)
        pbx.hangup(a)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "202"), ("ringing", "202"), (ANSWERED, "202")]
        assert last(emitted, ANSWERED)["direction"] == "internal"

    def test_iax2_trunk_with_credentials_in_the_dial_string(self) -> None:
        """Given 201 dials out over IAX2 with `user:secret@provider/5551234`, then called_number 5551234, no secret.

        §4: for outbound calls called_number is the number sent to the trunk; IAX2 puts the number after the
        peer (`[user[:secret]@]peer/exten`), and the secret must never reach an action's parameters.
        """
        pbx = Pbx()
        a = pbx.channel("SIP/201-0000000a", state=4, exten="95551234")
        t = pbx.channel("IAX2/provider-4321", a)
        pbx.dial_begin(a, t, "user:secret@provider/5551234")
        pbx.state(t, 5)
        pbx.wait(3)
        pbx.answer(a, t)
        pbx.wait(10)
        pbx.hangup(a)
        pbx.hangup(t)
        emitted = pbx.run()
        assert names(emitted) == [(ANSWERED, "201")]
        done = last(emitted, ANSWERED)
        assert (done["direction"], done["trunk"], done["called_number"]) == ("outbound", "provider", "5551234")
        assert not any("secret" in value for value in done.values())


class TestDialedNumber:
    def test_dial_string_forms(self) -> None:
        """Given the dial string forms of PJSIP, chan_sip and IAX2 trunks, then the number sent to the trunk."""
        forms = {
            "15551239876@trunk": "15551239876",
            "trunk/sip:15551239876@sip.example.com:5060": "15551239876",
            "voipgrid/0612345678": "0612345678",
            "provider/5551234": "5551234",
            "user:secret@provider/5551234": "5551234",
            "user@provider:4569/5551234@default": "5551234",
            "sip:+15551239876@carrier.example.com": "+15551239876",
        }
        assert {form: dialed_number(form) for form in forms} == forms

    def test_dial_resource_endpoints(self) -> None:
        """Given Dial resources of each technology, then the endpoint they reach (never the IAX2 credentials)."""
        forms = {
            "202": "202",
            "202/sip:202@10.0.0.12:5060": "202",
            "15551239876@trunk": "trunk",
            "voipgrid/0612345678": "voipgrid",
            "user:secret@provider:4569/5551234": "provider",
        }
        assert {form: target_endpoint(form) for form in forms} == forms


class TestDigitNamedTrunk:
    def script(self, config: MappingConfig) -> Pbx:
        pbx = Pbx(config)
        t = pbx.channel("PJSIP/12345-00000001", state=4, exten="+15557770100", context="from-trunk")
        b = pbx.channel("PJSIP/202-00000002", t)
        pbx.dial_begin(t, b, "202")
        pbx.ringing(t, b)
        pbx.answer(t, b)
        pbx.wait(5)
        pbx.hangup(t)
        pbx.hangup(b)
        return pbx

    def test_narrow_extension_pattern_makes_it_a_trunk(self) -> None:
        """Given a trunk endpoint named 12345 and EXTENSION_PATTERN `^2..$`, then the call is inbound via 12345.

        §3: an endpoint is an extension when it matches EXTENSION_PATTERN (or is an EXTENSION_MAP key); any other
        endpoint is a trunk. The default pattern would take 12345 for an extension; the pattern decides.
        """
        emitted = self.script(MappingConfig(extension_pattern=re.compile(r"^2\d\d$"))).run()
        assert names(emitted) == [("call_incoming", "202"), ("ringing", "202"), (ANSWERED, "202")]
        assert (last(emitted, ANSWERED)["direction"], last(emitted, ANSWERED)["trunk"]) == ("inbound", "12345")

    def test_extension_map_alone_lists_the_extensions(self) -> None:
        """Given EXTENSION_PATTERN matching nothing and EXTENSION_MAP {202: Bob}, then 12345 is a trunk, 202 is Bob.

        §3: the map makes an endpoint an extension and carries the extension value shown in `extension`.
        """
        config = MappingConfig(extension_pattern=re.compile(r"(?!)"), extension_map=MappingProxyType({"202": "Bob"}))
        emitted = self.script(config).run()
        assert names(emitted) == [("call_incoming", "Bob"), ("ringing", "Bob"), (ANSWERED, "Bob")]
        assert last(emitted, ANSWERED)["direction"] == "inbound"


class TestParking:
    def test_parked_then_picked_up_from_the_lot(self) -> None:
        """Given 202 parks the caller (blind transfer to 700) and 203 picks it up with 701, then one call_answered.

        203's own call (Linkedid Y, ParkedCall, no Dial) is an internal call that never dials: no event (§3).
        When 203 is bridged with the parked caller its Linkedid becomes the caller's, so it moves to that call
        (§3) and keeps it open; 203 is no leg there (no DialBegin offered it), so the call completes answered
        by 202 only, at the last hangup.
        """
        pbx = Pbx()
        a = pbx.channel("PJSIP/201-00000001", state=4, exten="202")
        b = pbx.channel("PJSIP/202-00000002", a)
        pbx.dial_begin(a, b, "202")
        pbx.ringing(a, b)
        pbx.answer(a, b)
        pbx.bridge("br-1", b, a)
        pbx.wait(5)
        pbx.emit("BlindTransfer", Result="Success", **b.block("Transferer"), **a.block("Transferee"),
                 IsExternal="No", Context="from-internal", Extension="700")  # fmt: skip
        pbx.hangup(b)
        pbx.app(a, "Park", "")
        pbx.wait(20)
        c = pbx.channel("PJSIP/203-00000003", state=4, exten="701")
        pbx.app(c, "ParkedCall", "default,701")
        pbx.state(c, 6)
        c.linkedid = a.linkedid
        pbx.bridge("br-2", a, c)
        pbx.wait(30)
        pbx.hangup(a)
        pbx.hangup(c)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "202"), ("ringing", "202"), (ANSWERED, "202")]
        done = last(emitted, ANSWERED)
        assert (done["answered_extensions"], done["duration"], done["call_id"]) == ("202", "55", a.uniqueid)


class TestCallOutlivesItsCaller:
    def test_blind_transfer_after_the_caller_left(self) -> None:
        """Given 201 calls 202 and blind-transfers 202 to 203 and hangs up, then the call goes on for an hour.

        The call is the Linkedid (201's Uniqueid), not 201's channel: it is complete only when its last party
        hangs up (§3). 203 is offered by a DialBegin in this call, so it is a leg; one completion event,
        caller 201, call_answered naming the first extension that answered (202), duration to the end.
        """
        pbx = Pbx()
        a = pbx.channel("PJSIP/201-00000001", state=4, exten="202")
        b = pbx.channel("PJSIP/202-00000002", a)
        pbx.dial_begin(a, b, "202")
        pbx.ringing(a, b)
        pbx.answer(a, b)
        pbx.wait(10)
        pbx.emit("BlindTransfer", Result="Success", **a.block("Transferer"), **b.block("Transferee"),
                 IsExternal="No", Context="from-internal", Extension="203")  # fmt: skip
        pbx.request(a, "16")
        pbx.hangup(a)
        b.exten = "203"
        c = pbx.channel("PJSIP/203-00000003", b)
        pbx.dial_begin(b, c, "203")
        pbx.ringing(b, c)
        pbx.wait(2)
        pbx.answer(b, c)
        pbx.wait(3600)
        pbx.hangup(c)
        pbx.hangup(b)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "202"), ("ringing", "202"), ("call_incoming", "203"),
                                  ("ringing", "203"), (ANSWERED, "202")]  # fmt: skip
        done = last(emitted, ANSWERED)
        assert (done["caller_id"], done["answered_extensions"], done["duration"]) == ("201", "202,203", "3612")
        assert done["talk_duration"] == "3612"

    def test_stragglers_after_completion_start_nothing(self) -> None:
        """Given a completed call, when late events still carry its Linkedid, then nothing more is emitted.

        A late Hangup/DialEnd of a forgotten channel is ignored; a late Local pair on the old Linkedid forms
        no party and no dial, so no second completion event is emitted for that call_id (and memory is freed).
        """
        pbx = Pbx()
        a = pbx.channel("PJSIP/201-00000001", state=4, exten="202")
        b = pbx.channel("PJSIP/202-00000002", a)
        pbx.dial_begin(a, b, "202")
        pbx.answer(a, b)
        pbx.wait(3)
        pbx.hangup(a)
        pbx.hangup(b)
        pbx.dial("DialEnd", a, b, DialStatus="ANSWER")
        pbx.hangup(b)
        one, two = pbx.local("s@hangup-handler", a)
        pbx.hangup(two)
        pbx.hangup(one)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "202"), (ANSWERED, "202")]


class TestFollowMe:
    def script(self, caller: str) -> Pbx:
        """`caller` calls 202, whose follow-me also dials the mobile 5551234 over the trunk; the mobile answers."""
        pbx = Pbx()
        trunk_caller = caller.startswith("PJSIP/trunk")
        a = pbx.channel(caller, state=4, exten="+15557770202" if trunk_caller else "202")
        one_b, two_b = pbx.local("FMPR-202@from-internal", a)
        one_m, two_m = pbx.local("FMGL-5551234@from-internal", a)
        pbx.dial_begin(a, one_b, "FMPR-202@from-internal/n")
        pbx.dial_begin(a, one_m, "FMGL-5551234@from-internal/n")
        b = pbx.channel("PJSIP/202-00000006", a)
        pbx.dial_begin(two_b, b, "202")
        pbx.ringing(two_b, b)
        m = pbx.channel("PJSIP/trunk-00000007", a)
        pbx.dial_begin(two_m, m, "5551234@trunk")
        pbx.wait(8)
        pbx.answer(two_m, m)
        pbx.answer(a, one_m)
        pbx.dial("DialEnd", a, one_b, DialStatus="CANCEL")
        pbx.dial("DialEnd", two_b, b, DialStatus="CANCEL")
        pbx.hangup(b, "26")
        for chan in (two_b, one_b):
            pbx.hangup(chan, "26")
        pbx.wait(40)
        for chan in (m, two_m, one_m, a):
            pbx.hangup(chan)
        return pbx

    def test_internal_caller_reached_on_the_mobile(self) -> None:
        """Given 201 calls 202 and 202's follow-me mobile answers via the trunk, then an answered outbound call.

        §4: direction is outbound when the caller is an extension and a trunk leg was dialed; call_answered
        then means the trunk leg answered, naming the calling extension, called_number the number sent to the
        trunk. 202's CANCEL came because another leg answered: no call_hangup.
        """
        emitted = self.script("PJSIP/201-00000001").run()
        assert names(emitted) == [("call_incoming", "202"), ("ringing", "202"), (ANSWERED, "201")]
        done = last(emitted, ANSWERED)
        assert (done["direction"], done["called_number"], done["talk_duration"]) == ("outbound", "5551234", "40")

    def test_inbound_caller_reached_on_the_mobile(self) -> None:
        """Given an inbound call to 202 whose follow-me mobile answers via the trunk, then call_answered, extension "".

        DESIGN §4 leaves this open: call_answered names "a leg answered by an extension" and call_unanswered
        "no leg was answered", but here a trunk leg answered an inbound call. The call was answered (202's
        CANCEL is "answered elsewhere", cause 26), so we emit call_answered; no extension answered, so
        `extension` is "", and talk_duration runs from the trunk leg's DialEnd ANSWER.
        """
        emitted = self.script("PJSIP/trunk-00000001").run()
        assert names(emitted) == [("call_incoming", "202"), ("ringing", "202"), (ANSWERED, "")]
        done = last(emitted, ANSWERED)
        assert (done["direction"], done["dial_status"], done["talk_duration"]) == ("inbound", "ANSWER", "40")
        assert (done["answered_extensions"], done["offered_extensions"]) == ("", "202")

    def test_mobile_answers_then_transfers_to_an_extension(self) -> None:
        """Given an inbound call answered on the mobile, then transferred to 203, then talk runs from the mobile.

        talk_duration runs from "the first DialEnd ANSWER of a leg" (§4): the mobile's trunk leg answered first;
        call_answered names the first extension that answered (203).
        """
        pbx = Pbx()
        t = pbx.channel("PJSIP/trunk-00000001", state=4, exten="+15557770202", context="from-trunk")
        mobile = pbx.channel("PJSIP/trunk-00000002", t)
        pbx.dial_begin(t, mobile, "5551234@trunk")
        pbx.wait(5)
        pbx.answer(t, mobile)
        pbx.wait(30)
        pbx.hangup(mobile)
        c = pbx.channel("PJSIP/203-00000003", t)
        pbx.dial_begin(t, c, "203")
        pbx.ringing(t, c)
        pbx.wait(3)
        pbx.answer(t, c)
        pbx.wait(20)
        pbx.hangup(c)
        pbx.hangup(t)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "203"), ("ringing", "203"), (ANSWERED, "203")]
        done = last(emitted, ANSWERED)
        assert (done["talk_duration"], done["wait_duration"], done["duration"]) == ("53", "5", "58")


class TestTrunkFailover:
    def test_second_trunk_answers_after_the_first_fails(self) -> None:
        """Given an outbound route that tries trunk1 (CONGESTION) then trunk2 (answers), then trunk2 is reported.

        §4: outbound call_answered means the trunk leg answered; its dial_status, trunk and talk_duration are
        those of the leg that answered, not of the failed first try (both trunk legs make it outbound).
        """
        pbx = Pbx()
        a = pbx.channel("PJSIP/201-00000001", state=4, exten="95551234")
        first = pbx.channel("PJSIP/carrier1-00000002", a)
        pbx.dial_begin(a, first, "5551234@carrier1")
        pbx.wait(1)
        pbx.dial("DialEnd", a, first, DialStatus="CONGESTION")
        pbx.hangup(first, "34")
        second = pbx.channel("PJSIP/carrier2-00000003", a)
        pbx.dial_begin(a, second, "5551234@carrier2")
        pbx.state(second, 5)
        pbx.wait(4)
        pbx.answer(a, second)
        pbx.wait(60)
        pbx.hangup(a)
        pbx.hangup(second)
        emitted = pbx.run()
        assert names(emitted) == [(ANSWERED, "201")]
        done = last(emitted, ANSWERED)
        assert (done["dial_status"], done["trunk"], done["called_number"]) == ("ANSWER", "carrier2", "5551234")
        assert (done["talk_duration"], done["duration"], done["hangup_by"]) == ("60", "65", "caller")


class TestOutboundUnanswered:
    @pytest.mark.parametrize(
        ("status", "rejected", "by"),
        [("CANCEL", "", "caller"), ("BUSY", "", "callee"), ("CONGESTION", "", "system"),
         ("CHANUNAVAIL", "", "system"), ("NOANSWER", "", "system"), ("NOANSWER", "21", "callee")],
    )  # fmt: skip
    def test_trunk_leg_outcome(self, status: str, rejected: str, by: str) -> None:
        """Given 201 dials out and the trunk leg ends unanswered, then one call_unanswered with the leg's hangup_by.

        §3: trunk legs emit no per-leg events, only the completion. Its hangup_by follows the leg rule of §4
        (CANCEL because the caller hung up: caller; BUSY or a 17/21 request before the DialEnd: callee; else
        system), not the order of the Hangups, which Asterisk issues itself after a timeout or congestion.
        """
        pbx = Pbx()
        a = pbx.channel("PJSIP/201-00000001", state=4, exten="95551234")
        t = pbx.channel("PJSIP/trunk-00000002", a)
        pbx.dial_begin(a, t, "5551234@trunk")
        pbx.state(t, 5)
        pbx.wait(4)
        if status == "CANCEL":
            pbx.request(a, "127")
        if rejected:
            pbx.request(t, rejected, "603")
        pbx.dial("DialEnd", a, t, DialStatus=status)
        pbx.hangup(t, rejected or "16")
        pbx.hangup(a)
        emitted = pbx.run()
        assert names(emitted) == [(UNANSWERED, "201")]
        done = last(emitted, UNANSWERED)
        assert (done["direction"], done["dial_status"], done["hangup_by"]) == ("outbound", status, by)
        assert (done["called_number"], done["trunk"], done["talk_duration"]) == ("5551234", "trunk", "0")


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


class TestPlumbing:
    def test_sip_message_through_the_dialplan(self) -> None:
        """Given a SIP MESSAGE routed by the dialplan on `Message/ast_msg_queue`, then no system event.

        The message channel is Asterisk plumbing, not a party: were it taken for a trunk, every text message
        would complete as an inbound call_unanswered (§3: inbound calls always complete with an event).
        """
        pbx = Pbx()
        msg = pbx.channel("Message/ast_msg_queue", state=6, exten="202", context="messages")
        pbx.app(msg, "MessageSend", "pjsip:202,201")
        pbx.var(msg, "MESSAGE_SEND_STATUS", "SUCCESS")
        pbx.hangup(msg)
        assert pbx.run() == []

    def test_external_media_channel_is_no_party(self) -> None:
        """Given an ARI app streaming a call's audio over AudioSocket, then the call completes with its last phone.

        External media channels (UnicastRTP, AudioSocket, WebSocket) are plumbing like Local ones (§3): bridged
        into the call they take its Linkedid, but the call is complete when its last real party hangs up.
        """
        pbx = Pbx()
        a = pbx.channel("PJSIP/201-00000001", state=4, exten="202")
        b = pbx.channel("PJSIP/202-00000002", a)
        pbx.dial_begin(a, b, "202")
        pbx.answer(a, b)
        media = pbx.channel("AudioSocket/127.0.0.1:9092-8a5b2c4e", state=6)
        media.linkedid = a.linkedid
        pbx.bridge("br-ari", a, b, media)
        pbx.wait(12)
        pbx.hangup(a)
        pbx.hangup(b)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "202"), (ANSWERED, "202")]
        assert last(emitted, ANSWERED)["duration"] == "12"


class TestLinkedidReuse:
    def test_originate_reusing_its_channel_id(self) -> None:
        """Given two calls an hour apart whose Originate set the same ChannelId, then their event_ids all differ.

        call_id is the Linkedid (§3), so both calls carry `crm-42`; event_id must stay unique per system event
        (§4, an idempotency key), or a receiver would drop the second call's events as duplicates.
        """
        pbx = Pbx()
        for _ in range(2):
            a = pbx.channel("PJSIP/201-00000001", state=4, uid="crm-42", exten="202")
            b = pbx.channel("PJSIP/202-00000002", a)
            pbx.dial_begin(a, b, "202")
            pbx.ringing(a, b)
            pbx.answer(a, b)
            pbx.wait(60)
            pbx.hangup(a)
            pbx.hangup(b)
            pbx.wait(3600)
        emitted = pbx.run()
        assert names(emitted) == [("call_incoming", "202"), ("ringing", "202"), (ANSWERED, "202")] * 2
        assert {item.call_id for item in emitted} == {"crm-42"}
        assert len({item.event_id for item in emitted}) == len(emitted)


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


class TestConsultToExternal:
    def test_attended_transfer_to_a_mobile(self) -> None:
        """Given 202 answers an inbound call, consults a mobile over the trunk and completes the transfer.

        The consult call has its own Linkedid, so it is its own (outbound) call with its own completion (§3).
        The mobile's channel then shows the original Linkedid and moves there (it is no leg: no DialBegin in
        that call offered it), keeping the original call open until it hangs up.
        """
        pbx = Pbx()
        t = pbx.channel("PJSIP/trunk-00000001", state=4, exten="+15557770100", context="from-trunk")
        b = pbx.channel("PJSIP/202-00000002", t)
        pbx.dial_begin(t, b, "202")
        pbx.ringing(t, b)
        pbx.answer(t, b)
        pbx.wait(10)
        consult = pbx.channel("PJSIP/202-00000003", state=4, exten="95551234")
        mobile = pbx.channel("PJSIP/trunk-00000004", consult)
        pbx.dial_begin(consult, mobile, "5551234@trunk")
        pbx.wait(5)
        pbx.answer(consult, mobile)
        pbx.wait(20)
        pbx.emit("AttendedTransfer", Result="Success", DestType="Bridge", **b.block("OrigTransferer"),
                 **consult.block("SecondTransferer"))  # fmt: skip
        mobile.linkedid = t.linkedid
        pbx.bridge("br-3", t, mobile)
        pbx.hangup(consult)
        pbx.hangup(b)
        pbx.wait(100)
        pbx.hangup(mobile)
        pbx.hangup(t)
        emitted = pbx.run()
        assert [(item.name, item.params["extension"], item.call_id) for item in emitted] == [
            ("call_incoming", "202", t.uniqueid),
            ("ringing", "202", t.uniqueid),
            (ANSWERED, "202", consult.uniqueid),
            (ANSWERED, "202", t.uniqueid),
        ]
        outbound, inbound_call = emitted[2].params, emitted[3].params
        assert (outbound["direction"], outbound["called_number"], outbound["talk_duration"]) == ("outbound", "5551234",
                                                                                                  "20")  # fmt: skip
        assert (inbound_call["direction"], inbound_call["duration"]) == ("inbound", "135")


class TestAdoptedMultiContact:
    def test_second_contact_answers_after_resync(self) -> None:
        """Given a resync while 203's two contacts ring for 205, when the second contact answers, then answered.

        Adopted legs are rebuilt from their AppDial channels (§3) and then follow the normal rules: every
        AppDial channel of 203 belongs to the leg, so the DialEnd ANSWER of either one answers it.
        """
        sample = (Path(__file__).parent / "fixtures" / "coreshowchannels_response_sample.txt").read_text("utf-8")
        blocks = [block for block in sample.replace("\r\n", "\n").split("\n\n") if "Event: CoreShowChannel" in block]
        frames = [dict(line.split(": ", 1) for line in block.splitlines() if ": " in line) for block in blocks]
        caller = next(frame for frame in frames if frame["Channel"].startswith("PJSIP/205"))
        desk = next(frame for frame in frames if frame["Channel"].startswith("PJSIP/203"))
        soft = {**desk, "Channel": "PJSIP/203-00000006", "Uniqueid": "1795873197.6"}
        tracker = CallTracker(MappingConfig())
        at = 1795873198.0
        assert tracker.resync([caller, desk, soft], at) == []
        pbx = Pbx(now=at)
        a, d, s = (
            Chan(f["Channel"], f["Uniqueid"], f["Linkedid"], int(f["ChannelState"])) for f in (caller, desk, soft)
        )
        pbx.answer(a, s)
        pbx.dial("DialEnd", a, d, DialStatus="CANCEL")
        pbx.hangup(d, "26")
        pbx.wait(10)
        pbx.hangup(a)
        pbx.hangup(s)
        emitted = [item for event in pbx.events for item in tracker.feed(event)]
        assert names(emitted) == [(ANSWERED, "203")]
        assert (emitted[0].params["adopted"], emitted[0].params["talk_duration"]) == ("1", "10")


class TestOriginate:
    def script(self, originator_answers: bool) -> Pbx:
        """AMI Originate Channel=PJSIP/201 Context=from-internal Exten=202: 201 rings first, then dials 202."""
        pbx = Pbx()
        a = pbx.channel("PJSIP/201-00000001", exten="s", cid_name="Click To Call")
        pbx.dial_begin(None, a, "201")
        pbx.ringing(None, a)
        pbx.wait(3)
        if not originator_answers:
            pbx.dial("DialEnd", None, a, DialStatus="NOANSWER")
            pbx.hangup(a, "19")
            return pbx
        pbx.answer(None, a)
        a.exten, a.cid_name = "202", "Alice Anders"
        pbx.emit("NewCallerid", **a.block(), **{"CID-CallingPres": "0 (Presentation Allowed, Not Screened)"})
        pbx.app(a, "Dial", "PJSIP/202,20")
        b = pbx.channel("PJSIP/202-00000002", a)
        pbx.dial_begin(a, b, "202")
        pbx.ringing(a, b)
        pbx.wait(2)
        pbx.answer(a, b)
        pbx.wait(9)
        pbx.hangup(b)
        pbx.hangup(a)
        return pbx

    def test_direct_originate_rings_the_originator_first(self) -> None:
        """Given an Originate to PJSIP/201 that then dials 202, then 201 is the caller and only 202 is a leg.

        §3: the first DialBegin has no Channel: the first extension channel reached is the caller, not a leg;
        its later DialBegin is an ordinary leg. §4: caller_id is the originating extension, calling_name its
        CallerIDName on its Newchannel, called_number its Exten when it dials its first leg.
        """
        emitted = self.script(originator_answers=True).run()
        assert names(emitted) == [("call_incoming", "202"), ("ringing", "202"), (ANSWERED, "202")]
        done = last(emitted, ANSWERED)
        assert (done["caller_id"], done["calling_name"], done["called_number"]) == ("201", "Click To Call", "202")
        assert (done["direction"], done["talk_duration"]) == ("internal", "9")

    def test_originator_does_not_answer(self) -> None:
        """Given an Originate whose originating phone never answers, then no system event (no leg was offered)."""
        assert self.script(originator_answers=False).run() == []


class TestForward:
    def test_302_to_an_extension_that_does_not_answer(self) -> None:
        """Given 202 forwards (302) to 205 and 205 times out, then no call_hangup for 202, one for 205.

        §3: a leg that ends CANCEL with a `Forward:` header emits nothing more; the target is offered by its own
        DialBegin. call_unanswered names the first offered extension (202).
        """
        pbx = Pbx()
        a = pbx.channel("PJSIP/201-00000001", state=4, exten="202")
        b = pbx.channel("PJSIP/202-00000002", a)
        pbx.dial_begin(a, b, "202")
        pbx.ringing(a, b)
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


def snapshot_line(chan: Chan, application: str, data: str, duration: str) -> dict[str, str]:
    """A CoreShowChannel line for a scripted channel (the fields of the real Asterisk 22 sample)."""
    return {**chan.block(), "Application": application, "ApplicationData": data, "Duration": duration, "BridgeId": ""}


class TestResyncRace:
    def test_events_between_login_and_snapshot(self) -> None:
        """Given a call whose caller existed before the login, when the callee's Newchannel and the DialBegin come
        before the CoreShowChannels answer, then the call is adopted whole and completes once.

        §3 Resync: a call with channels we do not know started before we connected, so it is adopted; the
        callee already seen by its Newchannel is still its AppDial leg, and the caller is the channel running Dial.
        """
        before = Pbx()
        a = before.channel("PJSIP/201-00000001", state=4, exten="202")
        after = Pbx(now=T0 + 5, seq=before.seq)
        b = after.channel("PJSIP/202-00000002", a)
        after.dial_begin(a, b, "202")
        early = list(after.events)
        tracker = CallTracker(MappingConfig())
        assert [item for event in early for item in tracker.feed(event)] == []
        b.state = 5
        lines = [snapshot_line(a, "Dial", "PJSIP/202,20", "00:00:05"), snapshot_line(b, "AppDial", "(Outgoing Line)",
                                                                                      "00:00:00")]  # fmt: skip
        assert tracker.resync(lines, after.now) == []
        after.events.clear()
        after.wait(3)
        after.answer(a, b)
        after.wait(10)
        after.hangup(a)
        after.hangup(b)
        emitted = [item for event in after.events for item in tracker.feed(event)]
        assert names(emitted) == [(ANSWERED, "202")]
        assert (emitted[0].params["adopted"], emitted[0].params["caller_id"]) == ("1", "201")

    def test_adopted_queue_member_answers(self) -> None:
        """Given a resync while a queue rings member 204 (AppQueue), when 204 answers, then call_answered 204.

        app_queue's outgoing channels run `AppQueue` as app_dial's run `AppDial` (both "(Outgoing Line)"), and
        the caller runs `Queue`: the adopted call rebuilds 204's leg from it (§3 Resync).
        """
        pbx = Pbx(now=T0 + 30)
        t = Chan("PJSIP/trunk-00000001", f"{int(T0)}.1", f"{int(T0)}.1", 6, "+15551234567", "", "from-trunk", "400")
        m = Chan("PJSIP/204-00000002", f"{int(T0)}.2", t.linkedid, 5, "204", "Dave")
        lines = [snapshot_line(t, "Queue", "400,t", "00:00:30"), snapshot_line(m, "AppQueue", "(Outgoing Line)",
                                                                                 "00:00:04")]  # fmt: skip
        tracker = CallTracker(MappingConfig())
        assert tracker.resync(lines, pbx.now) == []
        pbx.answer(t, m)
        pbx.wait(20)
        pbx.hangup(m)
        pbx.hangup(t)
        emitted = [item for event in pbx.events for item in tracker.feed(event)]
        assert names(emitted) == [(ANSWERED, "204")]
        assert (emitted[0].params["direction"], emitted[0].params["adopted"]) == ("inbound", "1")
