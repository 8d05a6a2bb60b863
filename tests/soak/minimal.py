"""The minimal pipeline the daemon's latency is compared with (as bench/delivery.py defines it): AMI client ->
tracker -> render -> aiohttp, no storage, no retry, one process.

    python -m tests.soak.minimal AMI_PORT RECEIVER_PORT

The five actions are those tests/reliability/harness.configure(per_event=True) stores: action `a<i>` for the
i-th event of EVENT_ORDER. Prints `READY` once logged in and resynced; runs until SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

import aiohttp

from agent.ami.client import AmiClient
from agent.ami.events import AmiEvent, AmiMessage, ConnectionUp
from agent.mapping.catalog import SystemEvent
from agent.mapping.config import compile_mapping
from agent.mapping.tracker import CallTracker, skim
from agent.settings import AmiSettings, Settings
from agent.store.model import Action
from agent.webhooks.request import render
from tests.reliability.harness import EVENT_ORDER, _action


async def main(ami_port: int, rx_port: int) -> None:
    actions: dict[str, Action] = {key: _action(f"a{n}", rx_port) for n, key in enumerate(EVENT_ORDER)}
    queue: asyncio.Queue[AmiMessage] = asyncio.Queue()
    client = AmiClient(AmiSettings(port=ami_port), queue, time.time, skim=skim)
    tracker = CallTracker(compile_mapping(Settings().mapping))
    tasks: set[asyncio.Task[None]] = set()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=20)) as session:

        async def send(system: SystemEvent) -> None:
            request = render(actions[system.name], system.params)
            async with session.request(request.method, request.url, data=request.body or None) as response:
                await response.read()

        async def pump() -> None:
            while True:
                message = await queue.get()
                if isinstance(message, ConnectionUp):
                    tracker.resync(message.channels, message.resync_at)
                    print("READY", flush=True)
                for system in tracker.feed(message) if isinstance(message, AmiEvent) else []:
                    task = asyncio.create_task(send(system))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)

        runners = [asyncio.create_task(client.run()), asyncio.create_task(pump())]
        await stop.wait()
        await client.close()
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, *tasks, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
