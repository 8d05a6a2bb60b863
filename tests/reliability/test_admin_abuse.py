"""The admin API of a running daemon (`event-agent run` as a process) under abuse: raw HTTP byte fuzzing of its
socket never gets a 5xx, and malicious Postman files (deep nesting, huge strings, wrong types, invalid UTF-8,
over the size limit) are refused with a 4xx and the one error shape; afterwards the daemon is healthy and
nothing was imported.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.report import Row, record
from tests.support.agent_runner import Daemon
from tests.support.receiver import free_port
from tests.support.settings import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
PATHS = ["/api/v1/status", "/api/v1/actions", "/api/v1/actions/1", "/api/v1/events/call_answered",
         "/api/v1/postman/preview", "/api/v1/postman/import", "/api/v1/activity", "/api/v1/parameters", "/healthz",
         "/metrics", "/", "/api/v1/settings", "/api/v1/actions/1/test", "/api/v1/actions/1/dry-run"]
STATUS_LINE = b"HTTP/1.1 "


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("abuse")


@pytest.fixture
async def daemon(state: Path) -> AsyncIterator[Daemon]:
    agent = await Daemon(state, free_port(), LOG_LEVEL="WARNING").start()
    try:
        yield agent
    finally:
        assert await agent.stop() == 0


async def raw_exchange(port: int, data: bytes) -> int | None:
    """Send raw bytes to the admin port; the status code of the answer, or None when it just closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(10):
            head = await reader.read(64)
    except (ConnectionError, TimeoutError):
        return None
    finally:
        writer.close()
    return int(head[9:12]) if head.startswith(STATUS_LINE) and head[9:12].isdigit() else None


def request_bytes(method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes, auth: bool) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(errors="replace"), b"Host: 127.0.0.1"]
    if auth:
        lines.append(f"Authorization: Bearer {TOKEN}".encode())
    lines += [key + b": " + value for key, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


raw_requests = st.one_of(
    st.binary(max_size=300),
    st.builds(
        request_bytes,
        st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "BREW", "G\x00T"]),
        st.one_of(st.sampled_from(PATHS), st.text(max_size=40).map(lambda t: "/" + t)),
        st.lists(st.tuples(
            st.sampled_from([b"Content-Length", b"Content-Type", b"Transfer-Encoding", b"Authorization",
                             b"X-\xff", b"Expect", b"Connection"]),
            st.one_of(st.binary(max_size=30).filter(lambda v: b"\r" not in v and b"\n" not in v),
                      st.sampled_from([b"-1", b"99999999999", b"chunked", b"application/json", b"100-continue",
                                       b"Bearer x", b"close"]))), max_size=4),
        st.binary(max_size=200),
        st.booleans(),
    ),
)


def deep(levels: int) -> bytes:
    """A collection with `levels` nested folders (built as text: json.dumps itself would recurse too deep)."""
    leaf = b'{"name": "leaf", "request": {"method": "GET", "url": "http://127.0.0.1/x"}}'
    head = b'{"info": {"name": "deep", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/"}, "item": ['
    return head + b'{"name": "f", "item": [' * levels + leaf + b"]}" * levels + b"]}"


def collection(**item: Any) -> dict[str, Any]:
    return {"info": {"name": "c", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/"},
            "item": [{"name": "r", "request": {"method": "GET", "url": "http://127.0.0.1/x"}, **item}]}


MALICIOUS: dict[str, bytes] = {
    "json nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "folders 5,000 deep": deep(5000),
    "9 MiB name": json.dumps(collection(name="n" * (9 << 20))).encode(),
    "9 MiB url": json.dumps({**collection(), "item": [{"name": "r", "request": {
        "method": "GET", "url": "http://127.0.0.1/" + "u" * (9 << 20)}}]}).encode(),
    "11 MiB file": b'{"info": {"name": "' + b"x" * (11 << 20) + b'"}, "item": []}',
    "item is a string": json.dumps({**collection(), "item": "nope"}).encode(),
    "request is a list": json.dumps(collection(request=[1, 2, 3])).encode(),
    "url is a number": json.dumps(collection(request={"method": "GET", "url": 12345})).encode(),
    "header list of ints": json.dumps(collection(request={"method": "GET", "url": "http://x/", "header": [1, 2]}))
    .encode(),
    "method is an object": json.dumps(collection(request={"method": {"a": 1}, "url": "http://x/"})).encode(),
    "invalid utf-8": b'{"info": {"name": "\xff\xfe"}, "item": []}',
    "not json": b"\x00\x01 not json",
    "top level array": b"[]",
}


def refused(status: int, shape: dict[str, Any], size: int, sent: int) -> bool:
    """Handled cleanly: a 4xx with the error shape, or a 2xx that handles the item (a huge name is shortened, a
    huge URL skipped) and answers no more than it was sent (the preview echoes a skipped URL whole)."""
    if 400 <= status < 500:
        return "error" in shape
    return status in (200, 201) and size <= sent + 64 * 1024


class TestAdminAbuse:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow])
    @given(data=raw_requests)
    async def test_raw_fuzz(self, daemon: Daemon, data: bytes) -> None:
        """Given random bytes and half-valid HTTP requests on the admin socket, when sent, then no answer is a
        5xx and the daemon still answers /healthz."""
        status = await raw_exchange(daemon.api_port, data)
        assert status is None or status < 500
        assert await daemon.answers()

    @pytest.mark.parametrize("path", ["/api/v1/actions", "/api/v1/parameters", "/api/v1/settings"])
    async def test_deep_json_body(self, daemon: Daemon, path: str) -> None:
        """Given a JSON body nested 300,000 levels deep (600 kB, under the 1 MiB limit), when sent to an ordinary
        endpoint, then 400 with the error shape, not a 500 from the JSON decoder's RecursionError."""
        body = b"[" * 300_000 + b"]" * 300_000
        method = "PUT" if path.endswith("settings") else "POST"
        async with aiohttp.ClientSession(headers=AUTH) as http, http.request(
            method, f"http://127.0.0.1:{daemon.api_port}{path}", data=body,
            headers={"Content-Type": "application/json"},
        ) as reply:
            assert reply.status == 400
            assert "error" in await reply.json()

    async def test_malicious_postman(self, daemon: Daemon) -> None:
        """Given malicious Postman files (deep nesting, huge strings, wrong types, invalid UTF-8, over 10 MiB),
        when previewed and imported through the running daemon, then each is refused with a 4xx and the error
        shape or handled per item (huge names shortened, huge URLs skipped), nothing enormous is stored or echoed,
        and the daemon stays healthy."""
        statuses: Counter[int] = Counter()
        base = f"http://127.0.0.1:{daemon.api_port}/api/v1"
        async with aiohttp.ClientSession(headers=AUTH) as http:
            for name, body in MALICIOUS.items():
                for path, payload in (("/postman/preview", body),
                                      ("/postman/import", b'{"all": true, "collection": ' + body + b"}")):
                    async with http.post(base + path, data=io.BytesIO(payload),
                                         headers={"Content-Type": "application/json"}) as reply:
                        statuses[reply.status] += 1
                        text = await reply.read()
                        assert reply.status < 500, (name, path, reply.status)
                        clean = refused(reply.status, json.loads(text), len(text), len(payload))
                        assert clean, (name, path, text[:300])
            async with http.get(base + "/actions?per_page=500") as reply:
                actions = await reply.read()
        assert len(actions) < 256 * 1024
        assert await daemon.answers()
        record(Row("malicious Postman files", len(MALICIOUS) * 2, 0, 0, 0, 0,
                   figures=", ".join(f"{count} x {status}" for status, count in sorted(statuses.items()))))
