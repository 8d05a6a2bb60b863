"""A small scripted PBX for tracker tests: emits AMI events with the full header sets Asterisk 22 sends.

The header blocks are copied from the recorded traces (tests/fixtures/ami_traces/04_internal_busy_486.ami and
friends): every channel event carries the 14 common channel headers, Dial events repeat them with the `Dest`
prefix, Hangup adds `Cause`/`Cause-txt`. Ids are `epoch.seq` like Asterisk's; a clock advances with `wait()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

from agent.ami.events import AmiEvent
from agent.mapping.catalog import SystemEvent
from agent.mapping.config import MappingConfig
from agent.mapping.tracker import CallTracker

T0 = 1795880000.0
STATES = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
CAUSES = {"0": "Unknown", "3": "No route to destination", "16": "Normal Clearing", "17": "User busy",
          "21": "Call Rejected", "26": "Answered elsewhere", "127": "Interworking, unspecified"}  # fmt: skip


@dataclass
class Chan:
    """One channel as the scripted PBX knows it (mutable: state, caller id and Linkedid change)."""

    name: str
    uniqueid: str
    linkedid: str
    state: int = 0
    cid_num: str = ""
    cid_name: str = ""
    context: str = "from-internal"
    exten: str = "s"
    priority: int = 1

    def block(self, prefix: str = "") -> dict[str, str]:
        """The 14 common channel headers (docs/ami.md §1.1), `prefix` "Dest" for the dialed side."""
        base = {
            "Channel": self.name,
            "ChannelState": str(self.state),
            "ChannelStateDesc": STATES.get(self.state, "Unknown"),
            "CallerIDNum": self.cid_num or "<unknown>",
            "CallerIDName": self.cid_name or "<unknown>",
            "ConnectedLineNum": "<unknown>",
            "ConnectedLineName": "<unknown>",
            "Language": "en",
            "AccountCode": "",
            "Context": self.context,
            "Exten": self.exten,
            "Priority": str(self.priority),
            "Uniqueid": self.uniqueid,
            "Linkedid": self.linkedid,
        }
        return {prefix + key: value for key, value in base.items()}


@dataclass
class Pbx:
    """Scripted AMI events in order; `run()` feeds them to a tracker and returns what it emitted."""

    config: MappingConfig = field(default_factory=MappingConfig)
    now: float = T0
    seq: int = 100
    events: list[AmiEvent] = field(default_factory=list)

    def wait(self, seconds: float) -> None:
        self.now += seconds

    def emit(self, name: str, **headers: str) -> None:
        """One event, stamped 1 ms after the previous one (Asterisk's events of one step share a millisecond)."""
        self.now += 0.001
        full = {"Event": name, "Privilege": "call,all", "Timestamp": f"{self.now:.6f}", **headers}
        self.events.append(AmiEvent(headers=MappingProxyType(full), received_at=self.now))

    def channel(self, name: str, linked: Chan | None = None, state: int = 0, uid: str = "", **values: str) -> Chan:
        """Newchannel: a new Uniqueid (or `uid`: an Originate ChannelId); Linkedid the creator's, else its own."""
        self.seq += 1
        uniqueid = uid or f"{int(T0)}.{self.seq}"
        number = name.split("/", 1)[-1].rsplit("-", 1)[0]
        chan = Chan(name, uniqueid, linked.linkedid if linked else uniqueid, state, number, f"Phone {number}")
        for key, value in values.items():
            setattr(chan, key, value)
        self.emit("Newchannel", **chan.block())
        return chan

    def offer(self, callee: str = "202", contacts: int = 1, *, ring: bool = True) -> tuple[Chan, list[Chan]]:
        """201 dials `callee`: 201's channel (state Ring), then one channel per contact of `callee`, each offered
        by a DialBegin and, with `ring`, ringing; the caller's channel and the contacts' channels."""
        caller = self.channel("PJSIP/201-00000001", state=4, exten=callee)
        legs = [self.channel(f"PJSIP/{callee}-{n:08x}", caller) for n in range(2, 2 + contacts)]
        for leg in legs:
            self.dial_begin(caller, leg, callee)
        for leg in legs if ring else []:
            self.ringing(caller, leg)
        return caller, legs

    def local(self, target: str, linked: Chan) -> tuple[Chan, Chan]:
        """A Local channel pair `Local/target-0000000n;1` and `;2` (both inherit the creator's Linkedid)."""
        base = f"Local/{target}-{self.seq:08x}"
        one = self.channel(base + ";1", linked, exten=target.split("@", maxsplit=1)[0])
        two = self.channel(base + ";2", linked, exten=target.split("@", maxsplit=1)[0])
        self.emit("LocalBridge", **one.block("LocalOne"), **two.block("LocalTwo"), Context="from-internal")
        return one, two

    def state(self, chan: Chan, state: int) -> None:
        chan.state = state
        self.emit("Newstate", **chan.block())

    def dial(self, kind: str, caller: Chan | None, dest: Chan, **extra: str) -> None:
        """DialBegin/DialState/DialEnd; `caller` None is an Originate leg (no Channel headers)."""
        headers = dest.block("Dest")
        if caller is not None:
            headers = {**caller.block(), **headers}
        self.emit(kind, **headers, **extra)

    def dial_begin(self, caller: Chan | None, dest: Chan, dial_string: str) -> None:
        self.dial("DialBegin", caller, dest, DialString=dial_string)

    def ringing(self, caller: Chan | None, dest: Chan) -> None:
        """The callee rings: Newstate 5 then DialState RINGING, as in the traces."""
        self.state(dest, 5)
        self.dial("DialState", caller, dest, DialStatus="RINGING")

    def answer(self, caller: Chan | None, dest: Chan) -> None:
        """The callee answers: Newstate 6, DialEnd ANSWER, then the caller goes Up."""
        self.state(dest, 6)
        self.dial("DialEnd", caller, dest, DialStatus="ANSWER")
        if caller is not None and caller.state != 6:
            self.state(caller, 6)

    def app(self, chan: Chan, application: str, data: str) -> None:
        chan.priority += 1
        self.emit("Newexten", **chan.block(), Extension=chan.exten, Application=application, AppData=data)

    def var(self, chan: Chan, variable: str, value: str) -> None:
        self.emit("VarSet", **chan.block(), Variable=variable, Value=value)

    def request(self, chan: Chan, cause: str, tech_cause: str = "") -> None:
        """HangupRequest: this side asked to hang up, with a cause (and the SIP code as TechCause)."""
        extra = {"TechCause": tech_cause} if tech_cause else {}
        self.emit("HangupRequest", **chan.block(), Cause=cause, **extra)

    def hangup(self, chan: Chan, cause: str = "16") -> None:
        self.emit("Hangup", **chan.block(), Cause=cause, **{"Cause-txt": CAUSES.get(cause, "Unknown")})

    def bridge(self, bridge: str, *chans: Chan) -> None:
        for count, chan in enumerate(chans, start=1):
            self.emit("BridgeEnter", BridgeUniqueid=bridge, BridgeType="basic", BridgeNumChannels=str(count),
                      **chan.block())  # fmt: skip

    def run(self) -> list[SystemEvent]:
        tracker = CallTracker(self.config)
        emitted = [item for event in self.events for item in tracker.feed(event)]
        assert tracker.calls_in_progress == 0, "every scripted call ends: nothing may be left behind"
        return emitted


def names(emitted: list[SystemEvent]) -> list[tuple[str, str]]:
    return [(item.name, item.params["extension"]) for item in emitted]


def last(emitted: list[SystemEvent], name: str) -> dict[str, str]:
    """The parameters of the last emitted event called `name`."""
    return dict(next(item.params for item in reversed(emitted) if item.name == name))
