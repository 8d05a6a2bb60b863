"""Review of the tracker against real-world flows the golden traces do not contain (docs/call-model.md): legs.

Each test scripts a short event sequence with the header sets Asterisk 22 sends (tests/support/pbx_script.py) and
asserts what the call model requires, with the reasoning in the docstring. This module: extensions with several
contacts, FreePBX ring groups through Local channels (`/n`), voicemail after no answer, IVR, ConfBridge. How
legs end is in test_tracker_review_endings.py, trunks in test_tracker_review_trunks.py, the call lifecycle and
resync in test_tracker_review_lifecycle.py.
"""

from __future__ import annotations

from tests.support.pbx_script import Pbx, last, names

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
        a, (desk, soft) = pbx.offer(contacts=2)
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
        a, (desk, soft) = pbx.offer(contacts=2)
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
        a, (desk, soft) = pbx.offer(contacts=2)
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
        a, (desk, soft) = pbx.offer(contacts=2, ring=False)
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

        Order across channels is not guaranteed (docs/ami.md §1.5, quirk 9): the inner DialEnd CANCELs can come
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
        a, (b,) = pbx.offer()
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
