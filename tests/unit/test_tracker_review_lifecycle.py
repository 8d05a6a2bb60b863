"""Review of the tracker against real-world flows (docs/call-model.md): call lifecycle and resync.

Parking, calls outliving their caller, stragglers, plumbing channels (SIP MESSAGE, external media), a Linkedid
seen again, Originate, and resync races (events between the login and the snapshot, queue members, several
contacts). Scripted with tests/support/pbx_script.py.
"""

from __future__ import annotations

from agent.mapping.config import MappingConfig
from agent.mapping.tracker import CallTracker
from tests.support.paths import FIXTURES
from tests.support.pbx_script import T0, Chan, Pbx, last, names

UNANSWERED = "call_unanswered"
ANSWERED = "call_answered"


class TestParking:
    def test_parked_then_picked_up_from_the_lot(self) -> None:
        """Given 202 parks the caller (blind transfer to 700) and 203 picks it up with 701, then one call_answered.

        203's own call (Linkedid Y, ParkedCall, no Dial) is an internal call that never dials: no event (§3).
        When 203 is bridged with the parked caller its Linkedid becomes the caller's, so it moves to that call
        (§3) and keeps it open; 203 is no leg there (no DialBegin offered it), so the call completes answered
        by 202 only, at the last hangup.
        """
        pbx = Pbx()
        a, (b,) = pbx.offer()
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
        a, (b,) = pbx.offer()
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
        a, (b,) = pbx.offer(ring=False)
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
        a, (b,) = pbx.offer(ring=False)
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


class TestAdoptedMultiContact:
    def test_second_contact_answers_after_resync(self) -> None:
        """Given a resync while 203's two contacts ring for 205, when the second contact answers, then answered.

        Adopted legs are rebuilt from their AppDial channels (§3) and then follow the normal rules: every
        AppDial channel of 203 belongs to the leg, so the DialEnd ANSWER of either one answers it.
        """
        sample = (FIXTURES / "coreshowchannels_response_sample.txt").read_text("utf-8")
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


class TestMissedDuringOutage:
    def outage(self, state: int) -> tuple[Pbx, CallTracker, Chan, Chan]:
        """201 and 202's channels are seen; the link drops; DialBegin (and more) is missed; resync at `state`."""
        pbx = Pbx()
        a = pbx.channel("PJSIP/201-00000001", state=4, exten="202")
        b = pbx.channel("PJSIP/202-00000002", a)
        tracker = CallTracker(MappingConfig())
        assert [item for event in pbx.events for item in tracker.feed(event)] == []
        tracker.connection_lost(pbx.now)
        pbx.events.clear()
        pbx.wait(4)
        b.state = state
        lines = [snapshot_line(a, "Dial", "PJSIP/202,20", "00:00:04"), snapshot_line(b, "AppDial", "(Outgoing Line)",
                                                                                      "00:00:04")]  # fmt: skip
        assert tracker.resync(lines, pbx.now) == []
        return pbx, tracker, a, b

    def test_dialbegin_missed_then_busy(self) -> None:
        """Given both channels known and their DialBegin missed in an outage, when 202 is busy, then its hangup.

        §3 Resync: legs are rebuilt from AppDial channels; a channel we knew but never saw dialed is no
        different from one we did not know. The call then follows the normal rules: call_hangup BUSY, unanswered.
        """
        pbx, tracker, a, b = self.outage(5)
        pbx.request(b, "17", "486")
        pbx.dial("DialEnd", a, b, DialStatus="BUSY")
        pbx.hangup(b, "17")
        pbx.hangup(a)
        emitted = [item for event in pbx.events for item in tracker.feed(event)]
        assert names(emitted) == [("call_hangup", "202"), (UNANSWERED, "202")]
        assert last(emitted, "call_hangup")["hangup_by"] == "callee"

    def test_answer_missed(self) -> None:
        """Given the DialBegin and the answer missed in an outage (202 Up in the snapshot), then call_answered.

        §3 Resync: an Up AppDial channel is answered, with the resync moment as its answer time.
        """
        pbx, tracker, a, b = self.outage(6)
        pbx.wait(10)
        pbx.hangup(a)
        pbx.hangup(b)
        emitted = [item for event in pbx.events for item in tracker.feed(event)]
        assert names(emitted) == [(ANSWERED, "202")]
        assert last(emitted, ANSWERED)["talk_duration"] == "10"
