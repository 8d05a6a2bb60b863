"""AMI over TLS (docs/security.md, "AMI over TLS"): the simulator serves TLS on 127.0.0.1 with a throwaway CA and
server certificate made by the test (tests/security/certs.py); the agent verifies the certificate by default,
and a certificate it does not accept is one plain line naming the host and the reason, never a traceback.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from agent.ami.events import AmiEvent
from agent.cli.checkconfig import check_config
from agent.devtools.simulator import AmiSimulator, server_context
from agent.settings import SettingsError, load_settings
from tests.security.certs import Authority, ServerCert, authority, server_cert
from tests.security.peers import settled
from tests.support.agent_runner import Daemon
from tests.support.ami import running_link
from tests.support.paths import ROOT, TRACES
from tests.support.polling import WAIT, eventually
from tests.support.settings import agent_settings

TRACE = TRACES / "01_internal_answered_caller_hangup.ami"

def trace_names() -> list[str]:
    """The event names of the trace, in order, read from its `Event:` lines."""
    lines = TRACE.read_text(encoding="utf-8").splitlines()
    return [line.removeprefix("Event: ").strip() for line in lines if line.startswith("Event: ")]

NOT_ACCEPTED = "TLS certificate not accepted"


@pytest.fixture
def ca(tmp_path: Path) -> Authority:
    return authority(tmp_path)


@pytest.fixture
def other_ca(tmp_path: Path) -> Authority:
    return authority(tmp_path, "Some other CA")


def tls_simulator(cert: ServerCert) -> AmiSimulator:
    return AmiSimulator([TRACE], speed=0, tls=server_context(cert.cert_file, cert.key_file))


async def refusal(cert: ServerCert, caplog: pytest.LogCaptureFixture, **settings: Any) -> str:
    """The client's last error once it tried, and failed, to connect over TLS; its log has no traceback."""
    caplog.set_level(logging.WARNING, logger="agent.ami")
    async with running_link(tls_simulator(cert), tls=True, **settings) as link:
        await eventually(lambda: link.client.status().failed_attempts >= 1, WAIT, "a failed attempt")
        assert not link.client.connected
        error = link.client.status().last_error
    records = [r for r in caplog.records if r.name.startswith("agent.ami")]
    assert records
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in records)
    assert f"AMI: {error}" in [r.getMessage() for r in records]
    return error


class TestTlsClient:
    async def test_verified(self, tmp_path: Path, ca: Authority) -> None:
        """Given the simulator serving TLS with a certificate for 127.0.0.1 from the test's CA, and the agent
        trusting that CA, then the client logs in, resyncs and reads every event of the trace."""
        simulator = tls_simulator(server_cert(ca, tmp_path))
        async with running_link(simulator, tls=True, tls_ca_file=ca.file) as link:
            await link.up()
            while len(events := [m for m in link.received if isinstance(m, AmiEvent)]) < len(trace_names()):
                await link.next()
            assert link.client.connected
        assert [event.name for event in events] == trace_names()

    async def test_unknown_ca(self, tmp_path: Path, ca: Authority, other_ca: Authority,
                              caplog: pytest.LogCaptureFixture) -> None:
        """Given a certificate from a CA the agent does not trust (another CA file), then no login happens and
        the error says so in one line naming the host: `unable to get local issuer certificate`."""
        cert = server_cert(ca, tmp_path)
        error = await refusal(cert, caplog, tls_ca_file=other_ca.file)
        assert error.startswith("cannot connect to 127.0.0.1:")
        assert error.endswith(f": {NOT_ACCEPTED}: unable to get local issuer certificate")

    async def test_system_store(self, tmp_path: Path, ca: Authority, caplog: pytest.LogCaptureFixture) -> None:
        """Given no CA file, then the system's trusted CAs are used, and the test's own CA is not one of them."""
        error = await refusal(server_cert(ca, tmp_path), caplog)
        assert error.endswith(f": {NOT_ACCEPTED}: unable to get local issuer certificate")

    async def test_wrong_name(self, tmp_path: Path, ca: Authority, caplog: pytest.LogCaptureFixture) -> None:
        """Given a certificate from the trusted CA but for another host (pbx.example), then it is refused
        because it does not name 127.0.0.1."""
        cert = server_cert(ca, tmp_path, names=("pbx.example",))
        error = await refusal(cert, caplog, tls_ca_file=ca.file)
        assert f": {NOT_ACCEPTED}: IP address mismatch, certificate is not valid for '127.0.0.1'" in error

    async def test_expired(self, tmp_path: Path, ca: Authority, caplog: pytest.LogCaptureFixture) -> None:
        """Given a certificate from the trusted CA that expired yesterday, then it is refused as expired."""
        error = await refusal(server_cert(ca, tmp_path, expired=True), caplog, tls_ca_file=ca.file)
        assert error.endswith(f": {NOT_ACCEPTED}: certificate has expired")

    async def test_plain_server(self, caplog: pytest.LogCaptureFixture) -> None:
        """Given TLS on and a plain-TCP AMI server on the port, then the error says the TLS handshake failed."""
        caplog.set_level(logging.WARNING, logger="agent.ami")
        async with running_link(AmiSimulator([TRACE], speed=0), tls=True) as link:
            await eventually(lambda: link.client.status().failed_attempts >= 1, WAIT, "a failed attempt")
            error = link.client.status().last_error
        assert "TLS handshake failed: wrong version number" in error

    async def test_verification_off(self, tmp_path: Path, ca: Authority, other_ca: Authority,
                                    caplog: pytest.LogCaptureFixture) -> None:
        """Given EVENT_AGENT_AMI__TLS_VERIFY=false and a certificate from an untrusted CA, then the client logs
        in over TLS, and the log warns that the certificate is not checked."""
        caplog.set_level(logging.WARNING, logger="agent.ami")
        simulator = tls_simulator(server_cert(ca, tmp_path))
        async with running_link(simulator, tls=True, tls_verify=False, tls_ca_file=other_ca.file) as link:
            await link.up()
            assert link.client.connected
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("without checking its certificate (EVENT_AGENT_AMI__TLS_VERIFY=false)" in w for w in warnings)


