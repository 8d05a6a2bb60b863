"""Review of the tracker against real-world flows (docs/call-model.md): trunks and technologies.

chan_sip and IAX2 names and dial strings, digit-named trunks, follow-me to a mobile, trunk failover, unanswered
outbound calls, and an attended transfer consulting a mobile. Scripted with tests/support/pbx_script.py.
"""

from __future__ import annotations

import re
from types import MappingProxyType

import pytest

from agent.mapping.channels import dialed_number, target_endpoint
from agent.mapping.config import MappingConfig
from tests.support.pbx_script import Pbx, last, names

UNANSWERED = "call_unanswered"
ANSWERED = "call_answered"


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

        docs/events.md leaves this open: call_answered names "a leg answered by an extension" and call_unanswered
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
