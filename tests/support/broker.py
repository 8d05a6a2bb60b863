"""A private RabbitMQ broker for tests: its own process, data directory, free loopback ports and epmd.

Nothing here touches a system service or a fixed port: the broker (Debian's `rabbitmq-server`) runs from a
temporary directory with its AMQP, distribution and epmd ports picked free on 127.0.0.1, and everything it
starts is stopped by pid. `start()`, `stop()` (graceful), `kill()` (SIGKILL), `restart()` and `close()` drive it
for fault tests; a killed or stopped broker starts again on the same data directory and port, so durable
exchanges, queues and persistent messages survive a restart as they would in production.

The broker's one user is `event-agent` with a random password (`Broker.password`), so a test can look for the
password in logs and messages; `guest` does not exist.

The methods block (a start takes about 8 s): an async test calls them through `asyncio.to_thread` so the
event loop, and the publisher under test, keep running meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import pytest

from tests.support.receiver import free_port

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
RABBITMQ_SERVER = RABBITMQ_BIN / "rabbitmq-server"
RABBITMQCTL = RABBITMQ_BIN / "rabbitmqctl"
EPMD = Path("/usr/bin/epmd")
HOST = "127.0.0.1"
USER = "event-agent"
START_TIMEOUT = 90.0  # s: about 8 s when the machine is idle, far more when every core is busy
STOP_TIMEOUT = 30.0
SKIP_REASON = f"{RABBITMQ_SERVER} is not installed (Debian package 'rabbitmq-server'; .ci/run installs it)"


def _group_alive(group: int) -> bool:
    """True while a process of process group `group` is alive (zombies, already dead, do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _parent, process_group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue
        if state != "Z" and int(process_group) == group:
            return True
    return False


async def _opens(url: str) -> None:
    connection = await aio_pika.connect(url, timeout=5)
    await connection.close()


class Broker:
    """One private broker node; `url()` logs in as its user."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.node = f"test-{uuid.uuid4().hex[:12]}@localhost"
        self.user, self.password = USER, f"pw-{uuid.uuid4().hex}"
        self.env = self._environment(free_port(), free_port())
        (root / "plugins").write_text("[].\n")
        (root / "rabbitmq.conf").write_text(f"default_user = {self.user}\ndefault_pass = {self.password}\n")
        self._server: subprocess.Popen[bytes] | None = None
        self._epmd: subprocess.Popen[bytes] | None = None

    def _environment(self, dist_port: int, epmd_port: int) -> dict[str, str]:
        root = str(self.root)
        return {
            **os.environ,
            "HOME": root,
            "RABBITMQ_NODE_IP_ADDRESS": HOST,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_MNESIA_BASE": f"{root}/mnesia",
            "RABBITMQ_LOG_BASE": f"{root}/log",
            "RABBITMQ_PID_FILE": f"{root}/pid",
            "RABBITMQ_ENABLED_PLUGINS_FILE": f"{root}/plugins",
            "RABBITMQ_CONFIG_FILE": f"{root}/rabbitmq.conf",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-start_epmd false",  # ours runs it (below), so we can stop it
            "ERL_EPMD_ADDRESS": HOST,
            "ERL_EPMD_PORT": str(epmd_port),
        }

    def url(self, *, password: str | None = None, vhost: str = "", port: int | None = None) -> str:
        """The AMQP URL of this broker as its user; `password` (percent-encoded as needed) to log in wrongly,
        `vhost` (empty = the default vhost `/`), `port` to go through a `Relay`."""
        secret = self.password if password is None else password
        return f"amqp://{self.user}:{secret}@{HOST}:{port or self.port}/{vhost}"

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.poll() is None

    def start(self) -> None:
        """Start the node (and our epmd, once) and return when it accepts an AMQP login."""
        if self.running:
            return
        if self._epmd is None:
            self._epmd = subprocess.Popen(
                [EPMD, "-address", HOST, "-port", self.env["ERL_EPMD_PORT"]], env=self.env, cwd=self.root,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with (self.root / "server.out").open("ab") as out:
            self._server = subprocess.Popen(
                [RABBITMQ_SERVER], env=self.env, cwd=self.root, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"rabbitmq-server exited while starting:\n{self.output_tail()}")
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()  # listening yet? (quietly)
                asyncio.run(_opens(self.url()))  # then a real login
            except (OSError, aio_pika.exceptions.AMQPError, TimeoutError):
                time.sleep(0.2)
            else:
                return
        raise RuntimeError(f"rabbitmq-server not ready after {START_TIMEOUT:g} s:\n{self.output_tail()}")

    def output_tail(self, lines: int = 30) -> str:
        path = self.root / "server.out"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        """Stop the node gracefully (SIGTERM to the server script, which stops the VM); SIGKILL if it hangs."""
        server = self._server
        if server is None:
            return
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self._reap_group(server)

    def kill(self) -> None:
        """SIGKILL the node's whole process group (the script, the Erlang VM and its helpers): a crash."""
        server = self._server
        if server is not None:
            self._reap_group(server)

    def _reap_group(self, server: subprocess.Popen[bytes]) -> None:
        # The group is the session the server was started in: its id is our child's pid, and only what that
        # child started is in it. The Erlang VM is the script's child, so it is waited for through /proc: a
        # start before it is gone would find the port and the node name still taken.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        deadline = time.monotonic() + STOP_TIMEOUT
        while _group_alive(server.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._server = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def ctl(self, *args: str) -> str:
        """Run `rabbitmqctl` against this node (same environment, so same cookie and epmd) and return its output."""
        done = subprocess.run(
            [RABBITMQCTL, "--quiet", *args], env=self.env, cwd=self.root, capture_output=True, text=True,
            timeout=60, check=False)
        if done.returncode:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr or done.stdout}")
        return done.stdout

    def close(self) -> None:
        """Stop the node and our epmd (both by pid)."""
        self.stop()
        if self._epmd is not None:
            self._epmd.terminate()
            try:
                self._epmd.wait(5)
            except subprocess.TimeoutExpired:
                self._epmd.kill()
                self._epmd.wait()
            self._epmd = None


@contextlib.contextmanager
def running_broker(root: Path) -> Iterator[Broker]:
    """A started broker under `root`, closed on exit; skips the test where RabbitMQ is not installed."""
    if not RABBITMQ_SERVER.exists() or not EPMD.exists():
        pytest.skip(SKIP_REASON)
    broker = Broker(root)
    try:
        broker.start()
        yield broker
    finally:
        broker.close()


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One broker for the whole session (a start costs seconds); use `broker` in tests."""
    with running_broker(tmp_path_factory.mktemp("rabbitmq")) as broker:
        yield broker


@pytest.fixture
def broker(rabbitmq: Broker) -> Broker:
    """The session's broker, running (a fault test before this one may have stopped or killed it)."""
    rabbitmq.start()
    return rabbitmq


class Relay:
    """A loopback TCP relay to the broker that counts the connections it accepted (how often a client dialled)
    and those that ended: `async with Relay(broker.port) as relay:` then connect to `relay.port`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.accepted = 0
        self.ended = 0
        self._change = asyncio.Condition()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> Relay:
        self._server = await asyncio.start_server(self._serve, HOST, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(client_writer)
        try:
            broker_reader, broker_writer = await asyncio.open_connection(HOST, self.target_port)
        except OSError:
            client_writer.close()
            return
        self._writers.add(broker_writer)
        await asyncio.gather(_pipe(client_reader, broker_writer), _pipe(broker_reader, client_writer))
        self._writers -= {client_writer, broker_writer}
        async with self._change:
            self.ended += 1
            self._change.notify_all()

    async def until_ended(self, count: int) -> None:
        """Return once `count` relayed connections have ended (both sides closed)."""
        async with self._change:
            await self._change.wait_for(lambda: self.ended >= count)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
