"""The AMI simulator as its own process, so a test can SIGKILL it (Asterisk gone) or SIGSTOP it (half-open link).

    python -m tests.reliability.simproc --port P [--resume-at N] [--pause-at M] [--loop] TRACE...

Streams events `N` (included) to `M` (excluded) of the traces to each client after its Login; CoreShowChannels
answers with the channels live at the point reached, counting the events before `N` as having happened while
nobody was connected. Prints `READY <port>` once listening.

Commands on stdin, one a line, each answered `OK <time.time()>` on stdout: `pause M` / `pause none` (move the
limit), `drop` / `drop N` (close every client connection now; with N, later logins start at event N),
`inject FILE` (write the file's bytes to every logged-in client now; the time is taken after the write).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from pathlib import Path

from agent.devtools.simulator import AmiSimulator


async def serve(args: argparse.Namespace) -> None:
    simulator = AmiSimulator([Path(p) for p in args.traces], port=args.port, speed=args.speed, loop=args.loop)
    if args.resume_at:
        simulator.drop_clients(resume_at=args.resume_at)
    if args.pause_at is not None:
        simulator.pause_at(args.pause_at)
    port = await simulator.start()
    print(f"READY {port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    commands = asyncio.create_task(obey(simulator))
    await stop.wait()
    commands.cancel()
    await simulator.stop()


async def obey(simulator: AmiSimulator) -> None:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().split():
        if line[0] == "pause":
            simulator.pause_at(None if line[1] == "none" else int(line[1]))
        elif line[0] == "drop":
            simulator.drop_clients(resume_at=int(line[1]) if len(line) > 1 else None)
        elif line[0] == "inject":
            simulator.inject(await asyncio.to_thread(Path(line[1]).read_bytes))
        print(f"OK {time.time():.6f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("traces", nargs="+")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--resume-at", type=int, default=0)
    parser.add_argument("--pause-at", type=int, default=None)
    parser.add_argument("--speed", type=float, default=0.0)
    parser.add_argument("--loop", action="store_true")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
