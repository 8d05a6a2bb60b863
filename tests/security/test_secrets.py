"""Secrets stay secret: the activity log, the API, Save & Test, dry runs and every log line (docs/security.md).

Receivers that answer garbage, too many headers, or echo the request back, and a port where nobody listens, all
on 127.0.0.1; the daemon in-process for the activity log, and as a real process at DEBUG for the log lines.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.app import DATABASE_FILE
from agent.devtools.simulator import AmiSimulator
from agent.mapping.catalog import EVENT_KEYS
from agent.settings import Settings
from agent.store.facade import Store
from agent.store.model import Action, Auth, Body, KeyValue, Parameter
from tests.security.hostile_http import (
    ADMIN_TOKEN,
    AMI_SECRET,
    BASIC_PASSWORD,
    BASIC_USER,
    BEARER,
    HEADER_KEY,
    PARAM,
    QUERY_KEY,
    REQUEST_SECRETS,
    SECRETS,
    hostile,
    leaked,
)
from tests.support.agent_runner import Daemon, running_agent
from tests.support.api import Api, running_api
from tests.support.paths import TRACES
from tests.support.polling import eventually
from tests.support.receiver import Receiver, free_port, receiver
from tests.support.settings import agent_settings

TRACE = TRACES / "01_internal_answered_caller_hangup.ami"
EVENTS_IN_TRACE = 3  # call_incoming, ringing, call_answered
MASK = "********"  # what the admin API shows for a secret (docs/security.md)
USERNAME = "event-agent"


def actions(garbage: str, flood: str, refused: str, echo: str) -> list[Action]:
    """One action per hostile receiver; each carries the secret parameter and one kind of credential."""
    json_body = Body("raw", raw='{"key": "{{CRM_Key}}", "call": "{{call_id}}"}', content_type="application/json")
    return [
        Action("garbage", "GET", f"{garbage}/calls/{{{{call_id}}}}", query=(KeyValue("k", "{{CRM_Key}}"),),
               auth=Auth("api_key", key="apikey", value=QUERY_KEY, place="query")),
        Action("flood", "POST", f"{flood}/x", query=(KeyValue("k", "{{CRM_Key}}"),), auth=Auth("bearer", token=BEARER)),
        Action("refused", "POST", f"{refused}/x", query=(KeyValue("k", "{{CRM_Key}}"),),
               auth=Auth("basic", username=BASIC_USER, password=BASIC_PASSWORD)),
        Action("echo", "POST", f"{echo}/x", query=(KeyValue("k", "{{CRM_Key}}"),), body=json_body,
               auth=Auth("api_key", key="X-Api-Key", value=HEADER_KEY)),
    ]


async def configure(path: Path, made: list[Action]) -> list[int]:
    """The secret parameter, the actions bound to every event, the switch on; the action ids."""
    store = await Store.open(path)
    try:
        await store.create_parameter(Parameter("CRM_Key", PARAM, secret=True))
        ids = [(await store.create_action(action)).id or 0 for action in made]
        for key in EVENT_KEYS:
            await store.update_event(key, active=True, action_ids=ids)
        await store.set_actions_enabled(True)
    finally:
        await store.close()
    return ids


@asynccontextmanager
async def receivers() -> AsyncIterator[tuple[Receiver, Receiver, str, Receiver]]:
    async with hostile("garbage") as garbage, hostile("headers") as flood, hostile("echo") as echo:
        yield garbage, flood, f"http://127.0.0.1:{free_port()}", echo


def daemon_settings(state: Path, ami_port: int) -> Settings:
    """The simulator's AMI user with the planted AMI secret, the planted admin token, retries given up quickly."""
    return agent_settings(state, ami_port, ami={"username": USERNAME, "secret": AMI_SECRET},
                          admin={"token": ADMIN_TOKEN}, live_retry_window=0.3, final_retry_window=0.6)


