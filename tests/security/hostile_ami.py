"""A hostile (or badly broken) AMI server on 127.0.0.1, as its own process, for tests/security.

    python -m tests.security.hostile_ami MODE [--amount MB]

Prints `READY <port>` once listening, then for each client connection k (from 1): `CONNECTED k`, `WAITING k`
when its hostile part is due (it starts once a line `go` arrives on stdin, so the test can read the agent's
memory first), `SENT k` when a bounded flood is over, `CLOSED k` when the connection ends. Only the first
connection is hostile; later ones get a quiet, well-behaved AMI (Login accepted, Ping answered, an empty
CoreShowChannels list), so the test sees the agent reconnect and settle.

Modes (the hostile part of connection 1):
- `banner`: `Asterisk Call Manager/` and then an endless banner line, never a CRLF;
- `resync`: answers CoreShowChannels with `EventList: start` and then CoreShowChannel entries forever;
- `held`: answers CoreShowChannels with `EventList: start` and then ordinary events forever (the agent holds
  events that arrive during its resync);
- `stall`: answers CoreShowChannels with `EventList: start` and nothing more (Pings are still answered);
- `frame`: after a normal resync, one frame whose header line never ends (`--amount` MB of it), then the
  frame's end and a quiet link;
- `headers`: after a normal resync, `--amount` MB of events of 5,000 tiny headers each, then a quiet link.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import sys
from collections.abc import Iterator

from agent.ami.wire import FrameDecoder

BANNER = b"Asterisk Call Manager/5.0.0\r\n"
MB = 1024 * 1024
ENTRY = (
    "Event: CoreShowChannel\r\nActionID: {aid}\r\nChannel: PJSIP/{ext}-{n:08x}\r\nChannelState: 6\r\n"
    "ChannelStateDesc: Up\r\nCallerIDNum: {ext}\r\nCallerIDName: Flood {n}\r\nConnectedLineNum: 202\r\n"
    "ConnectedLineName: Bob Brown\r\nLanguage: en\r\nAccountCode: \r\nContext: internal\r\nExten: 202\r\n"
    "Priority: 1\r\nUniqueid: 1700000000.{n}\r\nLinkedid: 1700000000.{n}\r\nApplication: Dial\r\n"
    "ApplicationData: PJSIP/202,30\r\nDuration: 00:00:05\r\nBridgeId: \r\n\r\n"
)
EVENT = (
    "Event: Newstate\r\nPrivilege: call,all\r\nChannel: PJSIP/201-{n:08x}\r\nChannelState: 5\r\n"
    "ChannelStateDesc: Ringing\r\nCallerIDNum: 201\r\nUniqueid: 1700000001.{n}\r\nLinkedid: 1700000001.{n}\r\n\r\n"
)


def frame(*lines: tuple[str, str]) -> bytes:
    return "".join(f"{key}: {value}\r\n" for key, value in lines).encode() + b"\r\n"


class Peer:
    def __init__(self, mode: str, amount: int) -> None:
        self.mode = mode
        self.amount = amount
        self.connections = 0
        self.go = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        k = self.connections
        hostile = k == 1
        say(f"CONNECTED {k}")
        try:
            if hostile and self.mode == "banner":
                await self.wait(k)
                writer.write(b"Asterisk Call Manager/")
                await flood(writer, itertools.repeat(b"x" * 65536))
            writer.write(BANNER)
            await self.answer_actions(reader, writer, k, hostile)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()
            say(f"CLOSED {k}")

    async def wait(self, k: int) -> None:
        say(f"WAITING {k}")
        await self.go.wait()

    async def answer_actions(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, k: int,
                             hostile: bool) -> None:
        decoder = FrameDecoder(expect_banner=False)
        while data := await reader.read(65536):
            for pairs in decoder.feed(data):
                action = dict(pairs)
                name, aid = action.get("Action", "").lower(), action.get("ActionID", "")
                if name == "coreshowchannels" and hostile and self.mode in {"resync", "held"}:
                    await self.wait(k)
                    writer.write(frame(("Response", "Success"), ("ActionID", aid), ("EventList", "start"),
                                       ("Message", "Channels will follow")))
                    await flood(writer, entries(aid) if self.mode == "resync" else events())
                if name == "coreshowchannels" and hostile and self.mode == "stall":
                    writer.write(frame(("Response", "Success"), ("ActionID", aid), ("EventList", "start")))
                    continue
                writer.write(reply(name, aid))
                if name == "coreshowchannels" and hostile and self.mode in {"frame", "headers"}:
                    await self.wait(k)
                    await self.bounded_flood(writer, k)

    async def bounded_flood(self, writer: asyncio.StreamWriter, k: int) -> None:
        if self.mode == "frame":
            writer.write(b"Event: Newchannel\r\nCallerIDName: ")
            chunks = itertools.repeat(b"a" * MB, self.amount)
            await flood(writer, chunks)
            writer.write(b"\r\n\r\n")
        else:
            one = b"Event: Junk\r\n" + b"".join(b"h%d: v\r\n" % i for i in range(5000)) + b"\r\n"
            await flood(writer, itertools.repeat(one * (MB // len(one)), self.amount))
        await writer.drain()
        say(f"SENT {k}")


def reply(name: str, aid: str) -> bytes:
    tag = ("ActionID", aid)
    if name == "coreshowchannels":
        return frame(("Response", "Success"), tag, ("EventList", "start"), ("Message", "Channels will follow")) + \
            frame(("Event", "CoreShowChannelsComplete"), tag, ("EventList", "Complete"), ("ListItems", "0"))
    if name == "login":
        return frame(("Response", "Success"), tag, ("Message", "Authentication accepted"))
    if name == "ping":
        return frame(("Response", "Success"), tag, ("Ping", "Pong"), ("Timestamp", "1700000000.000000"))
    if name == "logoff":
        return frame(("Response", "Goodbye"), tag, ("Message", "Thanks for all the fish."))
    return frame(("Response", "Error"), tag, ("Message", "Invalid/unknown command"))


def entries(aid: str) -> Iterator[bytes]:
    for start in itertools.count(0, 100):
        yield "".join(ENTRY.format(aid=aid, ext=200 + n % 50, n=n) for n in range(start, start + 100)).encode()


def events() -> Iterator[bytes]:
    for start in itertools.count(0, 100):
        yield "".join(EVENT.format(n=n) for n in range(start, start + 100)).encode()


async def flood(writer: asyncio.StreamWriter, chunks: Iterator[bytes]) -> None:
    """Write the chunks as fast as the client reads them (until it goes away)."""
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()


def say(line: str) -> None:
    print(line, flush=True)


async def obey(peer: Peer) -> None:
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip() == b"go":
            peer.go.set()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["banner", "resync", "held", "stall", "frame", "headers"])
    parser.add_argument("--amount", type=int, default=256, help="MB of a bounded flood")
    args = parser.parse_args()
    peer = Peer(args.mode, args.amount)
    server = await asyncio.start_server(peer.serve, "127.0.0.1", 0)
    say(f"READY {server.sockets[0].getsockname()[1]}")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    commands = asyncio.create_task(obey(peer))
    await stop.wait()
    commands.cancel()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