class TestTlsSettings:
    def test_port_5039(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Given EVENT_AGENT_AMI__TLS=true and no port, then the port is Asterisk's TLS port 5039; a port given
        is kept; without TLS the port stays 5038."""
        monkeypatch.setenv("EVENT_AGENT_AMI__TLS", "true")
        assert load_settings().ami.port == 5039
        monkeypatch.setenv("EVENT_AGENT_AMI__PORT", "6039")
        assert load_settings().ami.port == 6039
        monkeypatch.delenv("EVENT_AGENT_AMI__PORT")
        monkeypatch.setenv("EVENT_AGENT_AMI__TLS", "false")
        assert load_settings().ami.port == 5038

    @pytest.mark.parametrize(("content", "reason"), [
        (None, "cannot read {file}: No such file or directory"),
        (b"not a certificate\n", "no PEM certificate in {file}"),
    ])
    def test_bad_ca_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes | None,
                         reason: str) -> None:
        """Given a CA file that is missing or holds no certificate, then the settings are invalid (exit 78) with
        one line naming the variable and the reason."""
        file = tmp_path / "ca.pem"
        if content is not None:
            file.write_bytes(content)
        monkeypatch.setenv("EVENT_AGENT_AMI__TLS_CA_FILE", str(file))
        with pytest.raises(SettingsError) as raised:
            load_settings()
        assert raised.value.problems == [f"EVENT_AGENT_AMI__TLS_CA_FILE: Value error, {reason.format(file=file)}"]


class TestCheckConfig:
    async def test_probe_over_tls(self, tmp_path: Path, ca: Authority, other_ca: Authority) -> None:
        """Given the TLS simulator, then check-config logs in over TLS with the right CA (exit 0), and with another
        CA says it cannot reach AMI because the certificate was not accepted (exit 1)."""
        simulator = tls_simulator(server_cert(ca, tmp_path))
        port = await simulator.start()
        try:
            good, bad = io.StringIO(), io.StringIO()
            trusted = agent_settings(tmp_path, port, ami={"tls": True, "tls_ca_file": ca.file, "secret": "s"})
            untrusted = agent_settings(tmp_path, port, ami={"tls": True, "tls_ca_file": other_ca.file, "secret": "s"})
            status_good = await check_config(trusted, good, observe_s=0.5)
            status_bad = await check_config(untrusted, bad, observe_s=0.5)
        finally:
            await simulator.stop()
        assert f"logged in to 127.0.0.1:{port} as 'event-agent'" in good.getvalue()
        assert "CoreShowChannels allowed" in good.getvalue()
        assert status_good == 0, good.getvalue()
        assert (f"cannot reach AMI at 127.0.0.1:{port}: {NOT_ACCEPTED}: unable to get local issuer certificate "
                "(check EVENT_AGENT_AMI__TLS_CA_FILE" in bad.getvalue())
        assert f"settings valid: AMI 127.0.0.1:{port} over TLS" in good.getvalue()
        assert status_bad == 1


@asynccontextmanager
async def simulate_process(cert: ServerCert) -> AsyncIterator[int]:
    """`event-agent simulate TRACE --tls-cert --tls-key` as a process; its port."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "simulate", str(TRACE), "--port", "0", "--speed", "0", "--loop",
        "--tls-cert", str(cert.cert_file), "--tls-key", str(cert.key_file), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), WAIT)).decode()
        assert line.startswith("AMI simulator listening on 127.0.0.1:"), line
        yield int(line.split(":")[1].split()[0])
    finally:
        process.terminate()
        await process.wait()


@pytest.mark.heavy  # the agent as a process
class TestDaemonOverTls:
    async def test_run_and_bad_certificate(self, tmp_path: Path, ca: Authority, other_ca: Authority) -> None:
        """Given `event-agent simulate --tls-cert/--tls-key` and `event-agent run` with EVENT_AGENT_AMI__TLS=true:
        trusting the CA, the agent is connected and reads events; trusting another CA, its status shows the
        refused certificate as `last_error` and its log has that one line and no traceback."""
        async with simulate_process(server_cert(ca, tmp_path)) as port:
            good = await Daemon(state_dir(tmp_path, "good"), port, ami__tls="true",
                                ami__tls_ca_file=str(ca.file)).start()
            bad = await Daemon(state_dir(tmp_path, "bad"), port, ami__tls="true",
                               ami__tls_ca_file=str(other_ca.file)).start()
            try:
                status = await settled(good, lambda ami: ami["connected"] and ami["events"] > 0, "events over TLS")
                refused = await settled(bad, lambda ami: bool(ami["last_error"]), "a refused certificate")
            finally:
                assert await good.stop() == 0
                assert await bad.stop() == 0
        assert status["ami"]["last_error"] == ""
        expected = f"cannot connect to 127.0.0.1:{port}: {NOT_ACCEPTED}: unable to get local issuer certificate"
        assert refused["ami"]["last_error"] == expected
        assert not refused["ami"]["connected"]
        assert f"WARNING agent.ami.client: AMI: {expected}" in bad.log_text()
        assert "Traceback" not in bad.log_text()


def state_dir(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    return path