async def api_get(http: aiohttp.ClientSession, base: str, path: str) -> Any:
    async with http.get(base + path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def api_post(http: aiohttp.ClientSession, base: str, path: str, body: Any = None) -> Any:
    async with http.post(base + path, json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as response:
        return await response.json()


class TestActivityLog:
    async def test_hostile_receivers(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """Given actions carrying a secret parameter, an api key (query and header), a bearer token and basic
        credentials, sent to receivers that answer garbage, too many headers or echo the request, and to a
        refused port, when the daemon delivers a call's events and each action is tried with Save & Test, then
        no activity row, search, Save & Test answer or agent log line holds any secret, and each failure reads
        in plain words."""
        caplog.set_level(logging.DEBUG, logger="agent")
        simulator = AmiSimulator([TRACE], speed=0, username=USERNAME, secret=AMI_SECRET)
        async with receivers() as (garbage, flood, refused, echo):
            made = actions(garbage.url, flood.url, refused, echo.url)
            ids = await configure(tmp_path / DATABASE_FILE, made)
            try:
                async with running_agent(daemon_settings(tmp_path, await simulator.start())) as agent:
                    await eventually(lambda: sum(agent.metrics.deliveries.snapshot().values()) >= EVENTS_IN_TRACE * 4,
                                     what="every delivery finished")
                    base = f"http://127.0.0.1:{agent.api_port}/api/v1"
                    async with aiohttp.ClientSession() as http:
                        tried = [await api_post(http, base, f"/actions/{ident}/test") for ident in ids]
                        rows = (await api_get(http, base, "/activity?per_page=500"))["items"]
                        found = {secret: (await api_get(http, base, f"/activity?search={secret}"))["total"]
                                 for secret in REQUEST_SECRETS}
            finally:
                await simulator.stop()
        assert found == dict.fromkeys(REQUEST_SECRETS, 0)
        assert leaked(json.dumps(tried) + json.dumps(rows)) == []
        assert leaked("\n".join(record.getMessage() for record in caplog.records)) == []
        messages = {row["action"]: row["message"] for row in rows}
        assert messages["garbage"] == "the receiver answered something that is not HTTP (bad status line)"
        assert messages["flood"] == "the receiver answered something that is not HTTP (too many headers received)"
        assert messages["refused"] == f"connection refused by {refused.removeprefix('http://')}"
        assert {row["status"] for row in rows if row["action"] == "echo"} == {500}
        assert all(MASK in row["message"] and "X-Api-Key" in row["message"] for row in rows if row["action"] == "echo")
        assert len(rows) > EVENTS_IN_TRACE * 4  # every delivery was tried, most of them more than once


async def _create(api: Api, **changes: Any) -> dict[str, Any]:
    doc = {"name": "crm", "method": "POST", "url": "http://127.0.0.1:9/hook", **changes}
    status, body = await api.call("POST", "/api/v1/actions", json=doc)
    assert status == 201, body
    return dict(body)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


class TestCredentialsMasked:
    @pytest.mark.parametrize(("auth", "field", "secret"), [
        ({"type": "bearer", "token": BEARER}, "token", BEARER),
        ({"type": "basic", "username": BASIC_USER, "password": BASIC_PASSWORD}, "password", BASIC_PASSWORD),
        ({"type": "api_key", "key": "apikey", "value": QUERY_KEY, "in": "query"}, "value", QUERY_KEY),
    ])
    async def test_create_get_list(self, api: Api, auth: dict[str, str], field: str, secret: str) -> None:
        """Given an action with a credential, when it is created, read and listed, then the credential shows as
        the mask each time and nowhere in clear."""
        created = await _create(api, auth=auth)
        _, one = await api.call("GET", f"/api/v1/actions/{created['id']}")
        _, page = await api.call("GET", "/api/v1/actions")
        assert created["auth"][field] == one["auth"][field] == page["items"][0]["auth"][field] == MASK
        assert leaked(json.dumps([created, one, page]), (secret,)) == []

    async def test_tag_shown_as_written(self, api: Api) -> None:
        """Given a bearer token that is only a {{tag}}, then it shows as written: the secret is the parameter's."""
        created = await _create(api, auth={"type": "bearer", "token": "{{CRM_Token}}"})
        assert created["auth"]["token"] == "{{CRM_Token}}"

    async def test_mask_sent_back_keeps_the_value(self, api: Api) -> None:
        """Given a stored bearer token, when the action is saved back with the mask, then the token is kept; a new
        value replaces it; the mask on a new action or another auth type is a 422 naming the field."""
        created = await _create(api, auth={"type": "bearer", "token": BEARER})
        path = f"/api/v1/actions/{created['id']}"
        status, _ = await api.call("PUT", path, json={**created, "description": "changed"})
        assert status == 200
        assert (await api.store.get_action(created["id"])).auth == Auth("bearer", token=BEARER)
        await api.call("PUT", path, json={**created, "auth": {"type": "bearer", "token": "NEW-TOKEN"}})
        assert (await api.store.get_action(created["id"])).auth.token == "NEW-TOKEN"
        basic = {"type": "basic", "username": "u", "password": MASK}
        status, body = await api.call("PUT", path, json={**created, "auth": basic})
        assert (status, body["details"][0]["field"]) == (422, "auth.password")
        status, body = await api.call("POST", "/api/v1/actions",
                                      json={**created, "name": "other", "auth": {"type": "bearer", "token": MASK}})
        assert (status, body["details"][0]["field"]) == (422, "auth.token")

    async def test_dry_run(self, api: Api) -> None:
        """Given basic auth, an api key in the query and a secret parameter in a header, when dry-run (stored and
        unsaved), then the rendered request shows the mask for each, the basic pair too."""
        await api.call("POST", "/api/v1/parameters", json={"tag": "CRM_Key", "value": PARAM, "secret": True})
        doc = {"name": "crm", "method": "POST", "url": "http://127.0.0.1:9/hook?k={{CRM_Key}}",
               "headers": [{"key": "X-Key", "value": "{{CRM_Key}}"}],
               "auth": {"type": "basic", "username": BASIC_USER, "password": BASIC_PASSWORD}}
        created = await _create(api, **doc)
        _, stored = await api.call("POST", f"/api/v1/actions/{created['id']}/dry-run")
        _, unsaved = await api.call("POST", "/api/v1/actions/dry-run", json={"action": doc})
        for shown in (stored, unsaved):
            assert shown["url"] == f"http://127.0.0.1:9/hook?k={MASK}"
            assert {"key": "Authorization", "value": f"Basic {MASK}"} in shown["headers"]
            assert {"key": "X-Key", "value": MASK} in shown["headers"]
        api_key = {"type": "api_key", "key": "apikey", "value": QUERY_KEY, "in": "query"}
        _, query = await api.call("POST", "/api/v1/actions/dry-run", json={"action": {**doc, "auth": api_key}})
        assert query["url"] == f"http://127.0.0.1:9/hook?k={MASK}&apikey={MASK}"
        assert leaked(json.dumps([stored, unsaved, query])) == []

    async def test_save_and_test_answer(self, api: Api) -> None:
        """Given a receiver that echoes the request into its answer and one that answers garbage, when Save & Test
        runs, then the answer and the activity row hold the mask, never a secret."""
        await api.call("POST", "/api/v1/parameters", json={"tag": "CRM_Key", "value": PARAM, "secret": True})
        async with hostile("echo") as echo, hostile("garbage") as garbage:
            answers = []
            for url in (echo.url, garbage.url):
                created = await _create(api, name=url, url=url + "/x?k={{CRM_Key}}",
                                        auth={"type": "bearer", "token": BEARER})
                answers.append((await api.call("POST", f"/api/v1/actions/{created['id']}/test"))[1])
        _, rows = await api.call("GET", "/api/v1/activity")
        assert answers[0]["status"] == 500
        assert MASK in answers[0]["message"]
        assert leaked(json.dumps([answers, rows])) == []


@pytest.mark.heavy  # the agent as a process
class TestDebugLog:
    async def test_no_secret_at_debug(self, tmp_path: Path) -> None:
        """Given the daemon as a process at DEBUG, with the AMI secret, the admin token, a secret parameter and
        every kind of credential in use, when it delivers a call, creates a secret parameter through the API and
        runs Save & Test, then none of those secrets is in any line it wrote."""
        state = tmp_path / "state"
        state.mkdir()
        simulator = AmiSimulator([TRACE], speed=0, loop=True, username=USERNAME, secret=AMI_SECRET)
        ami_port = await simulator.start()
        daemon = Daemon(state, ami_port, LOG_LEVEL="DEBUG", ADMIN__TOKEN=ADMIN_TOKEN, AMI__USERNAME=USERNAME,
                        AMI__SECRET=AMI_SECRET)
        async with receiver() as rx:
            ids = await configure(state / DATABASE_FILE, actions(rx.url, rx.url, rx.url, rx.url))
            try:
                await daemon.start()
                base = f"{daemon.base_url}api/v1"
                async with aiohttp.ClientSession() as http:
                    await rx.wait_for(len(ids))
                    await api_post(http, base, "/parameters", {"tag": "Other", "value": PARAM + "-2", "secret": True})
                    tried = await api_post(http, base, f"/actions/{ids[0]}/test")
            finally:
                await daemon.stop()
                await simulator.stop()
        text = daemon.log_text()
        assert tried["status"] == 200
        assert "admin API on http://127.0.0.1" in text  # the log was written
        assert leaked(text, (*SECRETS, PARAM + "-2")) == []
        assert leaked(json.dumps(tried)) == []
